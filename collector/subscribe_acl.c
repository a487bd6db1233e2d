/*
 * Qiyas subscribe ACL: a Mosquitto 2.0 plugin that authorises SUBSCRIBE, which the broker's
 * acl_file does not (security_default.c grants every subscription and checks only deliveries).
 *
 * Why it matters: a delivery check cannot protect a shared subscription. A probe that joins
 * $share/collectors/... takes its turn of every record and status message; the read ACL then
 * drops that copy, so the collectors never see it (docs/security.md, "Broker").
 *
 * Policy, for SUBSCRIBE only (every other check is deferred to acl_file):
 *   - a collector identity (plugin_opt_collectors, comma-separated CNs): deferred, acl_file rules;
 *   - anyone else may subscribe to exactly qiyas/v1/probes/<own username>/acks and .../commands,
 *     nothing else: no wildcards, no $share group, no other probe.
 * Mosquitto registers plugin callbacks before its acl_file check, so a denial here is final.
 *
 * Built by `qiyas collector broker-config` (collector/broker_plugin.py) next to the config:
 * cc -shared -fPIC -O2 (Debian: apt install mosquitto-dev libmosquitto-dev).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#define PREFIX "qiyas/v1/probes/"
#define MAX_COLLECTORS_CHARS 4096

static mosquitto_plugin_id_t *plugin_id;
static char collectors[MAX_COLLECTORS_CHARS + 2]; /* ",a,b," so that ",name," is a whole match */

static bool is_collector(const char *username)
{
	char needle[512];
	if(strlen(username) + 3 > sizeof(needle)) return false;
	snprintf(needle, sizeof(needle), ",%s,", username);
	return strstr(collectors, needle) != NULL;
}

static bool own_topic(const char *username, const char *topic)
{
	size_t prefix = strlen(PREFIX), user = strlen(username);
	if(strncmp(topic, PREFIX, prefix) != 0) return false;
	if(strncmp(topic + prefix, username, user) != 0) return false;
	const char *rest = topic + prefix + user;
	return strcmp(rest, "/acks") == 0 || strcmp(rest, "/commands") == 0;
}

static int on_acl_check(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_acl_check *ed = event_data;
	const char *username;
	(void)event;
	(void)userdata;

	if(ed->access != MOSQ_ACL_SUBSCRIBE) return MOSQ_ERR_PLUGIN_DEFER;
	username = mosquitto_client_username(ed->client);
	if(username == NULL || username[0] == '\0' || strpbrk(username, "+#/")) {
		return MOSQ_ERR_ACL_DENIED;
	}
	if(is_collector(username)) return MOSQ_ERR_PLUGIN_DEFER;
	if(own_topic(username, ed->topic)) return MOSQ_ERR_PLUGIN_DEFER;
	mosquitto_log_printf(MOSQ_LOG_NOTICE, "qiyas: refused SUBSCRIBE to %s by %s", ed->topic, username);
	return MOSQ_ERR_ACL_DENIED;
}

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
	(void)supported_version_count;
	(void)supported_versions;
	return 5;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata,
		struct mosquitto_opt *options, int option_count)
{
	(void)userdata;
	plugin_id = identifier;
	strcpy(collectors, ",");
	for(int i = 0; i < option_count; i++) {
		if(strcmp(options[i].key, "collectors") != 0) continue;
		if(strlen(options[i].value) > MAX_COLLECTORS_CHARS) return MOSQ_ERR_INVAL;
		strcat(collectors, options[i].value);
		strcat(collectors, ",");
	}
	if(strcmp(collectors, ",") == 0) {
		mosquitto_log_printf(MOSQ_LOG_ERR, "qiyas: plugin_opt_collectors is required");
		return MOSQ_ERR_INVAL;
	}
	return mosquitto_callback_register(plugin_id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL, NULL);
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *options, int option_count)
{
	(void)userdata;
	(void)options;
	(void)option_count;
	return mosquitto_callback_unregister(plugin_id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL);
}
