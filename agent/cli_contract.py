"""The command-line contract every `qiyas` sub-command keeps (docs/DESIGN.md, Command line).

A leaf: it imports nothing of ours but the base error, so `agent/`, `collector/`, `hil/` and
`tools/` all raise and print through it without importing each other.
Exit status: `EXIT_OK` success, `EXIT_FAILED` the check or measurement failed, `EXIT_USAGE` bad
usage or bad input. `--json` prints exactly one JSON document on stdout (`print_json`).
"""

from __future__ import annotations

import json
import sys

from agent.core.errors import QiyasError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class UsageError(QiyasError):
    """Bad usage or bad input: reported in one line, exit status 2."""


def print_json(doc: object, flush: bool = False) -> None:
    """The one JSON document of `--json`, on its own line on stdout."""
    sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
    if flush:
        sys.stdout.flush()
