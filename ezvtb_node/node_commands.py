"""CLI: `ezvtb-node run`, the whole node."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ezvtb_node.config import add_config_flags, build_config

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    run = subparsers.add_parser(
        "run",
        help="run the node: tracking in, frames out",
        description="Listen for face tracking (VMC on 127.0.0.1:39539 by default), map it to THA3 poses, "
        "render and send the frames to the outputs. Settings come from --config node.toml and the flags "
        "below (flags win). Ctrl-C or SIGTERM stops cleanly.",
    )
    run.add_argument("--config", type=Path, help="node.toml (see examples/node.toml)")
    run.add_argument(
        "--print-config", action="store_true", help="print the merged configuration as TOML and exit"
    )
    add_config_flags(run)
    run.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    config = build_config(args, args.config)
    if args.print_config:
        print(config.to_toml(), end="")
        return 0
    from ezvtb_node.node import Node

    return Node(config).run()
