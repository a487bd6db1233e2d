"""The ESP32 platform: machine.UART to the modem, its PWRKEY on a GPIO, the hardware watchdog,
and the data link as PPP over the same UART (network.PPP).

The LilyGO boards route one UART to the modem, so AT commands and PPP take turns: the app's
loop measures with the link down and delivers with it up (firmware/app.py). Hardware-only: this
module is type-checked against micropython-esp32-stubs but runs only on a board.
"""

import asyncio
import gc
import sys
import time

import machine
import network

_EPOCH_OFFSET_S = 946684800 if time.gmtime(0)[0] == 2000 else 0  # ports whose epoch is 2000
_PPP_TIMEOUT_MS = 30000
_ticks_last = time.ticks_ms()
_ticks_total = 0
_uart = None  # type: machine.UART | None
_ppp = None  # type: network.PPP | None


def monotonic_ms():
    # type: () -> int
    """ticks_ms() wraps after ~12 days; this does not (the loop calls it far more often)."""
    global _ticks_last, _ticks_total
    now = time.ticks_ms()
    _ticks_total += time.ticks_diff(now, _ticks_last)
    _ticks_last = now
    return _ticks_total


def rtc_ms():
    # type: () -> int
    return (time.time() + _EPOCH_OFFSET_S) * 1000


class UartPort:
    def __init__(self, uart):
        # type: (machine.UART) -> None
        self.uart = uart
        self.reader = asyncio.StreamReader(uart)

    def write(self, data):
        # type: (bytes) -> None
        self.uart.write(data)

    async def read(self, timeout_s):
        # type: (float) -> bytes
        try:
            return await asyncio.wait_for_ms(self.reader.read(256), int(timeout_s * 1000))
        except asyncio.TimeoutError:
            return b""


def open_modem(modem):
    # type: (dict) -> UartPort
    global _uart
    if "power_on_pin" in modem:
        machine.Pin(modem["power_on_pin"], machine.Pin.OUT, value=1)
    _uart = machine.UART(
        modem["uart"],
        baudrate=modem.get("baud", 115200),
        tx=modem["tx_pin"],
        rx=modem["rx_pin"],
        rxbuf=2048,
        timeout=0,
    )
    return UartPort(_uart)


def power_key(modem):
    """Power-cycle by the rail when the board switches it (power_on_pin), else by holding
    PWRKEY long enough to switch the module off (SIMCom: >= 2.5 s), then pulsing it on."""
    if "power_key_pin" not in modem:
        return None
    active = 1 if modem.get("power_key_active_high", True) else 0
    key = machine.Pin(modem["power_key_pin"], machine.Pin.OUT, value=1 - active)
    pulse_ms = modem.get("power_key_pulse_ms", 500)
    rail = modem.get("power_on_pin")

    async def press(ms):
        key.value(active)
        await asyncio.sleep_ms(ms)
        key.value(1 - active)

    async def cycle():
        if rail is not None:
            machine.Pin(rail, machine.Pin.OUT, value=0)
            await asyncio.sleep_ms(1000)
            machine.Pin(rail, machine.Pin.OUT, value=1)
        else:
            await press(3000)
            await asyncio.sleep_ms(3000)
        await press(pulse_ms)

    return cycle


class _Watchdog:
    def __init__(self, timeout_s):
        self.wdt = machine.WDT(timeout=int(timeout_s * 1000))

    def feed(self):
        self.wdt.feed()


def watchdog(timeout_s):
    return _Watchdog(timeout_s)


def mem_free():
    # type: () -> int
    return gc.mem_free()


async def _expect(word, timeout_ms):
    seen = b""
    reader = asyncio.StreamReader(_uart)
    try:
        while word not in seen:
            seen = (seen + await asyncio.wait_for_ms(reader.read(64), timeout_ms))[-256:]
    except asyncio.TimeoutError:
        raise OSError("modem did not answer %s to the data call" % word.decode()) from None


async def network_up():
    """Dial the modem's data call and run PPP over the UART until network_down()."""
    global _ppp
    if _uart is None:
        raise OSError("modem UART not open")
    _uart.write(b"ATD*99#\r")
    await _expect(b"CONNECT", 10000)
    _ppp = network.PPP(_uart)
    _ppp.active(True)
    _ppp.connect()
    waited = 0
    while not _ppp.isconnected():
        if waited >= _PPP_TIMEOUT_MS:
            raise OSError("PPP did not come up in %d s" % (_PPP_TIMEOUT_MS // 1000))
        await asyncio.sleep_ms(200)
        waited += 200


async def network_down():
    """End PPP and return the modem to command mode (escape with guard times, hang up)."""
    global _ppp
    if _ppp is not None:
        _ppp.active(False)
        _ppp = None
    if _uart is not None:
        # The escape needs a second of silence on each side (V.250 guard time).
        await asyncio.sleep_ms(1100)
        _uart.write(b"+++")
        await asyncio.sleep_ms(1100)
        _uart.write(b"ATH\r")


def tls_context():
    import ssl  # the broker's CA and the probe's client certificate, provisioned by qiyas flash

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile="/ca.pem")
    ctx.load_cert_chain("/client.pem", "/client.key")
    return ctx


def log(text):
    print(text, file=sys.stderr)
