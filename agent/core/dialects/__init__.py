"""AT dialects: the 27.007 generic commands plus, per vendor, the serving-cell commands.

`plan(name)` is what a poll sends: the generic steps first, then the vendor's, so when a vendor
command is answered with ERROR the generic readings stand. `detect(manufacturer, model)` picks
the dialect from the identification answers (+CGMI / +CGMM); a board profile may name one instead.
"""

from agent.core.dialects import generic
from agent.core.errors import InvalidInput

# Each vendor's module is imported by plan() when a modem speaks it: an agent polls one modem,
# so it holds one vendor's parsers, not all of them.
NAMES = ("generic", "quectel", "simcom", "sierra", "huawei", "fibocom", "telit")

IDENTIFY = generic.IDENTIFY

# substring of +CGMI (upper case) -> dialect
_BY_MANUFACTURER = (
    ("QUECTEL", "quectel"),
    ("SIMCOM", "simcom"),
    ("SIERRA", "sierra"),
    ("HUAWEI", "huawei"),
    ("FIBOCOM", "fibocom"),
    ("TELIT", "telit"),
)
# prefix of +CGMM (upper case) -> dialect, for modules whose +CGMI is a chipset vendor
_BY_MODEL = (
    ("RM5", "quectel"),
    ("RG5", "quectel"),
    ("EC2", "quectel"),
    ("EG0", "quectel"),
    ("EG1", "quectel"),
    ("EM0", "quectel"),
    ("SIM7", "simcom"),
    ("SIM8", "simcom"),
    ("EM74", "sierra"),
    ("MC74", "sierra"),
    ("EM75", "sierra"),
    ("EM91", "sierra"),
    ("ME90", "huawei"),
    ("MH50", "huawei"),
    ("FM1", "fibocom"),
    ("FM3", "fibocom"),
    ("L8", "fibocom"),
    ("LE910", "telit"),
    ("LN9", "telit"),
    ("FN9", "telit"),
)


class DialectError(InvalidInput):
    pass


def detect(manufacturer, model):
    # type: (str | None, str | None) -> str
    maker = (manufacturer or "").upper()
    for needle, name in _BY_MANUFACTURER:
        if needle in maker:
            return name
    product = (model or "").upper()
    for prefix, name in _BY_MODEL:
        if product.startswith(prefix):
            return name
    return "generic"


def plan(name):
    # type: (str) -> tuple
    if name not in NAMES:
        raise DialectError("unknown dialect %r; known: %s" % (name, ", ".join(NAMES)))
    if name == "generic":
        return generic.STEPS
    # A non-empty fromlist makes __import__ return the submodule (CPython and MicroPython).
    vendor = __import__("agent.core.dialects." + name, None, None, ("STEPS",))
    return generic.STEPS + vendor.STEPS
