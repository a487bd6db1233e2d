"""firmware.settings: the device's settings file, checked again on the device."""

import json

from firmware import settings

GOOD = {
    "probe_id": "esp32-7",
    "board": "lilygo-t-sim7600",
    "broker": {"host": "collector.example", "port": 8883, "tls": True},
    "schedule": {"radio": 300},
    "modem": {"uart": 1, "tx_pin": 27, "rx_pin": 26, "baud": 115200, "dialect": "simcom"},
}


def _parse(changes):
    data = json.loads(json.dumps(GOOD))
    data.update(changes)
    return settings.parse(json.dumps(data).encode())


def _fails(changes, text):
    try:
        _parse(changes)
    except settings.SettingsError as exc:
        assert text in str(exc), str(exc)
        return
    raise AssertionError(f"accepted {changes!r}")


def test_defaults_and_values():
    s = _parse({})
    assert (s.probe_id, s.broker_host, s.broker_port, s.broker_tls) == (
        "esp32-7",
        "collector.example",
        8883,
        True,
    )
    assert s.schedule == {"radio": 300, "health": 3600}
    assert (s.state_dir, s.key_file, s.outbox_max_records) == ("/qiyas", "/probe.key", 200)


def test_errors_name_the_key():
    _fails({"probe_id": "a/b"}, "probe_id")
    _fails({"broker": {"port": 1883}}, "broker.host is missing")
    _fails({"broker": {"host": "h", "port": 0}}, "broker.port must be in 1..65535")
    _fails({"broker": {"host": "h", "tls": 1}}, "broker.tls has the wrong type")
    _fails({"schedule": {"radio": True}}, "schedule.radio has the wrong type")
    _fails({"schedule": {"speed": 5}}, "schedule.speed is not one of")
    _fails({"modem": {"dialect": "nokia"}}, "modem.dialect must be auto or one of")
    _fails({"outbox_max_records": 5}, "outbox_max_records must be in 10..400")
    _fails({"broker": []}, "broker must be an object")


def test_bad_files_are_refused():
    for raw, text in ((b"{", "not valid JSON"), (b"[]", "JSON object"), (b" " * 9000, "larger")):
        try:
            settings.parse(raw)
        except settings.SettingsError as exc:
            assert text in str(exc)
        else:
            raise AssertionError(f"accepted {raw[:10]!r}")
