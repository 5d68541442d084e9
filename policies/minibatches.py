"""sb3-contrib's masked and recurrent PPO without the minibatch of one step that breaks them.

PPO normalizes the advantages of each minibatch to mean 0 and standard deviation 1.
stable-baselines3's ``PPO`` does so only for minibatches of more than one sample (a single
sample has no standard deviation; SB3 issue #325). sb3-contrib 2.9's ``MaskablePPO`` and
``RecurrentPPO`` normalize every minibatch. A rollout of ``n_steps x n_envs`` samples
that is one more than a multiple of ``batch_size`` ends with a minibatch of one step,
whose advantage becomes NaN; the gradient step writes NaN into every weight, and the next
forward pass fails ("Expected parameter logits ... to satisfy the constraint
IndependentConstraint(Real(), 1), but found invalid values"). For the RNA agent that is,
for example, Meta-LEARNA's ``batch_size`` 123 under a sequence constraint on a target of
148 steps on the GPU (64 x 148 = 9472 = 77 x 123 + 1), an odd ``batch_size`` from BOHB
with LEARNA's recurrent form, or a NAS controller with ``minibatches`` that leave a
remainder of one.

:class:`GuardedMaskablePPO` and :class:`GuardedRecurrentPPO` are those algorithms with
rollout buffers that leave such a minibatch out of the update (while advantages are
normalized): that one step of the rollout enters no gradient step in that epoch, every
other step enters exactly one. Nothing else changes: the other minibatches, their order and
numpy's random draws are sb3-contrib's.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from gymnasium import spaces
from sb3_contrib import MaskablePPO, RecurrentPPO
from sb3_contrib.common.maskable.buffers import MaskableDictRolloutBuffer, MaskableRolloutBuffer
from sb3_contrib.common.recurrent.buffers import (
    RecurrentDictRolloutBuffer,
    RecurrentRolloutBuffer,
)


def steps_in(samples: Any) -> int:
    """The steps a minibatch holds.

    Args:
        samples: A recurrent buffer's samples (padded: its ``mask`` marks the real steps),
            a masked buffer's samples, or an array of sample indices (what
            :mod:`meta.numpy_ppo` draws through a buffer's ``get``).
    """
    mask = getattr(samples, "mask", None)
    if mask is not None:
        return int((mask > 1e-8).sum())
    return len(getattr(samples, "actions", samples))


class _LeavesOutLoneSteps:
    """A rollout buffer whose ``get`` leaves out a minibatch of one step (see the module).

    Attributes:
        leave_out_lone_steps: Whether it does (the algorithm sets it: only while
            advantages are normalized).
    """

    leave_out_lone_steps = True

    def get(self, batch_size: int | None = None) -> Generator[Any, None, None]:
        """The buffer's minibatches (sb3-contrib's), without one of a single step."""
        for samples in super().get(batch_size):  # type: ignore[misc]
            if not self.leave_out_lone_steps or steps_in(samples) > 1:
                yield samples


class GuardedMaskableRolloutBuffer(_LeavesOutLoneSteps, MaskableRolloutBuffer):
    """sb3-contrib's masked rollout buffer without minibatches of one step."""


class GuardedMaskableDictRolloutBuffer(_LeavesOutLoneSteps, MaskableDictRolloutBuffer):
    """sb3-contrib's masked buffer of dict observations without minibatches of one step."""


class GuardedRecurrentRolloutBuffer(_LeavesOutLoneSteps, RecurrentRolloutBuffer):
    """sb3-contrib's recurrent rollout buffer without minibatches of one step."""


class GuardedRecurrentDictRolloutBuffer(_LeavesOutLoneSteps, RecurrentDictRolloutBuffer):
    """sb3-contrib's recurrent buffer of dict observations without minibatches of one step."""


class GuardedMaskablePPO(MaskablePPO):
    """sb3-contrib's MaskablePPO whose update never normalizes a minibatch of one step.

    A ``rollout_buffer_class`` passed in is kept as given.
    """

    def _setup_model(self) -> None:
        if self.rollout_buffer_class is None:
            dict_obs = isinstance(self.observation_space, spaces.Dict)
            self.rollout_buffer_class = (
                GuardedMaskableDictRolloutBuffer if dict_obs else GuardedMaskableRolloutBuffer
            )
        super()._setup_model()
        _guard(self)


class GuardedRecurrentPPO(RecurrentPPO):
    """sb3-contrib's RecurrentPPO whose update never normalizes a minibatch of one step."""

    def _setup_model(self) -> None:
        super()._setup_model()  # builds sb3-contrib's buffer; replaced by the same, guarded
        buffer = self.rollout_buffer
        guarded = (
            GuardedRecurrentDictRolloutBuffer
            if isinstance(self.observation_space, spaces.Dict)
            else GuardedRecurrentRolloutBuffer
        )
        self.rollout_buffer = guarded(
            buffer.buffer_size,
            buffer.observation_space,
            buffer.action_space,
            buffer.hidden_state_shape,
            buffer.device,
            gae_lambda=buffer.gae_lambda,
            gamma=buffer.gamma,
            n_envs=buffer.n_envs,
        )
        _guard(self)


def _guard(model: MaskablePPO | RecurrentPPO) -> None:
    """Leave out minibatches of one step only while the update normalizes advantages."""
    if isinstance(model.rollout_buffer, _LeavesOutLoneSteps):
        model.rollout_buffer.leave_out_lone_steps = bool(model.normalize_advantage)


__all__ = [
    "GuardedMaskableDictRolloutBuffer",
    "GuardedMaskablePPO",
    "GuardedMaskableRolloutBuffer",
    "GuardedRecurrentDictRolloutBuffer",
    "GuardedRecurrentPPO",
    "GuardedRecurrentRolloutBuffer",
    "steps_in",
]
