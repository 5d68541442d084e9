"""One CartPole physics at a time: the tasks of adaptation and of evaluation on unseen contexts.

Meta-training (``autorl meta-train --task cartpole-variants``) trains one policy over
physics contexts drawn from :data:`envs.cartpole_variants.TRAINING_RANGES`, with the
normalized context appended to the observation. *Adapting* it means training on one fixed
context; this module builds that task:

* :func:`parse_context` reads ``gravity=12,length=0.8`` (the CLI's ``--context``); the
  features not named keep CartPole-v1's values.
* :func:`context_spec` turns a CartPole agent spec into the spec of one context: the same
  name, default configuration and threshold, an environment whose physics is always that
  context. For ``cartpole-variants`` the observation still carries the context, normalized
  over the *training* ranges exactly as during meta-training (a context outside them reads
  outside [-1, 1]), so a meta-trained policy sees what it was trained to read. For
  ``cartpole`` the observation is CartPole's four numbers.
* :class:`CartPoleContexts` is the instance distribution of the CartPole tasks
  (:class:`envs.instances.InstanceDistribution`'s protocol): contexts drawn uniformly from
  ranges, and :class:`PolicyEvaluation` its evaluation protocol (a policy's mean return in a
  context: score, solved, verify). :func:`unseen_contexts` draws the evaluation contexts from
  :data:`envs.cartpole_variants.TEST_RANGES` (each training range widened to
  ``(low / 2, 1.5 * high)``) with their own seed.

Importing this module is light (no torch, gymnasium or SB3).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np

from envs.cartpole_variants import (
    FEATURES,
    RANGE_PRESETS,
    TEST_RANGES,
    TRAINING_RANGES,
    CartPoleContext,
    ContextRanges,
    RangesLike,
    resolve_ranges,
)
from meta.agents import AgentSpec, make_cartpole_env

#: The CartPole tasks and whether their observation carries the (normalized) context.
OBSERVES_CONTEXT: dict[str, bool] = {"cartpole": False, "cartpole-variants": True}
#: The ranges the ``cartpole-variants`` observation normalizes the context over.
NORMALIZATION = "train"


def parse_context(text: str) -> CartPoleContext:
    """The context ``feature=value,feature=value`` (others: CartPole-v1's values).

    Raises:
        ValueError: An empty text, a part without ``=``, a repeated or unknown feature, or
            a value that is not a finite positive number; the message names the part.
    """
    values: dict[str, float] = {}
    parts = [part.strip() for part in text.split(",")]
    if not text.strip():
        raise ValueError(f"--context: empty; give feature=value pairs of {', '.join(FEATURES)}")
    for position, part in enumerate(parts, start=1):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ValueError(f"--context part {position} {part!r}: expected feature=value")
        if name in values:
            raise ValueError(f"--context part {position}: {name} is given twice")
        try:
            values[name] = float(value)
        except ValueError:
            raise ValueError(
                f"--context part {position} {part!r}: {value.strip()!r} is not a number"
            ) from None
    try:
        return CartPoleContext.from_mapping(values)
    except ValueError as error:
        raise ValueError(f"--context: {error}") from None


def parse_ranges(text: str, base: ContextRanges = TRAINING_RANGES) -> ContextRanges:
    """Context ranges from the CLI's ``--ranges``.

    ``text`` is a preset (``train``, ``test``, ``default``) or ``feature=low:high`` /
    ``feature=value`` pairs separated by commas; the features not named keep ``base``'s
    ranges (the training ranges).

    Raises:
        ValueError: An unknown preset or feature, a malformed part, min > max or a bound
            that is not positive; the message names the part or the feature.
    """
    text = text.strip()
    if text in RANGE_PRESETS:
        return RANGE_PRESETS[text]
    if not text:
        raise ValueError(f"--ranges: empty; give a preset ({', '.join(RANGE_PRESETS)}) or pairs")
    values: dict[str, tuple[float, float]] = {}
    for position, part in enumerate(text.split(","), start=1):
        name, sep, value = part.strip().partition("=")
        name = name.strip()
        if not sep or not name:
            raise ValueError(f"--ranges part {position} {part.strip()!r}: expected feature=min:max")
        if name in values:
            raise ValueError(f"--ranges part {position}: {name} is given twice")
        low, colon, high = value.partition(":")
        try:
            bounds = (float(low), float(high if colon else low))
        except ValueError:
            raise ValueError(
                f"--ranges part {position} {part.strip()!r}: expected numbers min:max"
            ) from None
        values[name] = bounds
    try:
        return ContextRanges.from_mapping(values, base=base)
    except ValueError as error:
        raise ValueError(f"--ranges: {error}") from None


def ranges_record(ranges: ContextRanges) -> dict[str, list[float]]:
    """``ranges`` as JSON values (``run.json``, checkpoints)."""
    return {name: list(bounds) for name, bounds in ranges.as_dict().items()}


def context_text(context: CartPoleContext) -> str:
    """``context`` as ``--context`` reads it (round trip of :func:`parse_context`)."""
    return ",".join(f"{name}={value:.6g}" for name, value in context.as_dict().items())


def _check_cartpole(spec: AgentSpec, option: str) -> None:
    if spec.name not in OBSERVES_CONTEXT:
        raise ValueError(
            f"task {spec.name!r} has no physics context; {option} applies to "
            f"{', '.join(OBSERVES_CONTEXT)}"
        )


def ranges_spec(spec: AgentSpec, ranges: ContextRanges) -> AgentSpec:
    """The spec of ``cartpole-variants`` drawing its contexts from ``ranges``.

    The observation normalizes the context over ``ranges``.

    Raises:
        ValueError: ``spec`` is not ``cartpole-variants`` (``cartpole`` is CartPole-v1:
            fix its physics with :func:`context_spec`).
    """
    if not OBSERVES_CONTEXT.get(spec.name, False):
        raise ValueError(
            f"--ranges: task {spec.name!r} does not draw contexts; use --task "
            "cartpole-variants (or --context to fix one physics)"
        )
    make_env = functools.partial(make_cartpole_env, ranges=ranges, context_in_observation=True)
    return dataclasses.replace(spec, summary=f"{spec.summary} (custom ranges)", make_env=make_env)


def context_spec(
    spec: AgentSpec, context: CartPoleContext, normalization: RangesLike = NORMALIZATION
) -> AgentSpec:
    """The spec of ``spec``'s task with its physics fixed at ``context``.

    Args:
        spec: ``cartpole`` or ``cartpole-variants``.
        context: The physics of every episode.
        normalization: For ``cartpole-variants``: the ranges the observation normalizes
            the context over -- those the policy to adapt was trained on.

    Raises:
        ValueError: ``spec`` is not a CartPole task.
    """
    _check_cartpole(spec, "--context")
    observes = OBSERVES_CONTEXT[spec.name]
    make_env = functools.partial(
        make_cartpole_env,
        ranges=ContextRanges.point(context),
        context_in_observation=observes,
        normalization_ranges=resolve_ranges(normalization) if observes else None,
    )
    return dataclasses.replace(
        spec, summary=f"{spec.summary}; fixed context {context_text(context)}", make_env=make_env
    )


@dataclasses.dataclass(frozen=True)
class CartPoleContexts:
    """Physics contexts drawn uniformly, feature by feature, from ranges.

    The instance distribution of the CartPole tasks (the protocol of
    :class:`envs.instances.InstanceDistribution`).

    Attributes:
        ranges: The ranges (a preset name, a mapping or :class:`ContextRanges`).
        name: What the ranges are called in records.
    """

    ranges: ContextRanges
    name: str = "contexts"

    @classmethod
    def of(cls, ranges: RangesLike, name: str | None = None) -> CartPoleContexts:
        """The distribution over ``ranges`` (a preset name names it)."""
        resolved = resolve_ranges(ranges)
        return cls(resolved, name or (ranges if isinstance(ranges, str) else "contexts"))

    def sample(self, rng: np.random.Generator) -> CartPoleContext:
        """One context drawn with ``rng``."""
        return self.ranges.sample(rng)

    def fixed(self, count: int, seed: int) -> list[CartPoleContext]:
        """``count`` contexts drawn from a generator seeded with ``seed`` (reproducible).

        Raises:
            ValueError: ``count`` < 1 or ``seed`` < 0.
        """
        if count < 1:
            raise ValueError(f"the number of contexts must be >= 1, got {count}")
        if seed < 0:
            raise ValueError(f"the context seed must be >= 0, got {seed}")
        rng = np.random.default_rng(seed)
        return [self.sample(rng) for _ in range(count)]

    def describe(self) -> dict[str, Any]:
        """The ranges as JSON values."""
        return {
            "name": self.name,
            "ranges": {key: list(value) for key, value in self.ranges.as_dict().items()},
        }


@dataclasses.dataclass(frozen=True)
class PolicyEvaluation:
    """The evaluation protocol of the CartPole tasks: a policy (the solution) in a context.

    The protocol of :class:`envs.instances.EvaluationProtocol`: ``score`` is how far the
    mean return of ``episodes`` episodes with deterministic actions falls short of the
    most an episode can return (0: every episode balanced to the time limit), ``solved``
    compares the mean return with the threshold, and ``verify`` plays ``episodes`` more
    episodes on other seeds and checks the threshold again.

    Attributes:
        task: The CartPole task whose observation the policy reads.
        episodes: Episodes per judgement.
        seed: Seed of the first episode's environment.
        threshold: The mean return that counts as solved.
        max_return: The largest return of an episode (CartPole-v1's time limit).
        normalization: The ranges the policy reads contexts over (those it was trained on).
    """

    task: str = "cartpole-variants"
    episodes: int = 20
    seed: int = 0
    threshold: float = 475.0
    max_return: float = 500.0
    normalization: RangesLike = NORMALIZATION

    def mean_return(self, context: CartPoleContext, model: Any, seed: int | None = None) -> float:
        """Mean return of ``model`` (an SB3 algorithm) in ``context``, deterministic actions."""
        from stable_baselines3.common.evaluation import evaluate_policy

        from meta.agents import agent_spec

        spec = context_spec(agent_spec(self.task), context, self.normalization)
        env = spec.make_env(1, self.seed if seed is None else seed, None)
        try:
            mean, _ = evaluate_policy(model, env, n_eval_episodes=self.episodes, deterministic=True)
        finally:
            env.close()
        return float(mean)

    def score(self, context: CartPoleContext, model: Any) -> float:
        """``max_return`` minus the mean return (lower is better, 0 perfect)."""
        return max(0.0, self.max_return - self.mean_return(context, model))

    def solved(self, context: CartPoleContext, score: float) -> bool:
        """Whether the mean return behind ``score`` reaches the threshold."""
        return self.max_return - score >= self.threshold

    def verify(self, context: CartPoleContext, model: Any) -> bool:
        """The threshold reached again on ``episodes`` episodes of other seeds."""
        again = self.mean_return(context, model, self.seed + 1_000_003)
        return again >= self.threshold


def unseen_contexts(count: int, seed: int = 0) -> list[CartPoleContext]:
    """``count`` evaluation contexts from :data:`TEST_RANGES`, drawn with ``seed``."""
    return CartPoleContexts(TEST_RANGES, "test").fixed(count, seed)


__all__ = [
    "NORMALIZATION",
    "OBSERVES_CONTEXT",
    "CartPoleContexts",
    "PolicyEvaluation",
    "context_spec",
    "context_text",
    "parse_context",
    "parse_ranges",
    "ranges_record",
    "ranges_spec",
    "unseen_contexts",
]
