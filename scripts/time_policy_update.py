"""Time one PPO update, and one sampling step, of the shipped policies on a torch device.

Fills a rollout buffer with windows of real targets (no folding: the rewards are random,
which does not change an update's cost) and times ``model.train()``, SB3's whole update
(``n_epochs`` passes over ``n_steps * n_envs`` samples), and one forward pass over the
``n_envs`` windows of an environment step (what sampling pays per step, host-device copies
included). Two policies: LEARNA's published one and the shipped Meta-LEARNA checkpoint.
Two rollouts: meta-training's (``n_steps`` 64 over many training targets, so nearly every
window is distinct) and a design's (one target: its sites x ``n_envs``; the feature
extractor computes each distinct window once, so this is much cheaper).

Usage::

    python scripts/time_policy_update.py [--device cpu|cuda[:N]] [--threads 1,2] [--repeats 5]

Results of this machine: docs/devices.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence

import numpy as np
import torch

from envs.vector import RnaDesignVecEnv
from meta.checkpoints import load_checkpoint, load_weights
from meta.config import LEARNA
from meta.design import build_ppo
from meta.training_data import GeneratorSettings, generate_structures
from policies import numpy_window
from policies.device import resolve_device

#: The design-shaped rollout's target: the MFE structure of a random 100-nt sequence.
DESIGN_TARGET = GeneratorSettings(count=1, min_length=100, max_length=100, seed=2)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _fill(model, env: RnaDesignVecEnv, rng: np.random.Generator) -> None:
    """A rollout of real windows (each env on a random target and site), random rewards."""
    width = int(model.observation_space.shape[0])
    buffer = model.rollout_buffer
    buffer.reset()
    n_envs = model.n_envs
    for _ in range(model.n_steps):
        rows = []
        for _ in range(n_envs):
            encoding = env.encodings[rng.integers(len(env.encodings))]
            site = encoding.sites[rng.integers(len(encoding.sites))]
            rows.append(encoding.padded[site : site + width])
        observations = np.stack(rows)
        with torch.no_grad():
            actions, values, log_probs = model.policy(
                torch.as_tensor(observations, device=model.device)
            )
        buffer.add(
            observations,
            actions.cpu().numpy(),
            rng.random(n_envs).astype(np.float32),
            np.zeros(n_envs, dtype=bool),
            values,
            log_probs,
        )
    with torch.no_grad():
        last = model.policy.predict_values(torch.as_tensor(observations, device=model.device))
    buffer.compute_returns_and_advantage(last_values=last, dones=np.zeros(n_envs, dtype=bool))


def _time(model, env: RnaDesignVecEnv, repeats: int) -> tuple[float, float]:
    """Median seconds of one update and of one sampling step's forward pass."""
    rng = np.random.default_rng(0)
    _fill(model, env, rng)
    updates = []
    for _ in range(repeats + 1):  # the first is a warm-up
        _synchronize(model.device)
        began = time.perf_counter()
        model.train()
        _synchronize(model.device)
        updates.append(time.perf_counter() - began)
    observations = model.rollout_buffer.observations[0]
    steps = []
    for _ in range(20 * repeats + 1):
        began = time.perf_counter()
        model.predict(observations, deterministic=False)  # numpy in, numpy out: both copies
        steps.append(time.perf_counter() - began)
    return statistics.median(updates[1:]), statistics.median(steps[1:])


def main(argv: Sequence[str] | None = None) -> int:
    """Print a table: policy, rollout, samples, threads, parameters, update s, step ms."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="auto|cpu|cuda[:N] (cpu)")
    parser.add_argument("--threads", default="1,2", help="torch CPU threads to try (1,2)")
    parser.add_argument("--repeats", type=int, default=5, help="timed updates per cell (5)")
    parser.add_argument(
        "--update",
        choices=("numpy", "torch"),
        default="numpy",
        help="numpy: the default path (meta.numpy_ppo, where the network allows it); "
        "torch: SB3's own torch code throughout",
    )
    args = parser.parse_args(argv)
    numpy_window.ENABLED = args.update == "numpy"
    device = resolve_device(args.device)
    shipped = load_checkpoint(None)
    training = generate_structures(GeneratorSettings(count=200, seed=1))
    print(
        f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} threads max, "
        f"update: {args.update}"
    )
    print("policy        rollout         samples  threads  parameters  update_s  step_ms")
    for name, config, checkpoint in (
        ("learna", LEARNA, None),
        ("meta-learna", shipped.config, shipped),
    ):
        for rollout, targets, n_steps in (
            ("meta-training", training, 64),
            ("design-100nt", generate_structures(DESIGN_TARGET), None),
        ):
            env = RnaDesignVecEnv(targets, config.env, n_envs=config.ppo.n_envs, seed=0)
            steps = n_steps or env.encodings[0].num_steps
            model = build_ppo(env, config, steps, 0, device)
            if checkpoint is not None:
                load_weights(model, checkpoint)
            model.set_random_seed(0)
            model._setup_learn(steps * model.n_envs)  # the optimizer's learning rate etc.
            parameters = sum(p.numel() for p in model.policy.parameters())
            for threads in (int(t) for t in args.threads.split(",")):
                torch.set_num_threads(threads)
                update, step = _time(model, env, args.repeats)
                print(
                    f"{name:<13} {rollout:<15} {steps * model.n_envs:>7}  {threads:>7}  "
                    f"{parameters:>10}  "
                    f"{update:>8.3f}  {1000 * step:>7.2f}"
                )
            env.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
