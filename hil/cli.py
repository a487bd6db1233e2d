"""`qiyas hil modem|ont|link|stick …`: start an emulator and print where to reach it."""

from __future__ import annotations

import argparse
import importlib

# emulator → module exposing configure(parser) and run(args) -> int
EMULATORS = {
    "modem": ("hil.modem.cli", "an emulated cellular modem on a PTY"),
    "ont": ("hil.ont.cli", "an emulated FTTH ONT answering OMCI"),
    "link": ("hil.link.cli", "a shaped link between two network namespaces"),
    "stick": ("hil.ont.stick_cli", "an SFP ONT stick's shell behind a real sshd"),
}


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="emulator", required=True)
    for name, (module_name, text) in EMULATORS.items():
        p = sub.add_parser(name, help=text, description=text)
        p.set_defaults(_module=module_name)
        try:
            importlib.import_module(module_name).configure(p)
        except ModuleNotFoundError:
            p.set_defaults(_missing=True)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "_missing", False):
        print(f"qiyas hil {args.emulator}: not available in this build")
        return 2
    code: int = importlib.import_module(args._module).run(args)
    return code
