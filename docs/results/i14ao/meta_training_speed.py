"""Meta-training's PPO loop with and without the one-rollout-behind pipeline: steps per second.

Meta-training (``autorl meta-train``) folds each finished design in the background while
the policy samples (``deferred=True``, :class:`meta.deferred_rewards.DeferredRewards`), but
waits for every fold at the end of each rollout and folds nothing during the update.
:func:`meta.pipelined_learning.learn_one_behind` would overlap the update too. This script
measures what that would gain, on meta-training's setting (the shipped configuration, 64
environments, ``n_steps`` 64, 2 folding processes, random targets of 60-200 nt whose
episodes end at different steps); it does not train a model to compare, so it says nothing
about the quality of what is learned::

    python docs/results/i14ao/meta_training_speed.py --seconds 60 \
        --out docs/results/i14ao/meta-training-speed.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback, CallbackList

from benchmarks.machine import random_sequences
from envs.dot_bracket import Target
from envs.folding import mfe_structure
from meta.config import LearnaConfig
from meta.deferred_rewards import DeferredRewards, PendingRewards
from meta.pipelined_learning import learn_one_behind
from meta.rna_agent import RNA_AGENT


class _Clock(BaseCallback):
    """Stops the sampling after ``seconds``; counts the episodes evaluated."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds
        self.start = time.monotonic()

    def _on_step(self) -> bool:
        return time.monotonic() - self.start < self.seconds


def targets(count: int, seed: int) -> list[Target]:
    """Designable targets of 60-200 nt: MFE structures of random sequences with pairs."""
    rng = np.random.default_rng(seed)
    found: list[Target] = []
    while len(found) < count:
        length = int(rng.integers(60, 201))
        structure = mfe_structure(random_sequences(length, 1, rng)[0])
        if "(" in structure:
            found.append(Target(str(len(found)), structure))
    return found


def measure(pipeline: bool, seconds: float, seed: int) -> dict[str, float]:
    """Steps, episodes and updates per second of one run of ``seconds``."""
    config = LearnaConfig.load("meta/models/meta-learna.json")
    env = RNA_AGENT.make_env(
        config.ppo.n_envs,
        seed,
        targets=targets(200, seed),
        config=config,
        workers=2,
        deferred=True,
    )
    model = RNA_AGENT.build_model(config, env, seed, "cpu", n_steps=64)
    torch.set_num_threads(1)
    episodes: list[dict] = []
    clock = _Clock(seconds)
    start = time.monotonic()
    if pipeline:
        learn_one_behind(model, 10**9, PendingRewards(episodes.append), clock)
    else:
        model.learn(10**9, callback=CallbackList([DeferredRewards(episodes.append), clock]))
    elapsed = time.monotonic() - start
    env.close()
    return {
        "pipeline": pipeline,
        "seconds": round(elapsed, 2),
        "steps_per_s": round(model.num_timesteps / elapsed, 1),
        "episodes_per_s": round(len(episodes) / elapsed, 1),
        "updates": int(model._n_updates),
        "seed": seed,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Measure both modes in turn, twice; print and write the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    rows = [measure(p, args.seconds, args.seed) for p in (False, True, False, True)]
    for row in rows:
        print(json.dumps(row), flush=True)
    if args.out is not None:
        args.out.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
