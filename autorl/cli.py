"""The ``autorl`` command line.

Exit codes: 0 success; 1 the job ran but did not fully succeed (e.g. a target unsolved);
2 bad input or usage (the error on stderr, nothing on stdout); 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from autorl import __version__

#: Subcommand modules, in the order ``--help`` lists them.
COMMANDS = (
    "autorl.commands.design",
    "autorl.commands.benchmark",
    "autorl.commands.optimize",
    "autorl.commands.benchmark_optimizers",
    "autorl.commands.benchmark_parallel",
    "autorl.commands.data",
    "autorl.commands.meta_train",
    "autorl.commands.train",
    "autorl.commands.evaluate",
    "autorl.commands.benchmark_adaptation",
    "autorl.commands.nas",
)


class UsageError(ValueError):
    """Bad input given on the command line (exit code 2)."""


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="autorl",
        description="Auto-RL for RNA design: LEARNA agents, BOHB, meta-training, benchmarks.",
    )
    parser.add_argument("--version", action="version", version=f"autorl {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMANDS:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.run(args))
    except (ValueError, FileNotFoundError) as error:  # bad input: documented exit code 2
        print(f"autorl {args.command}: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `autorl design ... | head`: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print(f"autorl {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
