"""A test helper shared by the deferred and pipelined RNA environment tests."""

from __future__ import annotations

import numpy as np

from envs.vector import RnaDesignVecEnv


def finish_episodes(env: RnaDesignVecEnv):
    """Step every episode of a one-target env to its end (action 0); the last step's results."""
    env.reset()
    zeros = np.zeros(env.num_envs, dtype=np.int64)
    for _ in range(env.encodings[0].num_steps - 1):
        env.step(zeros)
    return env.step(zeros)
