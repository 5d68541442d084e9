"""One task layer: the instances a task is made of, and how a solution of one is judged.

Every task of autorl has instances (RNA design: target structures; CartPole: physics
contexts) and a judgement of a solution (a designed sequence, a trained policy's return).
Meta-training draws its training instances from an :class:`InstanceDistribution`; the
benchmark runner, validation and the report judge a solution with an
:class:`EvaluationProtocol`, so that "solved" means the same everywhere.

* :class:`InstanceDistribution`: ``sample(rng)`` one instance (the next training target),
  ``fixed(count, seed)`` a reproducible evaluation set, ``describe()`` a JSON-ready record.
* :class:`EvaluationProtocol`: ``score`` (lower is better, 0 is perfect), ``solved`` (a
  score that counts as a solution) and ``verify`` (an independent recheck of a solution).
* :func:`judge` applies a protocol to one solution and returns a :class:`Verdict`.

This module is domain-neutral and light: it imports neither ViennaRNA nor torch (the RNA
implementations are in :mod:`envs.rna_instances`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

__all__ = ["EvaluationProtocol", "InstanceDistribution", "Verdict", "judge"]

#: The instance type of a task (RNA: :class:`envs.dot_bracket.Target`).
I = TypeVar("I")  # noqa: E741 - the conventional name of a type parameter
#: The solution type of a task (RNA: the designed sequence).
S = TypeVar("S")


@runtime_checkable
class InstanceDistribution(Protocol[I]):
    """Where a task's instances come from: a file of targets, ranges of physics contexts.

    Attributes:
        name: A short name for logs and run records (e.g. the file's stem, ``train``).
    """

    name: str

    def sample(self, rng: np.random.Generator) -> I:
        """One instance drawn with ``rng`` (e.g. the next training target).

        Args:
            rng: The source of every random draw (the caller's seeded generator).
        """
        ...

    def fixed(self, count: int, seed: int) -> list[I]:
        """A reproducible evaluation set: the same ``count`` instances for the same ``seed``.

        Args:
            count: How many instances.
            seed: Seed of any draw the set needs.

        Raises:
            ValueError: ``count`` is not a size this distribution can give.
        """
        ...

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description for run records (source file or ranges, sizes)."""
        ...


@runtime_checkable
class EvaluationProtocol(Protocol[I, S]):
    """How a solution of one instance is judged.

    A protocol may also offer ``metrics(instance, solution) -> dict`` (further JSON-ready
    figures of a solution); :func:`judge` records them in the verdict when it does.
    """

    def score(self, instance: I, solution: S) -> float:
        """The solution's score: lower is better, 0 is perfect (RNA: the Hamming distance)."""
        ...

    def solved(self, instance: I, score: float) -> bool:
        """Whether ``score`` (from :meth:`score`) counts as solving ``instance``."""
        ...

    def verify(self, instance: I, solution: S) -> bool:
        """An independent recheck that ``solution`` solves ``instance`` (a fresh computation).

        The report trusts a solution only when it passes this check, whatever was recorded.
        """
        ...


@dataclass(frozen=True)
class Verdict:
    """The judgement of one solution of one instance.

    Attributes:
        instance_id: The instance's id ("" when it has none).
        score: The protocol's score (lower is better, 0 is perfect; may be ``inf``).
        solved: Whether the score counts as a solution.
        verified: Whether the independent recheck confirmed the solution.
        metrics: Further figures of the solution (JSON-ready).
    """

    instance_id: str
    score: float
    solved: bool
    verified: bool
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        """Solved and confirmed by the recheck: what counts as a solution in a report."""
        return self.solved and self.verified

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (an infinite score is written as None, which JSON can hold)."""
        return {
            "instance_id": self.instance_id,
            "score": self.score if math.isfinite(self.score) else None,
            "solved": self.solved,
            "verified": self.verified,
            "metrics": dict(self.metrics),
        }


def judge(
    protocol: EvaluationProtocol[I, S],
    instance: I,
    solution: S,
    instance_id: str | None = None,
    *,
    with_metrics: bool = True,
) -> Verdict:
    """Score, decide and recheck one solution with ``protocol``.

    Args:
        protocol: The task's evaluation protocol.
        instance: The instance the solution is for.
        solution: The solution.
        instance_id: The id recorded in the verdict (default: the instance's ``id``
            attribute, or "" when it has none).
        with_metrics: Record the protocol's ``metrics(instance, solution)`` when it offers
            them (False: skip them where they cost, e.g. RNA's partition function).

    Returns:
        The verdict (``metrics`` empty when the protocol has none or they were skipped).

    Raises:
        ValueError: the protocol's score is NaN (a score must be comparable).
    """
    score = float(protocol.score(instance, solution))
    if math.isnan(score):
        raise ValueError(f"{type(protocol).__name__}.score returned NaN; a score must be a number")
    metrics: Mapping[str, Any] = {}
    metrics_of = getattr(protocol, "metrics", None)
    if with_metrics and callable(metrics_of):
        metrics = metrics_of(instance, solution)
    if instance_id is None:
        instance_id = str(getattr(instance, "id", ""))
    return Verdict(
        instance_id=instance_id,
        score=score,
        solved=bool(protocol.solved(instance, score)),
        verified=bool(protocol.verify(instance, solution)),
        metrics=dict(metrics),
    )
