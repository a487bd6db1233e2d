"""The MQTT topic contract (DESIGN.md, "MQTT")."""

PREFIX = "qiyas/v1/probes/"
SHARED_GROUP = "$share/collectors/"


def records(probe):
    # type: (str) -> str
    return PREFIX + probe + "/records"


def status(probe):
    # type: (str) -> str
    return PREFIX + probe + "/status"


def acks(probe):
    # type: (str) -> str
    return PREFIX + probe + "/acks"


def commands(probe):
    # type: (str) -> str
    return PREFIX + probe + "/commands"


def shared_records():
    # type: () -> str
    """What collectors subscribe to, as one shared group spread over all collectors."""
    return SHARED_GROUP + PREFIX + "+/records"


def probe_of(topic):
    # type: (str) -> str | None
    """The probe id in a qiyas/v1/probes/{probe}/... topic, or None."""
    if not topic.startswith(PREFIX):
        return None
    rest = topic[len(PREFIX) :]
    slash = rest.find("/")
    return rest[:slash] if slash > 0 else None
