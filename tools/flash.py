"""`qiyas flash --board NAME --port PORT --config AGENT.toml [--image MICROPYTHON.bin]
[--key FILE] [--dry-run] [--json]`: put the probe firmware on an ESP32 board.

The plan, each step bounded by a timeout so a board that does not answer is reported, not
waited on forever:
1. with --image: esptool writes the MicroPython image the technician supplies (erasing flash);
2. wait for MicroPython's prompt on PORT; park main.py and reset, so the running probe (and its
   watchdog) is out of the way while files are copied;
3. mpremote copies the bundle (`qiyas firmware build`), the device settings made from the agent
   config and board profile, the key if one is given, and the broker's TLS files if the config
   names them;
4. the board hashes every copied file; each must match the manifest (verification);
5. the board makes its key if it has none and prints the public key, for the registry
   (`qiyas collector keys add`); main.py is put back and the board reset.
--dry-run prints the plan and touches nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.core.errors import QiyasError
from firmware.settings import MAX_OUTBOX

IMAGE_OFFSET = {"esp32": "0x1000", "esp32s3": "0x0"}
ESPTOOL_TIMEOUT_S = 300
MPREMOTE_TIMEOUT_S = 120
PROMPT_TIMEOUT_S = 10.0  # default of --wait
DEVICE_SETTINGS = "qiyas.json"
DEVICE_KEY = "probe.key"
TLS_FILES = (("ca", "ca.pem"), ("cert", "client.pem"), ("key", "client.key"))


class FlashError(QiyasError):
    """A step failed; the text tells the technician what to check."""


class Step:
    """A command to run (argv), or an action done in this process (waiting, verifying)."""

    def __init__(
        self,
        what: str,
        argv: list[str] | None,
        timeout_s: float,
        action: Callable[[], None] | None = None,
    ) -> None:
        self.what = what
        self.argv = argv
        self.timeout_s = timeout_s
        self.action = action

    def as_dict(self) -> dict[str, Any]:
        return {"step": self.what, "argv": self.argv, "timeout_s": self.timeout_s}


def device_settings(config: Any, board: Any, echo_records: bool = False) -> dict[str, Any]:
    """The device's /qiyas.json from an agent config and a board profile."""
    schedule = {name: int(config.schedule[name]) for name in ("radio", "health")
                if name in config.schedule}  # fmt: skip
    settings: dict[str, Any] = {
        "probe_id": config.probe_id,
        "board": board.name,
        "state_dir": "/qiyas",
        "key_file": "/" + DEVICE_KEY,
        "broker": {
            "host": config.broker.host,
            "port": config.broker.port,
            "tls": config.broker.tls,
        },
        "schedule": schedule,
        "outbox_max_records": min(config.outbox_max_records, MAX_OUTBOX),  # flash, not a disk
        "ack_timeout_s": int(config.ack_timeout_s),
        "modem": board.section("modem"),
        "echo_records": echo_records,
    }
    commands = config.section("commands")
    if commands.get("controller_key"):
        settings["controller_key"] = commands["controller_key"]
    return settings


def _mpremote(port: str, *command: str) -> list[str]:
    return [sys.executable, "-m", "mpremote", "connect", port, *command]


def _exec(port: str, code: str) -> list[str]:
    return _mpremote(port, "exec", code)


def hash_script(paths: list[str]) -> str:
    """MicroPython code printing `sha256 path` for each path (or `missing path`)."""
    return (
        "import hashlib,binascii\n"
        f"for p in {paths!r}:\n"
        " try:\n"
        "  f=open(p,'rb');h=hashlib.sha256()\n"
        "  while True:\n"
        "   b=f.read(1024)\n"
        "   if not b: break\n"
        "   h.update(b)\n"
        "  f.close();print(binascii.hexlify(h.digest()).decode(),p)\n"
        " except OSError: print('missing',p)\n"
    )


PARK = (
    "import os\n"
    "if 'main.py' in os.listdir('/'): os.rename('/main.py','/main.off')\n"
    "if 'lib' not in os.listdir('/'): os.mkdir('/lib')"
)
KEY_AND_UNPARK = (
    "import os\n"
    "from firmware.start import load_key\n"
    "print('PUBLIC', load_key('/" + DEVICE_KEY + "').public_key.hex())\n"
    "os.rename('/main.off','/main.py')"
)


def plan(
    args: argparse.Namespace,
    bundle: Path,
    staged: dict[str, Path],
    chip: str,
    expected: dict[str, str],
) -> list[Step]:
    """staged: device path -> host file, beyond the bundle; expected: device path -> SHA-256."""
    port = args.port
    steps: list[Step] = []

    def prompt() -> Step:
        return Step("wait for the MicroPython prompt", None, args.wait,
                    lambda: wait_for_prompt(port, args.wait))  # fmt: skip

    if args.image is not None:
        steps.append(Step(
            f"write MicroPython {args.image.name} at {IMAGE_OFFSET[chip]} (erasing flash)",
            [sys.executable, "-m", "esptool", "--chip", chip, "--port", port, "--baud", "460800",
             "--connect-attempts", "3", "write-flash", "--erase-all", IMAGE_OFFSET[chip],
             str(args.image)],
            ESPTOOL_TIMEOUT_S,
        ))  # fmt: skip
    steps.append(prompt())
    steps.append(Step("park main.py (the probe stops at the next reset), make /lib",
                      _exec(port, PARK), MPREMOTE_TIMEOUT_S))  # fmt: skip
    steps.append(Step("reset without the probe running", _mpremote(port, "reset"), 30))
    steps.append(prompt())
    # Into the existing /lib (made when parking): mpremote copies folders into a folder that
    # exists, and onto the name of one that does not.
    packages = sorted(str(p) for p in (bundle / "lib").iterdir() if p.is_dir())
    steps.append(Step("copy the bundle's lib/", _mpremote(port, "fs", "cp", "-r", *packages,
                                                          ":lib"),
                      MPREMOTE_TIMEOUT_S))  # fmt: skip
    for device_path, host_file in [("boot.py", bundle / "boot.py"), *staged.items(),
                                   ("main.off", bundle / "main.py")]:  # fmt: skip
        steps.append(Step(f"copy {device_path}", _mpremote(port, "fs", "cp", str(host_file),
                                                           ":" + device_path),
                          MPREMOTE_TIMEOUT_S))  # fmt: skip
    steps.append(Step("verify every copied file by its SHA-256 on the board", None,
                      MPREMOTE_TIMEOUT_S, lambda: verify(port, expected)))  # fmt: skip
    steps.append(Step("make or read the probe key; put main.py back",
                      _exec(port, KEY_AND_UNPARK), MPREMOTE_TIMEOUT_S))  # fmt: skip
    steps.append(Step("reset into the probe", _mpremote(port, "reset"), 30))
    return steps


def wait_for_prompt(port: str, timeout_s: float) -> None:
    """Interrupt whatever runs and wait for MicroPython's `>>>`; FlashError if none comes."""
    import serial

    try:
        link = serial.Serial(port, 115200, timeout=0.2)
    except (serial.SerialException, OSError) as exc:
        raise FlashError(f"cannot open {port}: {exc}") from None
    with link:
        seen = b""
        deadline = time.monotonic() + timeout_s
        next_nudge = 0.0
        while time.monotonic() < deadline:
            if time.monotonic() >= next_nudge:
                link.write(b"\r\x03\x03\x02")  # Ctrl-C twice (stop main.py), Ctrl-B (normal REPL)
                next_nudge = time.monotonic() + 1.0
            seen = (seen + link.read(256))[-512:]  # blocks up to the read timeout for data
            if b">>> " in seen:
                return
    raise FlashError(
        f"the board does not answer on {port}: no MicroPython prompt within {timeout_s:g} s. "
        "Is it powered and is PORT right? Is MicroPython on it (give --image)? "
        "Is a serial monitor holding the port?"
    )


def _run_step(step: Step) -> str:
    assert step.argv is not None
    try:
        done = subprocess.run(step.argv, capture_output=True, text=True,
                              timeout=step.timeout_s, check=False)  # fmt: skip
    except subprocess.TimeoutExpired:
        raise FlashError(f"{step.what}: the board stopped answering "
                         f"(no result within {step.timeout_s:g} s)") from None  # fmt: skip
    if done.returncode != 0:
        lines = [ln for ln in (done.stderr + done.stdout).splitlines() if ln.strip()]
        detail = next((ln for ln in lines if "rror" in ln), lines[-1] if lines else "no output")
        hint = ""
        if "esptool" in step.argv[2]:
            hint = " Hold BOOT while pressing RESET to enter the bootloader, then retry."
        raise FlashError(f"{step.what}: {detail.strip().rstrip('.')}.{hint}")
    return done.stdout


def verify(port: str, expected: dict[str, str]) -> None:
    """Hash the files on the board; FlashError naming each one that differs."""
    paths = sorted(expected)
    out = _run_step(Step("verify", _exec(port, hash_script(["/" + p for p in paths])),
                         MPREMOTE_TIMEOUT_S))  # fmt: skip
    found = {}
    for line in out.splitlines():
        digest, _, path = line.strip().partition(" ")
        found[path.lstrip("/")] = digest
    wrong = [p for p in paths if found.get(p) != expected[p]]
    if wrong:
        raise FlashError(f"verification failed: {len(wrong)} file(s) differ on the board, "
                         f"first {wrong[0]}; run qiyas flash again")  # fmt: skip


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--board", required=True, help="an esp32 board profile")
    parser.add_argument("--port", required=True, help="the board's USB serial port")
    parser.add_argument("--config", type=Path, required=True, help="the probe's agent config")
    parser.add_argument("--image", type=Path, help="a MicroPython .bin to write first")
    parser.add_argument("--key", type=Path, help="a 32-byte key to install (default: the board "
                        "makes its own)")  # fmt: skip
    parser.add_argument("--bundle", type=Path, help="a built bundle (default: build it now)")
    parser.add_argument(
        "--wait",
        type=float,
        default=PROMPT_TIMEOUT_S,
        metavar="S",
        help=f"seconds the board may take to answer ({PROMPT_TIMEOUT_S:g})",
    )
    parser.add_argument(
        "--console-records",
        action="store_true",
        help="the board also prints each signed record on its console (bench)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the plan, touch nothing")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from agent import config as agent_config
    from agent.boards import BoardError
    from agent.cli_contract import UsageError
    from tools.firmware import BuildError, build, esp32_board

    console = Console(stderr=True)
    try:
        board = esp32_board(args.board)
        config = agent_config.load(args.config)
    except (BoardError, agent_config.ConfigError) as exc:
        raise UsageError(str(exc)) from None
    for name, path in (("--image", args.image), ("--key", args.key), ("--bundle", args.bundle)):
        if path is not None and not path.exists():
            raise UsageError(f"{name} {path} does not exist")
    if args.key is not None and args.key.stat().st_size != 32:
        raise UsageError(f"--key {args.key} is not a 32-byte Ed25519 seed")
    chip = board.section("esp32")["chip"]

    with tempfile.TemporaryDirectory(prefix="qiyas-flash-") as tmp:
        staging = Path(tmp)
        if args.bundle is None:
            try:
                build(args.board, staging / "bundle")
            except BuildError as exc:
                console.print(f"[red]qiyas flash: {exc}[/red]")
                return 1
            bundle = staging / "bundle" / args.board
        else:
            bundle = args.bundle
        manifest = json.loads((bundle / "manifest.json").read_text())
        if manifest.get("board") != args.board:
            raise UsageError(f"--bundle {bundle} was built for {manifest.get('board')}")
        settings_file = staging / DEVICE_SETTINGS
        settings_file.write_text(json.dumps(device_settings(config, board, args.console_records)))
        staged = {DEVICE_SETTINGS: settings_file}
        if args.key is not None:
            staged[DEVICE_KEY] = args.key
        for attr, device_name in TLS_FILES:
            given = getattr(config.broker, attr)
            if given:
                staged[device_name] = Path(given)
        expected = {name: entry["sha256"] for name, entry in manifest["files"].items()
                    if name not in ("main.py", "manifest.json")}  # fmt: skip
        expected["main.off"] = manifest["files"]["main.py"]["sha256"]
        for device_path, host_file in staged.items():
            expected[device_path] = hashlib.sha256(host_file.read_bytes()).hexdigest()
        steps = plan(args, bundle, staged, chip, expected)

        if args.dry_run:
            doc = {"board": args.board, "port": args.port, "version": manifest["version"],
                   "plan": [s.as_dict() for s in steps]}  # fmt: skip
            if args.json:
                print(json.dumps(doc))
            else:
                for n, s in enumerate(steps, 1):
                    command = (
                        shlex.join(s.argv).replace("\n", "\\n") if s.argv else "(by qiyas itself)"
                    )
                    console.print(f"{n:2}. {s.what}\n    [dim]{command}[/dim]")
            return 0
        try:
            public = _execute(steps, console)
        except FlashError as exc:
            console.print(f"[red]qiyas flash: {exc}[/red]")
            if args.json:
                print(json.dumps({"ok": False, "error": str(exc)}))
            return 1
    result = {"ok": True, "board": args.board, "port": args.port, "version": manifest["version"],
              "probe_id": config.probe_id, "public_key": public}  # fmt: skip
    if args.json:
        print(json.dumps(result))
    else:
        console.print(f"[green]flashed[/green] {args.board} on {args.port}, firmware "
                      f"{manifest['version']}. Register its key:\n  qiyas collector keys add "
                      f"--probe {config.probe_id} --public-key {public} --db …")  # fmt: skip
    return 0


def _execute(steps: list[Step], console: Any) -> str:
    """Run the plan with progress; returns the public key the board printed."""
    from rich.progress import Progress

    public = ""
    with Progress(console=console) as progress:
        task = progress.add_task("flashing", total=len(steps))
        for step in steps:
            progress.update(task, description=step.what)
            if step.action is not None:
                step.action()
            else:
                for line in _run_step(step).splitlines():
                    if line.startswith("PUBLIC "):
                        public = line.split()[1]
            progress.advance(task)
    return public
