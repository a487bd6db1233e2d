"""Installed size of the board set (the agent and technician tools, what deploy/install.sh
installs) against the full collector install, each into a fresh virtual environment.

    .venv/bin/python tests/bench/bench_install.py

Each set is installed with pip from this checkout (not editable, as on a board) into its own
temporary venv; the size is every file under that venv's site-packages, and the largest packages
are listed. The reference is the `collector` extra installed the same way in the same run. The
board venv is then checked: the agent's modules all import there, and a collector command says
in one line what it lacks.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AGENT_MODULES = (
    "agent.supervisor, agent.modem.source, agent.ont.source, agent.probe.source, agent.statuspage,"
    " tools.provision, tools.doctor.cli"
)


def install(spec: str, venv: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    done = subprocess.run(
        [str(venv / "bin/pip"), "install", "--quiet", "--disable-pip-version-check", spec],
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode:
        raise SystemExit(f"pip install {spec} failed:\n{done.stderr}")
    (site,) = (venv / "lib").glob("python3*/site-packages")
    return site


def size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def largest(site: Path, n: int = 8) -> list[tuple[str, int]]:
    tops: dict[str, int] = {}
    for entry in site.iterdir():
        if entry.name.endswith((".dist-info", ".pth")) or entry.name == "__pycache__":
            continue
        name = entry.name.removesuffix(".libs").split(".")[0]
        tops[name] = tops.get(name, 0) + (size(entry) if entry.is_dir() else entry.stat().st_size)
    return sorted(tops.items(), key=lambda kv: -kv[1])[:n]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        board = install(str(ROOT), Path(tmp) / "board")
        full = install(f"{ROOT}[collector]", Path(tmp) / "full")
        board_mb, full_mb = size(board) / 1e6, size(full) / 1e6
        print(f"board install (agent + tools): {board_mb:.1f} MB in site-packages")
        print(f"reference, with the collector extra: {full_mb:.1f} MB")
        print(
            f"board / full = {board_mb / full_mb:.2f}  (each counts the venv's own pip, setuptools)"
        )
        print("largest in the board install:")
        for name, n in largest(board):
            print(f"  {name:<24} {n / 1e6:6.1f} MB")
        python = str(Path(tmp) / "board/bin/python")
        subprocess.run([python, "-c", f"import {AGENT_MODULES}"], check=True, cwd=tmp)
        print("board install: every agent module imports")
        said = subprocess.run(
            [str(Path(tmp) / "board/bin/qiyas"), "collector", "serve", "--db", f"{tmp}/c.db"],
            capture_output=True, text=True, cwd=tmp,
        )  # fmt: skip
        print(f"board install, `qiyas collector serve`: exit {said.returncode}")
        print("  " + (said.stderr.strip().splitlines() or ["(nothing on stderr)"])[-1])


if __name__ == "__main__":
    main()
