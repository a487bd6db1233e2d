"""Alarms as a state, kept in step with the ONT the way voltha-openonu-adapter-go does
(internal/pkg/almgr/alarm_manager.go): Get all alarms gives the standing alarms of every ME and
restarts the alarm sequence; each alarm notification then carries the next sequence number
(1..255, wrapping from 255 to 1, 0 = not counted) and the whole alarm bitmap of its ME. A number
other than the next one means a notification was lost: the state is no longer certain until the
next Get all alarms (a resync).
"""

from __future__ import annotations

from agent.ont.entities import ANI_G, ANI_G_ALARMS
from agent.ont.messages import Alarm


class AlarmState:
    def __init__(self) -> None:
        self.standing: dict[tuple[int, int], list[int]] = {}
        self.last_sequence = 0
        self.gap = False  # a notification was lost since the last sync
        self.gaps = 0

    def sync(self, standing: dict[tuple[int, int], list[int]]) -> None:
        """The result of Get all alarms: the whole state, and the sequence starts over."""
        self.standing = {key: sorted(numbers) for key, numbers in standing.items() if numbers}
        self.last_sequence = 0
        self.gap = False

    def notify(self, alarm: Alarm) -> None:
        if alarm.sequence:
            expected = 1 if self.last_sequence == 255 else self.last_sequence + 1
            if alarm.sequence != expected:
                self.gap = True
                self.gaps += 1
            self.last_sequence = alarm.sequence
        key = (alarm.me_class, alarm.me_instance)
        if alarm.alarms:
            self.standing[key] = sorted(alarm.alarms)
        else:
            self.standing.pop(key, None)  # every alarm of that ME cleared

    def ani_alarms(self) -> list[dict[str, object]]:
        """Standing alarms of every ANI-G instance, by name."""
        return [
            {"instance": inst, "alarms": [ANI_G_ALARMS.get(n, f"alarm_{n}") for n in numbers]}
            for (cls, inst), numbers in sorted(self.standing.items())
            if cls == ANI_G.class_id
        ]
