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

An evaluation whose ``info`` has a return bonus (``site_credit``, one bonus per step of the
episode) has it written into the episode's rows too (:func:`add_return_bonus`), so that
each step's return is the episode's reward plus its own bonus; :class:`ReturnBonuses` does
the same for environments that reward in the step itself (one worker, Ray actors).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper, VecNormalize

from envs.deferred import PENDING, Evaluation
from envs.rna_design import RETURN_BONUS


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
        current = buffer is self.model.rollout_buffer and row == buffer.pos and not buffer.full
        # This step's rewards are added to the buffer after the callbacks.
        terminal = self.locals["rewards"] if current else None
        if terminal is not None:
            terminal[index] += change
        else:
            buffer.rewards[row, index] += change
        if RETURN_BONUS in evaluation.info:
            add_return_bonus(
                self.model, buffer, row, index, evaluation.info[RETURN_BONUS], terminal
            )
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


class ReturnBonuses(BaseCallback):
    """Adds the return bonuses of episodes rewarded synchronously to their steps.

    An environment that folds in the step that ends an episode (one worker, Ray actors)
    gives that step's ``info`` a :data:`envs.rna_design.RETURN_BONUS` (``site_credit``);
    this callback adds it to the episode's rewards in the rollout, as
    :class:`PendingRewards` does for deferred ones (:func:`add_return_bonus`). Episodes
    without a bonus are left alone.
    """

    def _on_step(self) -> bool:
        buffer = self.model.rollout_buffer
        for index, info in enumerate(self.locals["infos"]):
            if RETURN_BONUS in info:
                bonus = info[RETURN_BONUS]
                add_return_bonus(
                    self.model, buffer, buffer.pos, index, bonus, self.locals["rewards"]
                )
        return True


def add_return_bonus(
    model: OnPolicyAlgorithm,
    buffer: RolloutBuffer,
    row: int,
    index: int,
    bonus: np.ndarray,
    terminal: np.ndarray | None = None,
) -> None:
    """Raise the return of each step of an episode by its bonus.

    With ``gamma = gae_lambda = 1`` (every RNA agent, :mod:`meta.config`) a step's return
    is the sum of the rewards from it to the episode's end, so adding ``b[j] - b[j + 1]``
    to step ``j``'s reward (``b[-1]`` to the last) raises step ``j``'s return by exactly
    ``b[j]``. The episode's steps are the rows up to ``row`` of column ``index``; those
    sampled in an earlier rollout (rows before 0) are left out: their returns were
    bootstrapped from the value of the rollout's last observation.

    Args:
        model: The on-policy algorithm (its ``gamma`` and ``gae_lambda`` are checked).
        buffer: The rollout buffer holding the episode's last step.
        row: The buffer row of the episode's last step.
        index: The environment's column.
        bonus: One bonus per step of the episode, in order.
        terminal: The rewards of the current step, not yet in the buffer (SB3 adds them
            after the callbacks), when ``row`` is that step; None: ``row`` is in
            ``buffer`` already.

    Raises:
        ValueError: ``gamma`` or ``gae_lambda`` is not 1 (the bonus would be discounted),
            or the bonus is not a finite 1-D array.
    """
    if model.gamma != 1 or model.gae_lambda != 1:
        raise ValueError(
            "return bonuses (site_credit) need gamma = gae_lambda = 1, got "
            f"gamma {model.gamma} and gae_lambda {model.gae_lambda}"
        )
    bonus = np.asarray(bonus, dtype=np.float64)
    if bonus.ndim != 1 or not len(bonus) or not np.isfinite(bonus).all():
        raise ValueError(f"a return bonus must be a finite 1-D array, got {bonus!r}")
    steps = bonus.copy()
    steps[:-1] -= bonus[1:]
    rows = row - len(bonus) + 1 + np.arange(len(bonus))
    if terminal is not None:
        terminal[index] += steps[-1]
        rows, steps = rows[:-1], steps[:-1]
    inside = rows >= 0
    buffer.rewards[rows[inside], index] += steps[inside]


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


__all__ = [
    "DeferredRewards",
    "PendingRewards",
    "ReturnBonuses",
    "add_return_bonus",
    "check_deferred_env",
]
