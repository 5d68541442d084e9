"""Whether RNA design checkpoints' policies depend on the structure they see.

Prints one JSON object per checkpoint (:func:`meta.policy_context.context_report` on the
targets of ``--data``): the mean action probabilities, the spread (the largest deviation
of any window's probabilities from the mean; 0: the same letters whatever the structure),
the mean entropy, the most probable action's counts and the share of saturated hidden
tanh units. ``shipped`` names the model in the package.

    python scripts/policy_context.py shipped runs/new/run/best.zip --data targets.txt
"""

from __future__ import annotations

import argparse
import json
import sys

from envs.dot_bracket import read_targets
from meta.checkpoints import CheckpointError, load_checkpoint
from meta.policy_context import context_report


def main(argv: list[str] | None = None) -> int:
    """Report on every checkpoint; exit 2 on a bad checkpoint or target file."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+", help="checkpoint zips, or 'shipped'")
    parser.add_argument("--data", required=True, help="a target file")
    parser.add_argument("--every", type=int, default=1, help="read every k-th target (1)")
    args = parser.parse_args(argv)
    if args.every < 1:
        parser.error("--every must be >= 1")
    try:
        targets = read_targets(args.data)[:: args.every]
        for path in args.checkpoints:
            checkpoint = load_checkpoint(None if path == "shipped" else path)
            report = context_report(checkpoint, targets)
            print(json.dumps({"checkpoint": path, **report.to_dict()}))
    except (OSError, ValueError, CheckpointError) as error:
        print(f"policy_context: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
