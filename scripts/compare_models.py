"""Validate checkpoints on the same target files, as meta-training validates (sampling only).

How a candidate for the shipped model is judged against the current one without looking
at a benchmark: each checkpoint designs every target of each file by sampling from its
policy for ``--seconds`` per target (``meta.training.validate``, 16 episodes per batch,
seed 0), and the solved counts and mean normalized distances are printed as JSON.

Each checkpoint samples with its own configuration, including LEARNA's local improvement
(``local_improvement``), unless ``--local-improvement D`` sets it for all of them: two
models trained with different settings are then judged alike (``autorl design`` runs with
``meta.design.DEFAULT_LOCAL_IMPROVEMENT``, 0).

    python scripts/compare_models.py meta/models/meta-learna.zip runs/new/run/best.zip \
        --data runs/new/validation.txt other-validation.txt [--seconds 2] \
        [--local-improvement 0]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from autorl.commands import options
from envs.dot_bracket import read_targets
from envs.vector import RnaDesignVecEnv
from meta.checkpoints import load_checkpoint, load_weights
from meta.design import build_ppo
from meta.training import validate


def _agent(path: str, local_improvement: int | None = None):
    """The checkpoint's agent, configured as meta-training's validation is (16 episodes).

    Args:
        path: The checkpoint zip.
        local_improvement: Overrides the configuration's ``local_improvement`` (None:
            keep it).
    """
    checkpoint = load_checkpoint(path)
    changes: dict[str, object] = {"n_envs": 16}
    if local_improvement is not None:
        changes["local_improvement"] = local_improvement
    config = checkpoint.config.updated(changes)
    env = RnaDesignVecEnv(["((((....))))"], config.env, n_envs=16)  # any: only for building
    model = build_ppo(env, config, 10, 0, "cpu")
    load_weights(model, checkpoint, with_optimizer=False)
    env.close()
    return model, config


def main(argv: list[str] | None = None) -> int:
    """Validate every checkpoint on every file; print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoints", nargs="+", help="checkpoint zips")
    parser.add_argument("--data", nargs="+", required=True, help="target files")
    parser.add_argument("--seconds", type=float, default=2.0, help="per target (2)")
    parser.add_argument(
        "--local-improvement",
        type=options.sites,  # as autorl design's --local-improvement: an integer >= 0
        default=None,
        metavar="D",
        help="LEARNA's local improvement distance for every checkpoint (default: each "
        "checkpoint's own; 0: off, as autorl design runs)",
    )
    args = parser.parse_args(argv)
    files = {path: read_targets(path) for path in args.data}
    figures: dict[str, object] = {"local_improvement": args.local_improvement}
    for path in args.checkpoints:
        model, config = _agent(path, args.local_improvement)
        for name, targets in files.items():
            result = validate(model, config, targets, args.seconds, 0)
            figures[f"{path} | {Path(name).name}"] = {
                "solved": result.solved,
                "total": result.total,
                "mean_distance": round(result.mean_distance, 4),
                "solved_ids": result.solved_ids,
            }
            print(f"{path} on {name}: {result.solved}/{result.total}", file=sys.stderr)
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
