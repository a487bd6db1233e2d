"""Every error class of ours derives from agent.core.errors.QiyasError (docs/development.md,
Errors), so `qiyas` and the supervisor catch "ours" in one place; none is named KeyError_."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

from agent.core.errors import QiyasError

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("agent", "collector", "tools", "hil", "firmware")
# Not importable here: they run on a board (MicroPython's machine, gc.threshold) or in its build.
BOARD_ONLY = {"firmware.boot", "firmware.main", "firmware.manifest", "firmware.platform.esp32"}


def error_classes() -> list[type[BaseException]]:
    found = []
    for package in PACKAGES:
        for info in pkgutil.walk_packages([str(ROOT / package)], f"{package}."):
            if info.name in BOARD_ONLY:
                continue
            module = importlib.import_module(info.name)
            found += [
                cls
                for cls in vars(module).values()
                if inspect.isclass(cls)
                and issubclass(cls, BaseException)
                and cls.__module__ == info.name
            ]
    return found


def test_our_errors_derive_from_qiyas_error() -> None:
    classes = error_classes()
    assert len(classes) > 20  # the walk found the modules (each package has errors of its own)
    # A private signal (_Miss, _NotReusable) is raised and caught inside its module, never
    # reaching a caller: not an error of the project's API.
    public = [cls for cls in classes if not cls.__name__.startswith("_")]
    stray = [f"{c.__module__}.{c.__name__}" for c in public if not issubclass(c, QiyasError)]
    assert not stray, "not derived from QiyasError: " + ", ".join(stray)


def test_no_error_is_named_after_a_builtin_with_an_underscore() -> None:
    """KeyError_ (a key-file error dressed as the builtin) was renamed KeyFileError."""
    names = {c.__name__ for c in error_classes()}
    assert not {n for n in names if n.endswith("_")}
