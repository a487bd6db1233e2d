# MicroPython build manifest (run by MicroPython's build, not by the board): freezes the probe's
# code into a custom firmware image, so its bytecode runs from flash rather than taking ~60 KB
# of heap as the .mpy bundle does; worth it on boards without PSRAM.
#
#   make -C micropython/ports/esp32 BOARD=ESP32_GENERIC \
#        FROZEN_MANIFEST=/path/to/qiyas/firmware/manifest.py
#
# The files are those of `qiyas firmware build` (tools/firmware.py: sources), so the frozen
# image and the bundle hold the same modules. boot.py and main.py stay on the filesystem.
import os
import sys

_repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _repo)
from tools.firmware import sources  # noqa: E402

include("$(PORT_DIR)/boards/manifest.py")  # noqa: F821 - given by MicroPython's makemanifest
module("agent/__init__.py", base_path=_repo)  # noqa: F821
for _path, _name in sources():
    if _name.startswith("lib/"):
        module(os.path.relpath(_path, _repo), base_path=_repo)  # noqa: F821
