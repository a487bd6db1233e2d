"""The schedule names the agent knows and where each one's source is built.

A leaf: it imports nothing, so the config parser (which checks `[schedule]` names against it),
the sources and the supervisor can all read it without importing one another.
"""

# schedule name → "module:factory". Modules are imported only when their schedule is on.
FACTORIES: dict[str, str] = {
    "health": "agent.health:make",
    "radio": "agent.modem.source:make",
    "optical": "agent.ont.source:make",
    "latency": "agent.probe.source:make_latency",
    "capacity": "agent.probe.source:make_capacity",
    "dns": "agent.probe.source:make_dns",
    "web": "agent.probe.qoe_source:make_web",
    "streaming": "agent.probe.qoe_source:make_streaming",
}

# Access-link sources: they run first in a cycle, so the records after them carry a fresh
# context, and their own records carry none.
LINK_SOURCES = ("radio", "optical")
# Active tests: they put traffic on the access line, so they take turns, one at a time, at the
# fleet plan's due times (agent/activerun.py, docs/methodology.md §5).
ACTIVE_SOURCES = ("latency", "capacity", "dns", "web", "streaming")
# Sources that measure towards the `[probe] servers` (what a `servers` command changes).
SERVER_SOURCES = ("latency", "capacity", "web", "streaming")
