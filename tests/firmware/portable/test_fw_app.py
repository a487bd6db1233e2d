"""firmware.app's measure phase against a scripted modem: what the board records when the modem
answers, answers absurdly, or stops answering. Runs under CPython and MicroPython.

The modem here is the far side of the UART, answering each command from a table, and time is
a counter the port advances when the firmware waits: no sleeps, no threads.
"""

import json

from scratch import Scratch

from agent.core import cose, record
from agent.core.ed25519 import SigningKey
from firmware.app import App
from firmware.settings import Settings

ANSWERS = {
    "AT": "OK",
    "AT+CGMI": "SIMCOM INCORPORATED\r\n\r\nOK",
    "AT+CGMM": "SIMCOM_SIM7600E-H\r\n\r\nOK",
    "AT+CGMR": "+CGMR: LE20B04SIM7600M22\r\n\r\nOK",
    "AT+CPIN?": "+CPIN: READY\r\n\r\nOK",
    "AT+COPS=3,2;+COPS?;+COPS=3,0;+COPS?": '+COPS: 0,2,"26201",7\r\n\r\n'
    '+COPS: 0,0,"Telekom.de",7\r\n\r\nOK',
    "AT+CREG?": "+CREG: 0,1\r\n\r\nOK",
    "AT+CEREG?": "+CEREG: 0,1\r\n\r\nOK",
    "AT+CSQ": "+CSQ: 23,99\r\n\r\nOK",
    "AT+CCLK?": '+CCLK: "26/11/29,10:50:00+16"\r\n\r\nOK',
}


class ScriptedModem:
    """The modem's side of the UART; `answers` may change between polls; None: silent."""

    def __init__(self, clock):
        self.clock = clock
        self.answers = dict(ANSWERS)
        self.pending = b""
        self.line = b""

    def write(self, data):
        self.line += data
        while b"\r" in self.line:
            command, _, self.line = self.line.partition(b"\r")
            if self.answers is not None:
                answer = self.answers.get(command.decode().strip(), "ERROR")
                self.pending += b"\r\n" + answer.encode() + b"\r\n"

    async def read(self, timeout_s):
        if not self.pending:
            self.clock[0] += int(timeout_s * 1000) + 1  # the wait, as time passing
            return b""
        out, self.pending = self.pending, b""
        return out


class Watchdog:
    """Stand-in: no watchdog peripheral here."""

    def feed(self):
        pass


class Platform:
    def __init__(self):
        self.clock = [0]
        self.modem = ScriptedModem(self.clock)

    def monotonic_ms(self):
        return self.clock[0]

    def rtc_ms(self):
        return 0

    def open_modem(self, modem):
        return self.modem

    def power_key(self, modem):
        return None

    def watchdog(self, timeout_s):
        return Watchdog()

    def mem_free(self):
        return None

    def log(self, text):
        pass


def _run(coro):
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    raise AssertionError("the measure phase waited on the event loop")


def _app(root):
    settings = Settings(
        {
            "probe_id": "fw-test",
            "board": "lilygo-t-sim7600",
            "state_dir": root,
            "broker": {"host": "127.0.0.1"},
            "modem": {"dialect": "generic", "boot_wait_s": 1},
        }
    )
    platform = Platform()
    return App(settings, platform, SigningKey(bytes(32)), "test"), platform.modem


def _records(app):
    out = []
    for epoch, seq in app.outbox.pending():
        out.append(record.decode(cose.parse_sign1(app.outbox.read(epoch, seq)).payload))
    return out


def test_a_poll_makes_a_signed_radio_record_on_network_time():
    with Scratch() as root:
        app, _ = _app(root)
        _run(app.measure_radio())
        [radio] = _records(app)
        assert radio["kind"] == "radio" and radio["synced"] is True
        assert radio["time_ms"] >= 1795935000000  # 2026-11-29 06:50 UTC, from +CCLK
        assert radio["values"]["operator"]["name"] == "Telekom.de"
        assert radio["context"]["radio"]["mcc"] == "262"


def test_values_the_schema_refuses_become_a_status_record():
    # The dialect parsers bound what a modem can say; should something still break the schema,
    # the board records that it did instead of failing (and resetting) in a loop.
    with Scratch() as root:
        app, _ = _app(root)
        app.emit("radio", {"imsi": "001010123456789"})
        [status] = _records(app)
        assert status["values"]["event"] == "record-refused"
        assert "subscriber identity" in status["values"]["detail"]
        assert "001010123456789" not in json.dumps(status)


def test_a_silent_modem_is_reported_once_then_its_return():
    with Scratch() as root:
        app, modem = _app(root)
        modem.answers = None
        _run(app.measure_radio())
        _run(app.measure_radio())  # still down: no second report
        [down] = _records(app)
        assert down["values"]["event"] == "modem-down"
        assert "the board has no power key" in down["values"]["detail"]
        assert app.context == {}  # nothing invented about the link
        modem.answers = dict(ANSWERS)
        _run(app.measure_radio())
        events = [r["values"].get("event") for r in _records(app)]
        assert events.count("modem-recovered") == 1
        assert [r["kind"] for r in _records(app)][-1] == "radio"
        assert json.dumps(app.context)
