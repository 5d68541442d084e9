"""``AutoRL/NasMdp-v0``: neural architecture search as a decision process (Zoph & Le 2017).

An episode writes one child CNN, token by token, in the order of
:meth:`envs.nas_space.NasSpace.decisions` (per layer: filter height (2-D data), filter width,
number of filters, stride when there is a stride option, then one skip decision per earlier
layer). The episode ends when the architecture is complete; the reward comes at the end
only: the child's validation accuracy after a short training (:mod:`envs.nas_children`),
optionally raised to a power (Zoph & Le cubed it).

Decisions of different arity: one ``Discrete(max arity)`` action space (4 with the default
choices) and **action masking** (:meth:`NasMdpEnv.action_masks`, the sb3-contrib
``MaskablePPO`` protocol): at a decision with ``k`` choices, actions ``0..k-1`` are
allowed. A masked action passed to :meth:`NasMdpEnv.step` raises ``ValueError`` naming the
position and the decision; it is never mapped onto a valid one.

Observation: ``Box(0, high, (T + 1,), int64)``: entry ``t < T`` is 0 while decision ``t``
is pending and ``1 + index`` once taken; the last entry is the current position ``t``
(``T`` when complete). :class:`policies.controller.TokenLstmExtractor` reads it as the
controller's token sequence.

Evaluation (``evaluator``):

- ``"train"`` (default): the child is trained here, in this process
  (:class:`envs.nas_children.ChildEvaluator` with ``recipe`` and ``reward_power``).
- ``None``: the terminal step has reward 0 and hands the architecture over in
  ``info["artifact"]``, for :class:`envs.deferred.DeferredRewardVecEnv` (and
  :class:`envs.nas_vec.NasVecEnv`), which train children on an executor.
- any callable ``(artifact, info) -> (reward, info)``.

An architecture that cannot be built (a spatial size that collapses with ``"valid"``
padding, more parameters than ``max_params``) gets reward 0 and ``info["invalid"]`` with the
reason. The terminal ``info`` always has ``"architecture"`` (:meth:`Architecture.to_dict`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from envs.nas_space import DEFAULT_LAYERS, Decision, NasSpace

if TYPE_CHECKING:
    from envs.deferred import Evaluator


class NasMdpEnv(gym.Env):
    """Zoph & Le's controller MDP: emit a child architecture, get its validation accuracy.

    Args:
        dataset: ``mnist1d`` (1-D data: a width token per layer) or ``digits`` (2-D: height
            and width tokens).
        layers: Number of convolutions ``L`` (>= 1; default 6).
        strides: Stride choices; ``(1,)`` (default) makes no stride decision, ``(1, 2, 3)``
            is Zoph & Le's stride option.
        skips: Zoph & Le's skip connections (anchor points); False: a plain chain.
        evaluator: ``"train"``, ``None`` or a callable (see the module docstring).
        recipe: The children's training recipe (:class:`envs.nas_children.ChildRecipe`;
            None: its defaults); used by ``evaluator="train"``.
        reward_power: The reward is the validation accuracy to this power (> 0).
        render_mode: ``"ansi"`` or None.

    Raises:
        ValueError: an unknown dataset, ``layers < 1``, bad choices or a bad evaluator.
    """

    metadata = {"render_modes": ["ansi"]}

    def __init__(
        self,
        dataset: str = "mnist1d",
        layers: int = DEFAULT_LAYERS,
        strides: Sequence[int] = (1,),
        skips: bool = True,
        evaluator: str | Evaluator | None = "train",
        recipe: Any = None,
        reward_power: float = 1.0,
        render_mode: str | None = None,
    ):
        from envs.nas_children import dataset_dims

        self.dataset = dataset
        self.space = NasSpace(
            layers=layers, dims=dataset_dims(dataset), strides=tuple(strides), skips=skips
        )
        self.evaluator = _evaluator(evaluator, dataset, recipe, reward_power)
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self.render_mode = render_mode
        self.decisions: tuple[Decision, ...] = self.space.decisions()
        steps = len(self.decisions)
        self.action_space = gym.spaces.Discrete(self.space.max_arity)
        high = max(self.space.max_arity, steps)
        self.observation_space = gym.spaces.Box(0, high, shape=(steps + 1,), dtype=np.int64)
        self._actions: list[int] = []

    @property
    def position(self) -> int:
        """The index of the next decision (``len(decisions)`` when complete)."""
        return len(self._actions)

    @property
    def decision(self) -> Decision | None:
        """The pending decision (None when the architecture is complete)."""
        if self.position >= len(self.decisions):
            return None
        return self.decisions[self.position]

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a new architecture (the MDP is deterministic; ``seed`` seeds nothing else)."""
        super().reset(seed=seed)
        self._actions = []
        return self._observation(), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Take decision ``action`` (an index into the pending decision's choices).

        Raises:
            ValueError: the architecture is complete, or ``action`` is masked.
        """
        decision = self.decision
        if decision is None:
            raise ValueError("the architecture is complete: call reset() first")
        index = int(action)
        if not 0 <= index < decision.arity:
            raise ValueError(
                f"action {action} at position {self.position} ({decision.kind} of layer "
                f"{decision.layer}) is masked: allowed 0..{decision.arity - 1}"
            )
        self._actions.append(index)
        if self.decision is not None:
            return self._observation(), 0.0, False, False, {}
        architecture = self.space.decode(self._actions).to_dict()
        info: dict[str, Any] = {"architecture": architecture}
        reward = 0.0
        if self.evaluator is None:
            info["artifact"] = architecture
        else:
            reward, extra = self.evaluator(architecture, {})
            info.update(extra)
        return self._observation(), float(reward), True, False, info

    def action_masks(self) -> np.ndarray:
        """Allowed actions at the pending decision (all, once the architecture is complete)."""
        mask = np.zeros(self.action_space.n, dtype=bool)
        decision = self.decision
        mask[: decision.arity if decision is not None else self.action_space.n] = True
        return mask

    def render(self) -> str | None:
        """The decisions so far, as text (``render_mode="ansi"``)."""
        if self.render_mode != "ansi":
            return None
        parts = [
            f"{d.layer}.{d.kind}{'' if d.source < 0 else d.source}={d.choices[a]}"
            for d, a in zip(self.decisions, self._actions)
        ]
        return " ".join(parts)

    def _observation(self) -> np.ndarray:
        observation = np.zeros(len(self.decisions) + 1, dtype=np.int64)
        observation[: self.position] = np.asarray(self._actions, dtype=np.int64) + 1
        observation[-1] = self.position
        return observation


def _evaluator(
    evaluator: str | Evaluator | None, dataset: str, recipe: Any, power: float
) -> Evaluator | None:
    if evaluator is None:
        return None
    if evaluator == "train":
        from envs.nas_children import ChildEvaluator, ChildRecipe

        return ChildEvaluator(dataset, recipe or ChildRecipe(), power)
    if callable(evaluator):
        return evaluator
    raise ValueError(f"evaluator must be 'train', None or a callable, got {evaluator!r}")


__all__ = ["NasMdpEnv"]
