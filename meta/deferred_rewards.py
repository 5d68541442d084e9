"""Deferred rewards into SB3's rollout: :class:`DeferredRewards`, for any deferred-reward env.

A deferred-reward environment (:class:`envs.deferred.DeferredRewardVecEnv`,
:class:`envs.vector.RnaDesignVecEnv` with ``deferred=True``) ends an episode with a
provisional reward and ``info["pending"] = ticket``, and its ``collect(block)`` later gives
``(ticket, env_index, step_index, reward, info)`` per finished evaluation. The callback
puts each evaluated reward at the row and column of the step that ended its episode, and
waits for every evaluation in flight at the last step of a rollout, so that returns and
advantages are computed from complete rewards: training is the same as with synchronous
evaluation, only faster. sb3-contrib's ``RecurrentPPO`` works the same way: its callbacks
run at the same point of a step, and its ``RecurrentRolloutBuffer`` keeps ``rewards`` as
``(n_steps, n_envs)`` with the same ``pos`` until returns are computed (its minibatches
are cut into sequences only afterwards).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper, VecNormalize

from envs.deferred import PENDING, Evaluation


class DeferredRewards(BaseCallback):
    """Writes the rewards of deferred evaluations into an on-policy algorithm's rollout.

    SB3 adds the current step's ``rewards`` array to the buffer after the callbacks, at row
    ``rollout_buffer.pos``; rewards of episodes that ended at earlier steps go straight into
    ``rollout_buffer.rewards``. The evaluated reward replaces the provisional one, and what
    SB3 added to it stays (the bootstrap ``gamma * V(terminal_observation)`` of a truncated
    episode). At the last step of a rollout every evaluation in flight is awaited.

    Args:
        on_episode: Called with the ``info`` of every evaluated episode.

    Raises:
        ValueError: (when training starts) the algorithm is not on-policy, its environment
            has no ``collect`` (not a deferred-reward environment), or a ``VecNormalize``
            normalizes its rewards (the deferred rewards would bypass it).
    """

    def __init__(self, on_episode: Callable[[dict[str, Any]], None] | None = None):
        super().__init__()
        self.on_episode = on_episode
        #: ticket -> (row, env index, provisional reward) of the episodes awaited.
        self.rows: dict[int, tuple[int, int, float]] = {}

    def _init_callback(self) -> None:
        if not isinstance(self.model, OnPolicyAlgorithm):
            raise ValueError(
                f"DeferredRewards needs an on-policy algorithm, got {type(self.model).__name__}"
            )
        check_deferred_env(self.training_env)

    def _on_rollout_start(self) -> None:
        self.training_env.collect(block=True)  # a stopped rollout may leave evaluations behind
        self.rows.clear()

    def _on_step(self) -> bool:
        row = self.model.rollout_buffer.pos
        rewards = self.locals["rewards"]
        for index, info in enumerate(self.locals["infos"]):
            if PENDING in info:
                self.rows[info[PENDING]] = (row, index, float(rewards[index]))
        last = row == self.model.rollout_buffer.buffer_size - 1
        for evaluation in self.training_env.collect(block=last):
            self._write(Evaluation(*evaluation), row)
        if last and self.rows:
            raise RuntimeError(f"{len(self.rows)} rewards missing at the end of a rollout")
        return True

    def _write(self, evaluation: Evaluation, row: int) -> None:
        """Put an evaluated reward at its episode's step (this step's array or the buffer)."""
        if evaluation.ticket not in self.rows:
            raise RuntimeError(f"deferred reward {evaluation.ticket} was not awaited")
        episode_row, index, provisional = self.rows.pop(evaluation.ticket)
        if index != evaluation.env_index:
            raise RuntimeError(f"deferred reward {evaluation.ticket} came back for another env")
        change = evaluation.reward - provisional
        if episode_row == row:
            self.locals["rewards"][index] += change
        else:
            self.model.rollout_buffer.rewards[episode_row, index] += change
        if self.on_episode is not None:
            self.on_episode(evaluation.info)


def check_deferred_env(env: VecEnv) -> None:
    """Check that ``env`` gives deferred rewards that may go into the rollout unchanged.

    Raises:
        ValueError: ``env`` has no ``collect``, or a ``VecNormalize`` normalizes rewards.
    """
    layer: Any = env
    while isinstance(layer, VecEnvWrapper):
        if isinstance(layer, VecNormalize) and layer.norm_reward:
            raise ValueError(
                "DeferredRewards cannot go through VecNormalize(norm_reward=True): the "
                "deferred rewards would not be normalized; use norm_reward=False"
            )
        layer = layer.venv
    if not callable(getattr(layer, "collect", None)):
        raise ValueError(
            f"DeferredRewards needs a deferred-reward environment with collect(), "
            f"got {type(layer).__name__}"
        )


__all__ = ["DeferredRewards", "check_deferred_env"]
