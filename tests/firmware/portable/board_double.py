"""A board for the firmware's App without hardware: a scripted modem on the far side of the
UART, time as a counter the port advances when the firmware waits (no sleeps, no threads),
and a stand-in for the watchdog peripheral. Used by test_fw_app and test_fw_commands."""

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


def run(coro):
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    raise AssertionError("the measure phase waited on the event loop")


def make_app(root, **settings):
    """An App on the scripted board; settings: extra keys of the settings file."""
    data = {
        "probe_id": "fw-test",
        "board": "lilygo-t-sim7600",
        "state_dir": root,
        "broker": {"host": "127.0.0.1"},
        "modem": {"dialect": "generic", "boot_wait_s": 1},
    }
    data.update(settings)
    platform = Platform()
    return App(Settings(data), platform, SigningKey(bytes(32)), "test"), platform.modem


def records(app):
    out = []
    for epoch, seq in app.outbox.pending():
        out.append(record.decode(cose.parse_sign1(app.outbox.read(epoch, seq)).payload))
    return out
