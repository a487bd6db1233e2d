"""The dependency rule of docs/DESIGN.md (Layout), checked on the source: which layer may import
which, and no import loops between our modules. What counts as an import: import_graph.py."""

from __future__ import annotations

from pathlib import Path

from import_graph import Graph, build, cycles, describe

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("agent", "collector", "firmware", "hil", "tools")

# Leaves every layer shares: they import nothing of ours but agent/core (docs/DESIGN.md).
LEAVES = {
    "agent.cli_contract",  # the command-line contract: UsageError, exit statuses, print_json
    "agent.keys",  # the Ed25519 key file: the probe's, the controller's, the regulator's
}
# layer -> the layers it may import
ALLOWED = {
    "core": {"core"},
    "leaf": {"core"},
    "agent": {"core", "leaf", "agent"},
    "firmware": {"core", "firmware"},
    "collector": {"core", "leaf", "collector"},
    "hil": {"core", "leaf", "agent", "firmware", "collector", "hil", "tools"},
    "tools": {"core", "leaf", "agent", "firmware", "collector", "hil", "tools"},
}
# Modules outside the rule of their folder, each with why.
EXEMPT = {
    # Run by MicroPython's makemanifest on the build host, never on a board: it takes the file
    # list from `qiyas firmware build` so the frozen image and the bundle hold the same modules.
    "firmware.manifest": "tools",
}


def layer(module: str) -> str:
    if module == "agent.core" or module.startswith("agent.core."):
        return "core"
    if module in LEAVES:
        return "leaf"
    return module.partition(".")[0]


def violations(graph: Graph) -> list[str]:
    """Every import that crosses the layers against ALLOWED, as `A -> B (layer a -> layer b)`."""
    found = []
    for module, imported in sorted(graph.items()):
        allowed = ALLOWED.get(layer(module), set()) | {EXEMPT.get(module, "")}
        for target in sorted(imported):
            if layer(target) not in allowed:
                found.append(f"{module} -> {target} ({layer(module)} -> {layer(target)})")
    return found


def test_each_layer_imports_only_what_it_may() -> None:
    """agent/ and collector/ never import tools/ or hil/; agent/core imports nothing of ours
    above it; firmware only agent/core; nothing imports tests/."""
    graph = build(ROOT, (*PACKAGES, "tests"))
    ours = {m: targets for m, targets in graph.items() if layer(m) in ALLOWED}
    assert not violations(ours), "\n".join(violations(ours))


def test_no_two_modules_of_ours_import_each_other() -> None:
    graph = build(ROOT, PACKAGES)
    loops = cycles(graph)
    assert not loops, "import loops:\n" + "\n\n".join(describe(graph, g) for g in loops)


# The checks above must be able to fail: the same functions on a small tree that breaks them.


def test_a_loop_through_a_function_and_type_checking_import_is_found(tmp_path: Path) -> None:
    pkg = tmp_path / "a"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from a import x\n")  # the package holding its part
    (pkg / "x.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from a.y import f\n"
    )
    (pkg / "y.py").write_text("def f():\n    from . import x\n    return x\n")
    (pkg / "z.py").write_text("import a.x\n")  # only imports: in no loop
    graph = build(tmp_path, ["a"])
    assert graph == {"a": {"a.x"}, "a.x": {"a.y"}, "a.y": {"a.x"}, "a.z": {"a.x"}}
    assert cycles(graph) == [["a.x", "a.y"]]
    assert describe(graph, ["a.x", "a.y"]) == "  a.x -> a.y\n  a.y -> a.x"


def test_layer_breaches_are_named() -> None:
    graph = {
        "agent.modem.cli": {"tools.cli", "agent.cli_contract"},
        "collector.api": {"agent.supervisor", "agent.core.record", "agent.keys"},
        "agent.core.record": {"agent.outbox"},
        "agent.cli_contract": {"agent.core.errors"},
        "firmware.app": {"agent.outbox"},
        "firmware.manifest": {"tools.firmware"},
        "tools.demo": {"collector.api", "hil.fleet", "agent.supervisor"},
        "hil.fleet": {"tests.conftest"},
    }
    assert violations(graph) == [
        "agent.core.record -> agent.outbox (core -> agent)",
        "agent.modem.cli -> tools.cli (agent -> tools)",
        "collector.api -> agent.supervisor (collector -> agent)",
        "firmware.app -> agent.outbox (firmware -> agent)",
        "hil.fleet -> tests.conftest (hil -> tests)",
    ]
