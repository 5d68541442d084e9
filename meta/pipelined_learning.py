"""On-policy learning one rollout behind: the update overlaps the next rollout's evaluations.

With deferred rewards (:mod:`meta.deferred_rewards`) SB3's ``learn`` still waits at the end
of every rollout for the evaluations in flight before it computes returns and updates, and
the evaluators then sit idle through the update. :func:`learn_one_behind` runs the same
algorithm as a pipeline:

1. sample rollout ``k`` (its episodes' evaluations start as they end; rewards of rollout
   ``k - 1`` are written as they come back);
2. wait for the rest of rollout ``k - 1``'s rewards, compute its returns and advantages
   and update on it, while rollout ``k``'s evaluations run;
3. sample rollout ``k + 1`` with the policy that update left, and so on.

Rollout ``k`` is thus sampled by a policy one update older than the one trained on it.
PPO stays correct: its probability ratio divides by the log-probabilities recorded when
the rollout was sampled (``old_log_prob``), and the clipped surrogate bounds how far an
update moves from them; the values of the advantages are those of the sampling policy.
Two rollout buffers take turns (SB3's and a copy). The returns of a rollout are
recomputed once its rewards are complete, with the last values and episode ends that
SB3's ``collect_rollouts`` gave when the rollout ended.

Works for stable-baselines3's ``PPO`` and sb3-contrib's ``MaskablePPO`` and
``RecurrentPPO`` (they share ``collect_rollouts(env, callback, buffer, n_steps)`` and a
buffer whose ``rewards`` are ``(n_steps, n_envs)``), on any environment with
``collect(block, first=...)``: :class:`envs.deferred.DeferredRewardVecEnv`,
:class:`envs.vector.RnaDesignVecEnv` (``deferred``, or ``pipelined`` for a design loop's
batches).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable

import numpy as np
import torch
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm

from meta.deferred_rewards import PendingRewards


class _Rollout:
    """A rollout buffer, and what its returns were computed from, to compute them again.

    SB3 computes a rollout's returns and advantages at its end, when the deferred rewards
    are still provisional; this object replaces the buffer's ``compute_returns_and_advantage``
    (on the instance) to keep the last values and episode ends it was given.
    """

    def __init__(self, buffer: RolloutBuffer):
        self.buffer = buffer
        self.compute = buffer.compute_returns_and_advantage
        self.last_values: torch.Tensor | None = None
        self.dones: np.ndarray | None = None
        buffer.compute_returns_and_advantage = self._remember  # type: ignore[method-assign]

    def _remember(self, last_values: torch.Tensor, dones: np.ndarray) -> None:
        self.last_values, self.dones = last_values.clone(), dones.copy()
        self.compute(last_values=last_values, dones=dones)

    def recompute_returns(self) -> None:
        """Recompute the returns and advantages from the buffer's current rewards."""
        if self.last_values is None:
            raise RuntimeError("the rollout's returns were never computed")
        self.compute(last_values=self.last_values, dones=self.dones)


def learn_one_behind(
    model: OnPolicyAlgorithm,
    total_timesteps: int,
    rewards: PendingRewards,
    callback: BaseCallback | None = None,
    before_update: Callable[[RolloutBuffer], bool] | None = None,
    on_update: Callable[[float], None] | None = None,
) -> bool:
    """Train ``model`` with each update one rollout behind the sampling (module docstring).

    Args:
        model: The on-policy algorithm; its environment gives deferred rewards.
        total_timesteps: Stop sampling after this many steps in all (the rollouts still
            waiting for an update are then trained on, as ``learn`` would have).
        rewards: Writes the rewards into the rollouts (called at every step first).
        callback: More callbacks (an SB3 callback returning False stops the sampling).
        before_update: Called with a complete rollout before the update on it; False
            stops the learning there (no update, no further rollout).
        on_update: Called with the seconds each update took.

    Returns:
        Whether learning ran to ``total_timesteps`` (False: a callback or
        ``before_update`` stopped it). Rewards still in flight are then not waited for:
        ``rewards.rows`` holds them.

    Raises:
        RuntimeError: a rollout with a skipped episode (no reward) was due for an update
            while ``before_update`` is None.
    """
    chain = CallbackList([rewards] if callback is None else [rewards, callback])
    total, chain = model._setup_learn(total_timesteps, chain, True, "one_behind", False)
    chain.on_training_start(locals(), globals())
    first = model.rollout_buffer
    rollouts = (_Rollout(first), _Rollout(copy.deepcopy(first)))
    previous: _Rollout | None = None
    completed = False
    iteration = 0
    while True:
        if model.num_timesteps >= total:
            completed = True
            break
        current = rollouts[iteration % 2]
        rewards.incomplete.discard(id(current.buffer))
        model.rollout_buffer = current.buffer
        if not model.collect_rollouts(model.env, chain, current.buffer, model.n_steps):
            break
        iteration += 1
        model._update_current_progress_remaining(model.num_timesteps, total)
        if previous is not None and not _update(model, previous, rewards, before_update, on_update):
            break
        previous = current
    if completed and previous is not None:  # the last rollout's update is still due
        completed = _update(model, previous, rewards, before_update, on_update)
    chain.on_training_end()
    return completed


def _update(
    model: OnPolicyAlgorithm,
    rollout: _Rollout,
    rewards: PendingRewards,
    before_update: Callable[[RolloutBuffer], bool] | None,
    on_update: Callable[[float], None] | None,
) -> bool:
    """Wait for ``rollout``'s rewards, then update ``model`` on it; False: stop learning."""
    buffer = rollout.buffer
    rewards.wait_for(buffer)
    if before_update is not None and not before_update(buffer):
        return False
    if id(buffer) in rewards.incomplete:
        raise RuntimeError("a rollout with skipped episodes (no reward) cannot be trained on")
    rollout.recompute_returns()
    sampling = model.rollout_buffer
    model.rollout_buffer = buffer
    began = time.monotonic()
    try:
        model.train()
    finally:
        model.rollout_buffer = sampling
    if on_update is not None:
        on_update(time.monotonic() - began)
    return True
