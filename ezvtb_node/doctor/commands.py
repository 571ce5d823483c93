"""`ezvtb-node doctor [--json] [--config node.toml]`."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path

from ezvtb_node.doctor.check import Check

SYMBOLS = {"ok": "✓", "warn": "!", "fail": "✗"}


def register(subparsers: argparse._SubParsersAction) -> None:
    doctor = subparsers.add_parser(
        "doctor",
        help="check Python, packages, GPU runtimes, engines, ports and the cache; say how to fix problems",
        description="Check that this machine can run the node. Exit code 1 when a check fails "
        "(! is a warning: the node runs, but slower or with less).",
    )
    doctor.add_argument("--json", action="store_true", help="print the checks as a JSON list")
    doctor.add_argument(
        "--config", type=Path, default=None, help="node.toml: check its ports, outputs and cache file"
    )
    doctor.set_defaults(handler=doctor_command)


def doctor_command(args: argparse.Namespace) -> int:
    from ezvtb_node.app.config import build_config
    from ezvtb_node.doctor import run_checks

    config = build_config(argparse.Namespace(), args.config) if args.config else None
    checks = run_checks(config)
    if args.json:
        print(json.dumps([check.to_dict() for check in checks], indent=2))
    else:
        sys.stdout.write(format_table(checks))
    return 1 if any(check.status == "fail" for check in checks) else 0


def format_table(checks: list[Check], width: int = 100) -> str:
    name_width = max(len(check.name) for check in checks)
    indent = " " * (name_width + 4)
    lines = []
    for check in checks:
        detail = _wrap(check.detail, width - len(indent)) or [""]
        lines.append(f"{SYMBOLS[check.status]} {check.name:<{name_width}}  {detail[0]}")
        lines += [indent + more for more in detail[1:]]
        if check.fix:
            lines += _wrap(
                f"fix: {check.fix}", width, initial_indent=indent, subsequent_indent=indent + "     "
            )
    counts = {status: sum(c.status == status for c in checks) for status in SYMBOLS}
    lines.append(f"\n{counts['ok']} ok, {counts['warn']} warnings, {counts['fail']} failed")
    return "\n".join(lines) + "\n"


def _wrap(text: str, width: int, **indents: str) -> list[str]:
    # Paths and commands must stay copyable: never split them at a hyphen or inside a word.
    return textwrap.wrap(text, width, break_on_hyphens=False, break_long_words=False, **indents)
