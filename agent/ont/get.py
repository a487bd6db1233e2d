"""The OMCI Get procedure, which every other procedure builds on (procedures.py, pm.py)."""

from __future__ import annotations

from typing import Any

from agent.ont import messages
from agent.ont.entities import Entity, decode_attributes, split_mask
from agent.ont.frames import MT, Result
from agent.ont.session import OmciError, Procedure, Request, describe_result

# What a MIB upload found: (class, instance) -> the attributes it uploaded.
Mib = dict[tuple[int, int], dict[str, Any]]

MISSING = (Result.UNKNOWN_ME, Result.UNKNOWN_INSTANCE)


def get(
    entity: Entity,
    instance: int,
    names: list[str],
    *,
    mt: MT = MT.GET,
    extended: bool = False,
    missing_ok: bool = False,
) -> Procedure:
    """Attribute values by name; split into several Gets when they would not fit one response.
    With `missing_ok`, an ONT without that instance gives {} instead of an error."""
    mask = entity.mask_of(*names)
    parts = [mask] if extended else split_mask(entity.class_id, mask, messages.GET_VALUES_BASELINE)
    values: dict[str, Any] = {}
    for part in parts:
        reply = yield Request(mt, entity.class_id, instance, messages.get(part), extended=extended)
        r = messages.parse_get_response(reply)
        if missing_ok and r.result in MISSING:
            return {}
        if r.result not in (Result.SUCCESS, Result.ATTRIBUTE_FAILURE):
            raise OmciError(
                f"{MT(mt).name} {entity.name} {instance:#06x}: {describe_result(r.result)}"
            )
        # With result 9 the ONT lists unsupported/failed attributes; the rest are valid.
        valid = r.mask & part & ~(r.optional_mask | r.execution_mask)
        values.update(decode_attributes(entity.class_id, valid, r.values))
    return values
