"""Test helpers shared by the deferred and pipelined environment tests.

A toy task whose episodes end with an artifact to evaluate, and stepping an RNA env to its
episodes' end.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from envs.deferred import ARTIFACT
from envs.vector import RnaDesignVecEnv


def finish_episodes(env: RnaDesignVecEnv):
    """Step every episode of a one-target env to its end (action 0); the last step's results."""
    env.reset()
    zeros = np.zeros(env.num_envs, dtype=np.int64)
    for _ in range(env.encodings[0].num_steps - 1):
        env.step(zeros)
    return env.step(zeros)


#: The reward an episode's last step carries until its artifact is evaluated.
PROVISIONAL = -1.0


class Counter(gym.Env):
    """Counts the 1-actions of an episode of ``length`` steps (drawn at reset when None).

    Observation: (steps so far, ones so far). Reward 0 each step; terminates after
    ``length`` steps.
    """

    def __init__(self, length: int | None = 3):
        self.length = length
        self.observation_space = gym.spaces.Box(0.0, 100.0, (2,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self._steps, self._ones, self._length = 0, 0, length or 2

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._steps, self._ones = 0, 0
        self._length = self.length or int(self.np_random.integers(2, 7))
        return self._obs(), {"length": self._length}

    def step(self, action):
        self._steps += 1
        self._ones += int(action)
        return self._obs(), 0.0, self._steps >= self._length, False, {"length": self._length}

    def _obs(self) -> np.ndarray:
        return np.array([self._steps, self._ones], dtype=np.float32)

    def action_masks(self) -> np.ndarray:
        """Action 1 is forbidden at odd steps."""
        return np.array([True, self._steps % 2 == 0])


class Artifact(gym.Wrapper):
    """Hands over the episode's actions as its artifact when it ends (terminated or truncated)."""

    def reset(self, **kwargs):
        self.actions: list[int] = []
        return self.env.reset(**kwargs)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.actions.append(int(action))
        if terminated or truncated:
            info[ARTIFACT], reward = tuple(self.actions), PROVISIONAL
        return obs, reward, terminated, truncated, info
