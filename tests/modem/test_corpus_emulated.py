"""The emulator answering as the captured modules did: the serial driver, through a real PTY,
reads every capture of the corpus to the snapshot worked out by hand, also under line faults."""

from __future__ import annotations

import pytest
from test_corpus import expected_snapshot, field_differences

from agent.modem import driver as driver_module
from agent.modem.driver import ModemDriver, ModemSettings
from hil.modem import captures, scenario
from hil.modem.emulator import ModemEmulator

pytestmark = pytest.mark.timeout(60)

FAULTS = ("healthy", "echo-on", "urc-flood", "garbage")


@pytest.fixture(autouse=True)
def quick_resync(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(driver_module, "RESYNC_TIMEOUT_S", 0.2)


@pytest.mark.parametrize("situation", FAULTS)
@pytest.mark.parametrize("name", captures.names())
async def test_the_driver_reads_the_emulated_capture(name: str, situation: str) -> None:
    capture = captures.load(name)
    emu = ModemEmulator(scenario.load_capture(name, situation))
    await emu.start()
    drv = ModemDriver(
        ModemSettings(emu.port, dialect=capture["dialect"], command_timeout_s=1.0, boot_wait_s=2.0)
    )
    try:
        snapshot = await drv.poll()
    finally:
        await drv.aclose()
        await emu.aclose()
    differences = field_differences(snapshot, expected_snapshot(capture))
    assert differences == [], "\n".join(f"{f}: got {g!r}, want {w!r}" for f, g, w in differences)
    if capture["model"]:
        assert snapshot["model"] == capture["model"]
