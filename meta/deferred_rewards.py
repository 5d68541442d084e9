"""Deferred rewards into SB3's rollouts: :class:`DeferredRewards` and :class:`PendingRewards`.

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

:class:`PendingRewards` (the base of :class:`DeferredRewards`) does not wait: a reward is
written into whichever rollout its episode was sampled in, when it comes back, for
:func:`meta.pipelined_learning.learn_one_behind`, which trains on a rollout while the next
one is sampled.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper, VecNormalize

from envs.deferred import PENDING, Evaluation


class PendingRewards(BaseCallback):
    """Writes deferred rewards into the rollout their episode was sampled in, as they come.

    At every step the episodes that ended with ``info["pending"]`` are noted (the rollout
    buffer, its row and the environment), and the evaluations that have come back are
    written: into this step's ``rewards`` array when the episode ended in this step (SB3
    adds it to the buffer after the callbacks), else into the buffer they belong to,
    which may be an earlier rollout's (:func:`meta.pipelined_learning.learn_one_behind`
    trains on a rollout while the next one is sampled). The evaluated reward replaces
    the provisional one, and what SB3 added to it stays (the bootstrap ``gamma *
    V(terminal_observation)`` of a truncated episode). An evaluation whose ``info`` has
    ``"skipped"`` (no reward: a design loop's deadline) marks its rollout incomplete.

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
        #: ticket -> (buffer, row, env index, provisional reward) of the episodes awaited.
        self.rows: dict[int, tuple[RolloutBuffer, int, int, float]] = {}
        #: ``id()`` of the buffers holding an episode that was skipped (no reward).
        self.incomplete: set[int] = set()

    def _init_callback(self) -> None:
        if not isinstance(self.model, OnPolicyAlgorithm):
            raise ValueError(
                f"{type(self).__name__} needs an on-policy algorithm, "
                f"got {type(self.model).__name__}"
            )
        check_deferred_env(self.training_env)

    def _on_step(self) -> bool:
        self.note_pending()
        self.receive(self.training_env.collect())
        return True

    def note_pending(self) -> None:
        """Note the episodes that ended in this step with a pending reward."""
        buffer = self.model.rollout_buffer
        rewards = self.locals["rewards"]
        for index, info in enumerate(self.locals["infos"]):
            if PENDING in info:
                self.rows[info[PENDING]] = (buffer, buffer.pos, index, float(rewards[index]))

    def awaits(self, buffer: RolloutBuffer) -> bool:
        """Whether a reward of ``buffer``'s episodes has not come back yet."""
        return any(row[0] is buffer for row in self.rows.values())

    def wait_for(self, buffer: RolloutBuffer) -> None:
        """Wait until every reward of ``buffer``'s episodes is written (others as they come)."""
        while self.awaits(buffer):
            self.receive(self.training_env.collect(first=True))

    def receive(self, evaluations: Iterable[Evaluation | tuple]) -> None:
        """Write evaluated rewards into their rollouts."""
        for evaluation in evaluations:
            self._write(Evaluation(*evaluation))

    def _write(self, evaluation: Evaluation) -> None:
        """Put an evaluated reward at its episode's step (this step's array or a buffer)."""
        if evaluation.ticket not in self.rows:
            raise RuntimeError(f"deferred reward {evaluation.ticket} was not awaited")
        buffer, row, index, provisional = self.rows.pop(evaluation.ticket)
        if index != evaluation.env_index:
            raise RuntimeError(f"deferred reward {evaluation.ticket} came back for another env")
        change = evaluation.reward - provisional
        if buffer is self.model.rollout_buffer and row == buffer.pos and not buffer.full:
            self.locals["rewards"][index] += change  # this step's: added after the callbacks
        else:
            buffer.rewards[row, index] += change
        if evaluation.info.get("skipped"):
            self.incomplete.add(id(buffer))
        if self.on_episode is not None:
            self.on_episode(evaluation.info)


class DeferredRewards(PendingRewards):
    """Writes the rewards of deferred evaluations into an on-policy algorithm's rollout.

    :class:`PendingRewards` that waits for every evaluation in flight at the last step of a
    rollout, so that returns and advantages are computed from complete rewards: training
    is the same as with synchronous evaluation, only faster.
    """

    def _on_rollout_start(self) -> None:
        self.training_env.collect(block=True)  # a stopped rollout may leave evaluations behind
        self.rows.clear()

    def _on_step(self) -> bool:
        self.note_pending()
        buffer = self.model.rollout_buffer
        last = buffer.pos == buffer.buffer_size - 1
        self.receive(self.training_env.collect(block=last))
        if last and self.rows:
            raise RuntimeError(f"{len(self.rows)} rewards missing at the end of a rollout")
        return True


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


__all__ = ["DeferredRewards", "PendingRewards", "check_deferred_env"]
