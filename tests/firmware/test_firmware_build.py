"""`qiyas firmware build`: the bundle a board runs, with a manifest that proves what is in it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tools.cli import main
from tools.firmware import build


def test_bundle_holds_compiled_core_and_app_with_a_true_manifest(tmp_path: Path) -> None:
    manifest = build("lilygo-t-a7670", tmp_path)
    bundle = tmp_path / "lilygo-t-a7670"
    assert json.loads((bundle / "manifest.json").read_text()) == manifest
    assert (manifest["board"], manifest["chip"]) == ("lilygo-t-a7670", "esp32")
    files = manifest["files"]
    for name in ("boot.py", "main.py", "lib/agent/core/ed25519.mpy", "lib/agent/core/cbor.mpy",
                 "lib/firmware/app.mpy", "lib/firmware/platform/esp32.mpy"):  # fmt: skip
        assert name in files, name
    # Host-only code never goes onto a board.
    assert not any("host" in name or name.endswith("manifest.mpy") for name in files)
    for name, entry in files.items():
        data = (bundle / name).read_bytes()
        assert entry == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert manifest["total_bytes"] == sum(e["bytes"] for e in files.values())
    assert (bundle / "lib/firmware/firmware.version").read_text().strip() == manifest["version"]
    assert (bundle / "lib/agent/core/cbor.mpy").read_bytes()[:2] == b"M\x06"  # mpy v6
    print(f"\nbundle: {len(files)} files, {manifest['total_bytes']} bytes")


def test_same_sources_same_version(tmp_path: Path) -> None:
    first = build("lilygo-t-sim7600", tmp_path / "a")["version"]
    assert build("lilygo-t-sim7600", tmp_path / "b")["version"] == first


def test_cli_json_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["firmware", "build", "--board", "esp32s3-sim7600", "--out", str(tmp_path), "--json"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["chip"] == "esp32s3"
    assert main(["firmware", "build", "--board", "rpi4-rm520n", "--out", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "runs the Linux agent" in err and "lilygo-t-sim7600" in err
    assert main(["firmware", "build", "--board", "nope", "--out", str(tmp_path)]) == 2


def test_freeze_manifest_names_the_bundles_modules() -> None:
    """firmware/manifest.py, run the way MicroPython's build runs it, freezes exactly the
    modules the bundle carries under lib/."""
    repo = Path(__file__).resolve().parent.parent.parent
    frozen: list[str] = []
    env = {
        "__file__": str(repo / "firmware" / "manifest.py"),
        "include": lambda path: None,
        "module": lambda path, base_path: frozen.append(str(Path(base_path) / path)),
    }
    exec(compile((repo / "firmware" / "manifest.py").read_text(), "manifest.py", "exec"), env)
    assert all(Path(p).is_file() for p in frozen)
    names = {str(Path(p).relative_to(repo).with_suffix(".mpy")) for p in frozen}
    bundle = {n.removeprefix("lib/") for n in build_manifest_names()}
    assert names - {"agent/__init__.mpy"} == bundle


def build_manifest_names() -> set[str]:
    from tools.firmware import sources

    return {name for _, name in sources() if name.startswith("lib/")}
