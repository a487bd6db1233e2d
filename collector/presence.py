"""Probe presence: the retained birth/death messages agents publish on qiyas/v1/probes/{p}/status.

Unlike records these are not signed: the broker's ACL (the client certificate names the probe,
which may write only its own status topic) is what vouches for them. They say whether a probe is
connected now, and why not when it is not; a record's arrival says when it last measured.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from agent.core.errors import InvalidInput

MAX_STATUS = 2048
STATES = ("online", "offline")


class StatusError(InvalidInput):
    """A status message we do not accept; the text says why."""


@dataclass(frozen=True)
class Presence:
    probe: str
    state: str
    reason: str | None
    agent: str | None
    at_ms: int


def _text(doc: dict[str, object], name: str, limit: int) -> str | None:
    value = doc.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise StatusError(f"status {name} must be a text of at most {limit} characters")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        # PostgreSQL text cannot hold a NUL; one line of printable text is all a reason needs.
        raise StatusError(f"status {name} holds a NUL or another control character")
    return value


def parse_status(probe: str, payload: bytes, received_at_ms: int) -> Presence:
    """The presence a status payload (JSON object with `state`) announces for probe."""
    if len(payload) > MAX_STATUS:
        raise StatusError(f"status message of {len(payload)} bytes exceeds {MAX_STATUS}")
    try:
        doc = json.loads(payload)
    except (ValueError, RecursionError) as exc:  # bad UTF-8 is a ValueError; [[[… recursion
        raise StatusError(f"status message is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise StatusError("status message must be a JSON object")
    state = doc.get("state")
    if state not in STATES:
        raise StatusError(f"status state {state!r} is not online or offline")
    named = doc.get("probe", probe)
    if named != probe:
        raise StatusError(f"status names probe {named!r} but arrived on the topic of {probe}")
    return Presence(
        probe=probe,
        state=str(state),
        reason=_text(doc, "reason", 256),
        agent=_text(doc, "agent", 64),
        at_ms=received_at_ms,
    )
