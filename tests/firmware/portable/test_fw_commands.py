"""firmware.commands: signed commands checked as the Linux agent checks them, acted on by the
board, each outcome a status record; replays refused across a reset. CPython and MicroPython."""

from board_double import make_app, records
from scratch import Scratch

from agent.core import command
from agent.core.ed25519 import SigningKey
from agent.core.keyid import kid_for

CONTROLLER = SigningKey(bytes(range(1, 33)))
LATER = 2**50  # expiry far ahead of the board's unsynchronised clock


def _command(counter, action, args, key=CONTROLLER):
    kid = kid_for(CONTROLLER.public_key)
    return command.sign("fw-test", counter, LATER, action, args, kid, key.sign)


def _app(root):
    return make_app(root, controller_key=CONTROLLER.public_key.hex())


def _statuses(app):
    return [r["values"] for r in records(app) if r["kind"] == "status"]


def test_schedule_command_applies_and_is_not_replayable_after_a_reset():
    with Scratch() as root:
        app, _ = _app(root)
        raw = _command(7, command.SCHEDULE, {"intervals": {"radio": 60}})
        app.on_message("qiyas/v1/probes/fw-test/commands", raw)
        assert app.settings.schedule["radio"] == 60
        [status] = _statuses(app)
        assert (status["action"], status["counter"], status["outcome"]) == ("schedule", 7, "done")
        again, _ = _app(root)  # the board resets; the counter was kept on flash
        again.on_message("qiyas/v1/probes/fw-test/commands", raw)
        refused = _statuses(again)[-1]
        assert refused["outcome"] == "refused" and "replay" in refused["detail"]


def test_measure_now_ends_the_delivery_phase_with_the_source_due():
    with Scratch() as root:
        app, _ = _app(root)
        app.on_message("qiyas/v1/probes/fw-test/commands",
                       _command(1, command.MEASURE_NOW, {"sources": ["radio"]}))  # fmt: skip
        assert app._due["radio"] == 0 and app._measure_soon
        assert _statuses(app)[0]["outcome"] == "done"


def test_what_the_board_cannot_do_fails_and_says_why():
    with Scratch() as root:
        app, _ = _app(root)
        app.on_message("qiyas/v1/probes/fw-test/commands",
                       _command(1, command.SCHEDULE, {"intervals": {"latency": 60}}))  # fmt: skip
        [status] = _statuses(app)
        assert status["outcome"] == "failed" and "latency" in status["detail"]
        assert "latency" not in app.settings.schedule


def test_forged_commands_are_refused_and_reported_at_most_once_a_minute():
    with Scratch() as root:
        app, modem = _app(root)
        forged = _command(1, command.REBIRTH, {}, key=SigningKey(bytes(32)))
        for _ in range(3):
            app.on_message("qiyas/v1/probes/fw-test/commands", forged)
        [report] = _statuses(app)
        assert report["outcome"] == "refused" and report["detail"] == "bad signature"
        modem.clock[0] += 61000
        app.on_message("qiyas/v1/probes/fw-test/commands", b"\xa0")
        assert _statuses(app)[-1]["refused"] == 3  # the two held back, and this one
        assert app.settings.schedule == {"radio": 300, "health": 3600}
