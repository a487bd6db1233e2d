"""firmware.app's measure phase against a scripted modem: what the board records when the modem
answers, answers with values the schema refuses, or stops answering. Runs under CPython and
MicroPython.
"""

import json

from board_double import ANSWERS, make_app, records, run
from scratch import Scratch


def test_a_poll_makes_a_signed_radio_record_on_network_time():
    with Scratch() as root:
        app, _ = make_app(root)
        run(app.measure_radio())
        [radio] = records(app)
        assert radio["kind"] == "radio" and radio["synced"] is True
        assert radio["time_ms"] >= 1795935000000  # 2026-11-29 06:50 UTC, from +CCLK
        assert radio["values"]["operator"]["name"] == "Telekom.de"
        assert radio["context"]["radio"]["mcc"] == "262"


def test_values_the_schema_refuses_become_a_status_record():
    # The dialect parsers bound what a modem can say; should something still break the schema,
    # the board records that it did instead of failing (and resetting) in a loop.
    with Scratch() as root:
        app, _ = make_app(root)
        app.emit("radio", {"imsi": "001010123456789"})
        [status] = records(app)
        assert status["values"]["event"] == "record-refused"
        assert "subscriber identity" in status["values"]["detail"]
        assert "001010123456789" not in json.dumps(status)


def test_a_silent_modem_is_reported_once_then_its_return():
    with Scratch() as root:
        app, modem = make_app(root)
        modem.answers = None
        run(app.measure_radio())
        run(app.measure_radio())  # still down: no second report
        [down] = records(app)
        assert down["values"]["event"] == "modem-down"
        assert "the board has no power key" in down["values"]["detail"]
        assert app.context == {}  # nothing invented about the link
        modem.answers = dict(ANSWERS)
        run(app.measure_radio())
        events = [r["values"].get("event") for r in records(app)]
        assert events.count("modem-recovered") == 1
        assert [r["kind"] for r in records(app)][-1] == "radio"
        assert json.dumps(app.context)
