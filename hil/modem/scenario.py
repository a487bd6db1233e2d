"""Emulated-modem scenarios: data files, so a new scenario needs no code.

A scenario is a modem model (`scenarios/modems/<dialect>.toml`: identity and healthy answers)
overlaid with a situation (`scenarios/<name>.toml`: faults, behaviour, answers that differ).
Both files have the same shape:

    description = "..."
    dialects = ["quectel"]          # situations only: the models it is written for (all if absent)
    [behaviour]                     # see BEHAVIOUR for the keys and their defaults
    [state]                         # initial value of set commands, e.g. "+COPS" = "3,0"
    [responses]                     # command -> answer lines ("\\n"-separated); OK is appended
    "AT+CSQ" = "+CSQ: 20,99"        #   unless the answer ends with a final result code
    [responses."AT+COPS?"]          # an answer that depends on the last AT+COPS=<args>
    "3,2" = '+COPS: 0,2,"26201",13'
    [dialect.quectel.responses]     # situations only: answers for one model
    [then.responses]                # from behaviour.then_after_s after boot, these answers
                                    #   replace the first ones (a handover, a developing fault);
                                    #   also [dialect.quectel.then.responses]

Unknown commands answer ERROR; `AT+X=<args>` without an entry is stored as state and answers OK.

`load_capture(name, situation)` builds the model from a real capture of the corpus instead
(`tests/modem/captures/<name>.toml`, see hil/modem/captures.py): the module answers every
command of its dialect's identification and plan with the lines the real module printed, and a
situation adds its faults (echo, URC floods, line noise, slowness, a reboot) on top.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from agent.core import at
from agent.core.errors import InvalidInput

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
MODELS_DIR = SCENARIO_DIR / "modems"

BEHAVIOUR: dict[str, Any] = {
    "echo": False,  # ATE1 at power-on
    "delay_ms": 0,  # before each answer (a slow modem)
    "hang_after": 0,  # stop answering after this many commands, until power-cycled (once)
    "reboot_after": 0,  # reboot instead of answering this command (once)
    "boot_urcs": ["RDY"],  # what the modem says when it has booted
    "boot_ms": 0,  # from power-on to the boot URCs; commands before then go unheard
    "urc_flood": [],  # URC lines sent around and inside every answer ...
    "urc_burst": 0,  # ... this many of them per answer
    "garbage_hex": "",  # bytes (hex) sent before every answer: line noise
    "reenumerate": False,  # a power cycle gives a new PTY, as USB re-enumeration does
    "then_after_s": 0.0,  # seconds after boot when the [then] answers apply (0: never)
}


class ScenarioError(InvalidInput):
    """A scenario that cannot be loaded; the text names the file and what is wrong."""


Answer = str | dict[str, str]


class Scenario:
    def __init__(
        self,
        dialect: str,
        name: str,
        description: str,
        behaviour: dict[str, Any],
        state: dict[str, str],
        responses: dict[str, Answer],
        then: dict[str, Answer] | None = None,
    ) -> None:
        self.dialect = dialect
        self.name = name
        self.description = description
        self.behaviour = behaviour
        self.state = state
        self.responses = responses
        self.then: dict[str, Answer] = then if then is not None else {}  # the second act


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ScenarioError(f"{path}: {exc}") from None


def models() -> list[str]:
    return sorted(p.stem for p in MODELS_DIR.glob("*.toml"))


def situations() -> dict[str, str]:
    """Scenario name -> its description."""
    return {
        path.stem: str(_read(path).get("description", path.stem))
        for path in sorted(SCENARIO_DIR.glob("*.toml"))
    }


def _check_answer(origin: str, command: str, answer: object) -> Answer:
    if isinstance(answer, str):
        return answer
    if isinstance(answer, dict) and all(isinstance(v, str) for v in answer.values()):
        return {str(k): str(v) for k, v in answer.items()}
    raise ScenarioError(f"{origin}: responses.{command!r} must be text or a table of texts")


def _layer(origin: str, data: dict[str, Any], scenario: Scenario) -> None:
    behaviour = data.get("behaviour", {})
    for key, value in behaviour.items():
        if key not in BEHAVIOUR:
            raise ScenarioError(f"{origin}: behaviour.{key} unknown; known: {', '.join(BEHAVIOUR)}")
        if type(value) is not type(BEHAVIOUR[key]):
            raise ScenarioError(
                f"{origin}: behaviour.{key} must be {type(BEHAVIOUR[key]).__name__}"
            )
        scenario.behaviour[key] = value
    for key, value in data.get("state", {}).items():
        scenario.state[key.upper()] = str(value)
    for command, answer in data.get("responses", {}).items():
        scenario.responses[command.upper()] = _check_answer(origin, command, answer)
    for command, answer in data.get("then", {}).get("responses", {}).items():
        scenario.then[command.upper()] = _check_answer(origin, command, answer)


def load(dialect: str, name: str = "healthy") -> Scenario:
    model_path = MODELS_DIR / f"{dialect}.toml"
    if not model_path.is_file():
        raise ScenarioError(
            f"no emulated modem for dialect {dialect!r}; known: {', '.join(models())}"
        )
    path = SCENARIO_DIR / f"{name}.toml"
    if not path.is_file():
        raise ScenarioError(f"unknown scenario {name!r}; known: {', '.join(situations())}")
    model = _read(model_path)
    situation = _read(path)
    supported = situation.get("dialects")
    if supported is not None and dialect not in supported:
        raise ScenarioError(
            f"scenario {name!r} is written for {', '.join(supported)}, not {dialect}"
        )
    scenario = Scenario(
        dialect, name, str(situation.get("description", name)), dict(BEHAVIOUR), {}, {}
    )
    _layer(str(model_path), model, scenario)
    _layer(str(path), situation, scenario)
    per_dialect = situation.get("dialect", {}).get(dialect)
    if per_dialect is not None:
        _layer(f"{path} [dialect.{dialect}]", per_dialect, scenario)
    try:
        bytes.fromhex(scenario.behaviour["garbage_hex"])
    except ValueError:
        raise ScenarioError(f"{path}: behaviour.garbage_hex is not hex") from None
    return scenario


def _cops_answers(lines: list[str]) -> dict[str, str]:
    """+COPS? lines by the <format> they were asked in (AT+COPS=3,<format>): the capture's own
    line for each format it shows, and where it shows only one, that one for both queries."""
    by_format: dict[str, str] = {}
    for line in lines:
        fields = line.split(":", 1)[-1].split(",")
        if len(fields) > 1 and fields[1].strip() in ("0", "1", "2"):
            by_format.setdefault("3," + fields[1].strip(), line)
    if not by_format:
        return {}
    only = next(iter(by_format.values()))
    return {"3,0": by_format.get("3,0", only), "3,2": by_format.get("3,2", only)}


def load_capture(name: str, situation: str = "healthy") -> Scenario:
    """An emulated module answering as the captured one did, with a situation's faults (its
    behaviour only: a situation's answers are written for the hand-made models)."""
    from agent.core import dialects
    from hil.modem import captures

    capture = captures.load(name)
    dialect = capture["dialect"]
    path = SCENARIO_DIR / f"{situation}.toml"
    if not path.is_file():
        raise ScenarioError(f"unknown scenario {situation!r}; known: {', '.join(situations())}")
    data = _read(path)
    scenario = Scenario(
        dialect, f"{name}/{situation}", f"{capture['where']} [{situation}]", dict(BEHAVIOUR), {}, {}
    )
    _layer(str(path), {"behaviour": data.get("behaviour", {})}, scenario)
    commands = [step[0] for step in dialects.IDENTIFY + dialects.plan(dialect)]
    for command, lines in captures.answers(capture, commands).items():
        if command == dialects.generic.COPS_BOTH:
            scenario.responses["AT+COPS?"] = _cops_answers(lines)
            scenario.state["+COPS"] = "3,0"
        else:
            scenario.responses[command.upper()] = "\n".join(lines)
    # identification the capture does not show comes from the module its source names
    for command, value in (("AT+CGMI", capture["manufacturer"]), ("AT+CGMM", capture["model"])):
        if value:
            scenario.responses.setdefault(command, value)
    return scenario


def answer_lines(text: str) -> list[str]:
    """Answer text -> lines, with OK appended unless it already ends with a final result code."""
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    if not lines or not at.is_final(lines[-1]):
        lines.append("OK")
    return lines
