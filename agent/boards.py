"""Board profiles (`boards/*.toml`): one declarative file per supported board."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

BOARDS_DIR = Path(__file__).resolve().parent.parent / "boards"


class BoardError(ValueError):
    pass


class Board:
    """A loaded profile: `name`, `platform`, and the raw sections (`modem`, `ont`, …)."""

    def __init__(self, name: str, data: dict[str, Any]) -> None:
        self.name = name
        self.data = data
        self.platform: str = str(data.get("platform", "linux"))
        self.description: str = str(data.get("description", name))

    def section(self, name: str) -> dict[str, Any]:
        value = self.data.get(name, {})
        if not isinstance(value, dict):
            raise BoardError(f"board {self.name}: [{name}] must be a table")
        return value


def available() -> list[str]:
    return sorted(p.stem for p in BOARDS_DIR.glob("*.toml"))


def load(name: str) -> Board:
    path = BOARDS_DIR / f"{name}.toml"
    if not path.is_file():
        raise BoardError(f"unknown board {name!r}; known boards: {', '.join(available())}")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise BoardError(f"board {name}: {exc}") from None
    return Board(name, data)
