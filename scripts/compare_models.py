"""Validate checkpoints on the same target files, as meta-training validates (sampling only).

How a candidate for the shipped model is judged against the current one without looking
at a benchmark: each checkpoint designs every target of each file by sampling from its
policy for ``--seconds`` per target (``meta.training.validate``, 16 episodes per batch,
seed 0), and the solved counts and mean normalized distances are printed as JSON.

    python scripts/compare_models.py meta/models/meta-learna.zip runs/new/run/best.zip \
        --data runs/new/validation.txt other-validation.txt [--seconds 2]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from envs.dot_bracket import read_targets
from envs.vector import RnaDesignVecEnv
from meta.checkpoints import load_checkpoint, load_weights
from meta.design import build_ppo
from meta.training import validate


def _agent(path: str):
    """The checkpoint's agent, configured as meta-training's validation is (16 episodes)."""
    checkpoint = load_checkpoint(path)
    config = checkpoint.config.updated({"n_envs": 16})
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
    args = parser.parse_args(argv)
    files = {path: read_targets(path) for path in args.data}
    figures: dict[str, dict[str, object]] = {}
    for path in args.checkpoints:
        model, config = _agent(path)
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
