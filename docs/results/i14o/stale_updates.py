"""Prototype: PPO updates one rollout stale, overlapping the folds (issue 14's suggestion).

Not part of the package. Runs the shipped network's configuration from scratch on one
random 100-nt target (the throughput benchmark's with ``--seed 0``; before session 31
another one) for ``SECONDS`` with 2
folding processes, in one of two modes, and prints the episodes per second and the CPU
seconds of this process and of the folding processes:

- ``sync``: SB3's loop as the design loop runs it (each rollout's 64 designs folded at its
  last step, the update after).
- ``stale``: the environment hands finished designs to the folding processes and returns
  at once (``deferred=True``); after collecting rollout k, the update trains on rollout
  k-1, whose rewards have had rollout k's sampling to come back, while rollout k's designs
  fold. The policy that samples is one update behind.

Usage (from the project's root)::

    PYTHONPATH=. python docs/results/i14o/stale_updates.py sync 20
    PYTHONPATH=. python docs/results/i14o/stale_updates.py stale 20
"""

from __future__ import annotations

import copy
import resource
import sys
import time

# torch, SB3 and the design loop are imported inside run(): the folding processes that
# multiprocessing spawns import this script again, and would pay ~3 s of CPU each for them.


def make_callback(env, stale: bool):  # noqa: ANN001, ANN201 - SB3 is imported here
    """The episode-counting, reward-writing SB3 callback (see :class:`Rewards`)."""
    from stable_baselines3.common.callbacks import BaseCallback

    class Rewards(BaseCallback):
        """Counts episodes; in stale mode writes deferred rewards into the right rollout."""

        def __init__(self) -> None:
            super().__init__()
            self.env, self.stale = env, stale
            self.episodes = 0
            self.tickets: dict[int, tuple[object, int, int]] = {}

        def _on_step(self) -> bool:
            buffer = self.model.rollout_buffer
            for index, info in enumerate(self.locals["infos"]):
                if "distance" in info:
                    self.episodes += 1
                if "pending" in info:
                    self.tickets[info["pending"]] = (buffer, buffer.pos, index)
            if self.stale:
                self.absorb(block=False)
            return True

        def absorb(self, block: bool) -> None:
            """Write the finished evaluations' rewards into the rollouts they belong to."""
            for evaluation in self.env.collect(block):
                buffer, row, index = self.tickets.pop(evaluation.ticket)
                buffer.rewards[row, index] += evaluation.reward
                self.episodes += 1

        def waiting_for(self, buffer: object) -> bool:
            """Whether rewards of ``buffer``'s episodes are still being folded."""
            return any(owner is buffer for owner, _, _ in self.tickets.values())

    return Rewards()


def run(mode: str, seconds: float) -> None:
    """Run the loop in ``mode`` (``sync`` or ``stale``) for ``seconds``; print its figures."""
    import torch
    from stable_baselines3.common.utils import obs_as_tensor

    from benchmarks.throughput import benchmark_targets
    from envs.rna_design import TargetEncoding
    from envs.vector import RnaDesignVecEnv
    from meta.config import LearnaConfig
    from meta.design import build_ppo, warm_up

    config = LearnaConfig.load("meta/models/meta-learna.json")
    # The throughput benchmark's target (before session 31 this script drew another: the
    # benchmark's generator draws the fold-rate measurement's sequences first).
    target = benchmark_targets(100, 1, 0)[0]
    steps = TargetEncoding.build(target, config.env, None).num_steps
    warm_up()
    stale = mode == "stale"
    env = RnaDesignVecEnv([target], config.env, config.ppo.n_envs, 2, seed=0, deferred=stale)
    env.start_workers()
    model = build_ppo(env, config, steps, 0, "cpu")
    torch.set_num_threads(1)
    callback = make_callback(env, stale)
    model._setup_learn(2**40, callback)
    callback.on_training_start(locals(), globals())
    previous, spare = None, copy.deepcopy(model.rollout_buffer)
    start, cpu = time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        buffer = model.rollout_buffer
        model.collect_rollouts(env, callback, buffer, n_rollout_steps=model.n_steps)
        if not stale:
            model.train()
            continue
        with torch.no_grad():
            values = model.policy.predict_values(obs_as_tensor(model._last_obs, model.device))
        buffer.last = (values, model._last_episode_starts.copy())
        if previous is not None:
            while callback.waiting_for(previous):
                callback.absorb(block=True)
            previous.compute_returns_and_advantage(*previous.last)
            model.rollout_buffer = previous
            model.train()
            spare = previous
        previous = buffer
        model.rollout_buffer = spare
    elapsed = time.perf_counter() - start
    own = time.process_time() - cpu
    env.close()
    time.sleep(1.0)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(
        f"{mode}: {callback.episodes} episodes in {elapsed:.1f} s = "
        f"{callback.episodes / elapsed:.1f}/s; this process {own:.1f} s CPU, folding "
        f"processes {usage.ru_utime + usage.ru_stime:.1f} s CPU (start-up included)"
    )


if __name__ == "__main__":
    run(sys.argv[1], float(sys.argv[2]))
