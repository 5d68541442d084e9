"""Short in-memory PPO runs that record their training episodes.

What optimizing and evaluating a vector-task agent needs (the BOHB paper's CartPole
experiment): train a configuration with one seed and get the return and length of every
training episode, without writing files. :func:`train_episodes` stops at a timestep budget,
after a number of episodes, or (optionally) as soon as the mean return of the last
``window`` episodes reaches the task's threshold, so a run that has learned stops paying.
The metric itself (episodes until the threshold, with a cap) is
:mod:`benchmarks.learning`'s; this module only records.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meta.agents import AgentConfig, AgentSpec, build_model

#: Episodes whose mean return is compared with the threshold (the BOHB paper's 20).
WINDOW = 20


@dataclass
class EpisodeLog:
    """The training episodes of one run.

    Attributes:
        returns: Return of every finished training episode, in order.
        lengths: Its length (environment steps).
        timesteps: Environment steps of the run (finished episodes or not).
        seconds: Wall-clock seconds of the run.
        stopped: Why the run ended: ``timesteps``, ``episodes`` or ``threshold``.
    """

    returns: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    timesteps: int = 0
    seconds: float = 0.0
    stopped: str = "timesteps"


def _recorder(
    log: EpisodeLog, max_episodes: int | None, threshold: float | None, window: int
) -> Any:
    from stable_baselines3.common.callbacks import BaseCallback

    class Recorder(BaseCallback):
        """Appends every finished episode (``VecMonitor``'s ``info["episode"]``)."""

        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                episode = info.get("episode")
                if episode is None:
                    continue
                log.returns.append(float(episode["r"]))
                log.lengths.append(int(episode["l"]))
                if max_episodes is not None and len(log.returns) >= max_episodes:
                    log.stopped = "episodes"
                    return False
                recent = log.returns[-window:]
                solved = threshold is not None and len(recent) == window
                if solved and sum(recent) / window >= threshold:
                    log.stopped = "threshold"
                    return False
            return True

    return Recorder()


def train_episodes(
    spec: AgentSpec,
    config: AgentConfig,
    seed: int,
    timesteps: int,
    *,
    max_episodes: int | None = None,
    stop_at_threshold: bool = False,
    window: int = WINDOW,
    device: str = "cpu",
    init: str | Path | None = None,
) -> EpisodeLog:
    """Train ``config`` on ``spec``'s task with ``seed``; record every training episode.

    Args:
        spec: The task.
        config: Architecture and PPO settings.
        seed: Seed of the environment and the agent.
        timesteps: Environment steps at most.
        max_episodes: Stop after this many finished episodes (None: no limit).
        stop_at_threshold: Stop once the mean return of the last ``window`` episodes
            reaches ``spec.threshold`` (nothing after that changes the metric).
        window: Episodes of that mean.
        device: Torch device of the policy (``cpu`` by default: these policies are small).
        init: A checkpoint zip whose policy weights (not its optimizer state) start the
            training, loaded strictly (:func:`meta.weights.load_policy_weights`); None:
            a fresh initialization.

    Returns:
        The episodes of the run.

    Raises:
        ValueError: a non-positive budget, or a threshold asked of a task without one.
    """
    if timesteps < 1 or (max_episodes is not None and max_episodes < 1) or window < 1:
        raise ValueError("timesteps, max_episodes and window must be >= 1")
    if stop_at_threshold and spec.threshold is None:
        raise ValueError(f"task {spec.name} has no threshold to stop at")
    threshold = spec.threshold if stop_at_threshold else None
    log = EpisodeLog()
    env = spec.make_env(config.ppo.n_envs, seed, None)
    start = time.perf_counter()
    try:
        model = build_model(spec, config, env, seed, device)
        if init is not None:
            from meta.weights import load_policy_weights

            load_policy_weights(model, init, with_optimizer=False)
        recorder = _recorder(log, max_episodes, threshold, window)
        model.learn(total_timesteps=timesteps, callback=recorder)
        log.timesteps = int(model.num_timesteps)
    finally:
        env.close()
    log.seconds = time.perf_counter() - start
    return log
