"""The replay window: a verified record whose seq lies far from what its probe sent before.

A seq seen before is a duplicate, handled by the store's uniqueness. This catches the other case:
a genuine signature on a seq far ahead of or behind the highest stored for that probe and epoch —
a replayed old record, or an agent whose persisted counter jumped. The record is kept (it is
signed and may be real) with a flag that says so, for the regulator to look at.
"""

from __future__ import annotations

from collections.abc import Callable

# A probe reporting every minute sends ~100 000 records in ten weeks.
WINDOW = 100_000


class SeqWindow:
    """Highest seq per (probe, epoch), read through to the store once, then kept up to date.

    Shared by several collectors the cache may lag another's inserts; the window is wide enough
    for that not to matter.
    """

    def __init__(
        self, highest_stored: Callable[[str, int], int | None], window: int = WINDOW
    ) -> None:
        self._highest_stored = highest_stored
        self._window = window
        self._highest: dict[tuple[str, int], int | None] = {}

    def _highest_of(self, probe: str, epoch: int) -> int | None:
        key = (probe, epoch)
        if key not in self._highest:
            self._highest[key] = self._highest_stored(probe, epoch)
        return self._highest[key]

    def flag(self, probe: str, epoch: int, seq: int) -> str | None:
        """Why seq is outside the window (None if inside, or nothing is known yet).

        A seq inside the window becomes the new reference; a flagged one does not, so one wild
        seq cannot shift the window away from the probe's real sequence.
        """
        highest = self._highest_of(probe, epoch)
        problem = None
        if highest is not None and abs(seq - highest) > self._window:
            where = "beyond" if seq > highest else "behind"
            problem = (
                f"seq {seq} is {abs(seq - highest)} {where} the highest seen ({highest}) "
                f"for epoch {epoch}, outside the replay window of {self._window}"
            )
        if problem is None and (highest is None or seq > highest):
            self._highest[(probe, epoch)] = seq
        return problem
