"""Two modem states in ModemManager's terms, for the D-Bus service of tests/modem/mm_service.py:
the same states as the emulator's quectel scenarios (hil/modem/scenarios/), so the AT path and the
modemmanager source can be compared on them."""

from __future__ import annotations

from typing import Any

from dbus_fast import Variant
from mm_service import MODEM, MODEM_3GPP, SIGNAL

LTE, NR = 1 << 14, 1 << 15  # MMModemAccessTechnology
AT, NET, QMI = 3, 2, 6  # MMModemPortType
# ports as ModemManager lists them for an RM520N-GL on USB (the AT port on interface 2 = ttyUSB2:
# ModemManager's src/plugins/quectel/77-mm-quectel-port-types.rules, "Quectel RM520N")
PORTS = [["ttyUSB2", AT], ["ttyUSB3", AT], ["cdc-wdm0", QMI], ["wwan0", NET]]

# The same two modem states as the emulator's quectel scenarios, in ModemManager's terms: the
# values ModemManager holds once it has read those answers. Each value is the one the AT answer
# of hil/modem/scenarios/<scenario>.toml carries (named beside it).
IDENTITY = {
    "Manufacturer": "Quectel",  # AT+CGMI
    "Model": "RM520N-GL",  # AT+CGMM
    "Revision": "RM520NGLAAR03A03M4G",  # AT+CGMR
    "EquipmentIdentifier": "869710030002905",  # AT+CGSN
    "State": 8,  # MM_MODEM_STATE_REGISTERED
    "UnlockRequired": 1,  # MM_MODEM_LOCK_NONE: +CPIN: READY
    "Ports": PORTS,
    "PrimaryPort": "cdc-wdm0",
    "Plugin": "quectel",
}


def levels(**values: float) -> dict[str, Variant]:
    """A Signal dictionary: every level a double ("d"), as the Signal XML documents its keys."""
    return {key: Variant("d", value) for key, value in values.items()}


REGISTERED = {"RegistrationState": 1, "OperatorCode": "26201", "OperatorName": "Telekom.de"}
STATES: dict[str, dict[str, Any]] = {
    "nsa": {
        "state": {
            # +CEREG: 2,1,... AcT 13 (EN-DC) -> LTE | 5GNR (src/mm-modem-helpers.c)
            MODEM: {**IDENTITY, "AccessTechnologies": LTE | NR},
            MODEM_3GPP: REGISTERED,  # +COPS: 0,2,"26201",13 / 0,0,"Telekom.de",13
            SIGNAL: {},
        },
        "refresh": {
            # +QENG "LTE" line: RSRP -95, RSRQ -10, RSSI -65; its SINR 14 is not read on the AT
            # path (the RM5xx LTE SINR coding is not settled, docs/modems.md), so no SNR here
            "Lte": levels(rsrp=-95.0, rsrq=-10.0, rssi=-65.0),
            # +QENG "NR5G-NSA" line: RSRP -92, SINR 16, RSRQ -9
            "Nr5g": levels(rsrp=-92.0, rsrq=-9.0, snr=16.0),
        },
        "cells": [
            # +QENG LTE: cellID 1A2D003, PCID 123 (0x7B), EARFCN 1300, TAC 2B5C
            {
                "cell-type": Variant("u", 5),
                "serving": Variant("b", True),
                "operator-id": Variant("s", "26201"),
                "tac": Variant("s", "2B5C"),
                "ci": Variant("s", "1A2D003"),
                "physical-ci": Variant("s", "7B"),
                "earfcn": Variant("u", 1300),
                "rsrp": Variant("d", -95.0),
                "rsrq": Variant("d", -10.0),
            },
            # +QENG NR5G-NSA: PCID 345 (0x159), ARFCN 627264
            {
                "cell-type": Variant("u", 6),
                "serving": Variant("b", True),
                "physical-ci": Variant("s", "159"),
                "nrarfcn": Variant("u", 627264),
            },
            # a neighbour: never read as the serving cell
            {
                "cell-type": Variant("u", 5),
                "serving": Variant("b", False),
                "physical-ci": Variant("s", "12D"),
                "earfcn": Variant("u", 6300),
            },
        ],
    },
    "healthy": {
        "state": {
            # +C5GREG: 2,1,"2F5E6","A07F03001",11 -> 5GNR alone (SA)
            MODEM: {**IDENTITY, "AccessTechnologies": NR},
            MODEM_3GPP: REGISTERED,  # +COPS: 0,2,"26201",11
            SIGNAL: {},
        },
        # +QENG NR5G-SA: RSRP -87, RSRQ -8, SINR 18
        "refresh": {"Nr5g": levels(rsrp=-87.0, rsrq=-8.0, snr=18.0)},
        "cells": [
            # +QENG NR5G-SA: cellID A07F03001, PCID 66 (0x42), TAC 2F5E6, ARFCN 627264
            {
                "cell-type": Variant("u", 6),
                "serving": Variant("b", True),
                "operator-id": Variant("s", "26201"),
                "tac": Variant("s", "2F5E6"),
                "ci": Variant("s", "A07F03001"),
                "physical-ci": Variant("s", "42"),
                "nrarfcn": Variant("u", 627264),
                "rsrp": Variant("d", -87.0),
                "rsrq": Variant("d", -8.0),
                "sinr": Variant("d", 18.0),
            },
        ],
    },
    "weak-signal": {
        "state": {
            MODEM: {**IDENTITY, "AccessTechnologies": NR},  # as healthy: +C5GREG AcT 11
            MODEM_3GPP: REGISTERED,
            SIGNAL: {},
        },
        # +QENG NR5G-SA at the cell edge: RSRP -125, RSRQ -17, SINR -4
        "refresh": {"Nr5g": levels(rsrp=-125.0, rsrq=-17.0, snr=-4.0)},
        "cells": [
            {
                "cell-type": Variant("u", 6),
                "serving": Variant("b", True),
                "tac": Variant("s", "2F5E6"),
                "ci": Variant("s", "A07F03001"),
                "physical-ci": Variant("s", "42"),
                "nrarfcn": Variant("u", 627264),
                "rsrp": Variant("d", -125.0),
                "rsrq": Variant("d", -17.0),
                "sinr": Variant("d", -4.0),
            },
        ],
    },
    "searching": {
        "state": {
            # +CREG/+CEREG/+C5GREG: 0,2 (searching); +COPS: 0 (no operator); no technology
            MODEM: {**IDENTITY, "State": 7, "AccessTechnologies": 0},  # MM_MODEM_STATE_SEARCHING
            MODEM_3GPP: {"RegistrationState": 2},  # MM_MODEM_3GPP_REGISTRATION_STATE_SEARCHING
            SIGNAL: {},
        },
        # +CESQ all "not known": a refresh finds no level, so nothing changes
        "refresh": {},
        "cells": [],
    },
}
