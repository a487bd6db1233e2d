"""What every radio snapshot must be, whichever path read it: a record the schema accepts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pycddl

from agent.core import record
from agent.core.radio import link_context, record_values

SCHEMA = pycddl.Schema((Path(__file__).resolve().parents[2] / "agent/core/record.cddl").read_text())
VERSIONS = {"agent": "a", "board": "b", "firmware": "f"}


def assert_recordable(snapshot: dict[str, Any]) -> None:
    """The snapshot encodes as a radio record valid against agent/core/record.cddl."""
    values, context = record_values(snapshot), {"radio": link_context(snapshot)}
    payload = record.encode("p1", 1, 1, 0, True, "radio", values, VERSIONS, context)
    SCHEMA.validate_cbor(payload)
