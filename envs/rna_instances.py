"""RNA design as instances and a judgement: target sets and the evaluation of a design.

* :class:`TargetSet` is the :class:`~envs.instances.InstanceDistribution` of RNA design: a
  fixed list of :class:`~envs.dot_bracket.Target` s (a training file, a benchmark dataset)
  from which meta-training samples and an evaluation set is taken.
* :class:`RnaDesignEvaluation` is its :class:`~envs.instances.EvaluationProtocol`: a design
  (a sequence) scores the Hamming distance between its MFE structure under the energy model
  and the target; it is solved at distance 0 when it also satisfies every constraint (the
  target's IUPAC codes, the run's GC range and forbidden motifs); ``verify`` refolds it.

The rule itself is :func:`design_score` and :func:`is_solved`, so that code holding a
design's distance and constraint check (a reported design, a results.csv row) judges it the
same way without folding again. Folding is :mod:`envs.folding`'s, the constraint checks
:mod:`envs.constraints`'.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from envs.constraints import DesignConstraints, constraint_report, gc_content, violations
from envs.dot_bracket import Target, read_targets
from envs.folding import EnergyModel, design_metrics, hamming, mfe_structure

__all__ = ["RnaDesignEvaluation", "TargetSet", "design_score", "is_solved", "targets_sha256"]

#: The letters of a designed sequence.
NUCLEOTIDES = frozenset("ACGU")


@dataclass(frozen=True)
class TargetSet:
    """A fixed list of targets, drawn from uniformly (the instances of RNA design).

    Attributes:
        targets: The targets, in file order; ids are unique.
        name: A short name for logs and run records (a file's stem by default).
        source: Where the targets came from (a file path), or "" when they were given.
    """

    targets: tuple[Target, ...]
    name: str = "targets"
    source: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "targets", tuple(self.targets))
        if not self.targets:
            raise ValueError(f"target set {self.name!r} has no targets")
        if not all(isinstance(target, Target) for target in self.targets):
            raise ValueError(f"target set {self.name!r}: every target must be a Target")
        seen: set[str] = set()
        for target in self.targets:
            if target.id in seen:
                raise ValueError(f"target set {self.name!r}: duplicate target id {target.id!r}")
            seen.add(target.id)

    @classmethod
    def from_file(cls, path: str | Path, name: str | None = None) -> TargetSet:
        """Read a target file (any format :func:`envs.dot_bracket.read_targets` accepts).

        Args:
            path: The file.
            name: The set's name (default: the file's stem).

        Raises:
            InvalidStructureError: the file is missing or malformed.
        """
        return cls(tuple(read_targets(path)), name or Path(path).stem, str(path))

    def __len__(self) -> int:
        return len(self.targets)

    def sample(self, rng: np.random.Generator) -> Target:
        """One target drawn uniformly with ``rng``.

        One ``rng.integers(len(self))`` draw, as :class:`envs.rna_design.RnaDesignEnv` draws
        a training target at every reset.
        """
        return self.targets[int(rng.integers(len(self.targets)))]

    def fixed(self, count: int, seed: int) -> list[Target]:
        """``count`` distinct targets, a uniform sample seeded by ``seed``, in file order.

        The whole set (``count == len(self)``) is every target in file order, whatever the
        seed: a benchmark dataset or a validation file evaluated in full.

        Raises:
            ValueError: ``count`` is below 1 or above the number of targets.
        """
        if not 1 <= count <= len(self.targets):
            raise ValueError(
                f"target set {self.name!r} has {len(self.targets)} targets; cannot take "
                f"{count} (count must be in 1..{len(self.targets)})"
            )
        if count == len(self.targets):
            return list(self.targets)
        chosen = np.random.default_rng(seed).choice(len(self.targets), count, replace=False)
        return [self.targets[index] for index in sorted(int(i) for i in chosen)]

    def describe(self) -> dict[str, Any]:
        """A JSON-ready record: name, source, size, lengths, constraints and a content hash.

        ``sha256`` hashes the targets themselves (ids, structures, constraints), so the same
        targets give the same hash whatever the file's format.
        """
        lengths = [len(target) for target in self.targets]
        return {
            "kind": "rna-targets",
            "name": self.name,
            "source": self.source,
            "count": len(self.targets),
            "length": {
                "min": min(lengths),
                "max": max(lengths),
                "mean": round(sum(lengths) / len(lengths), 2),
            },
            "constrained": sum(target.constraint is not None for target in self.targets),
            "sha256": targets_sha256(self.targets),
        }


def targets_sha256(targets: Iterable[Target]) -> str:
    """SHA-256 of the targets as ``id<TAB>structure<TAB>constraint`` lines (a content hash)."""
    digest = hashlib.sha256()
    for target in targets:
        digest.update(f"{target.id}\t{target.structure}\t{target.constraint or ''}\n".encode())
    return digest.hexdigest()


def design_score(distance: int, constraints_ok: bool) -> float:
    """The score of a design: its Hamming distance, or ``inf`` when it breaks a constraint.

    A design that breaks a constraint is no solution however it folds, and it ranks below
    every design that keeps them all.
    """
    return float(distance) if constraints_ok else math.inf


def is_solved(score: float) -> bool:
    """Whether a design's score (:func:`design_score`) is a solution (distance 0, valid)."""
    return score == 0


@dataclass(frozen=True)
class RnaDesignEvaluation:
    """The evaluation protocol of RNA design: folds a design under one energy model.

    The instance is a :class:`Target` (its structure and IUPAC constraint), the solution a
    designed sequence over ``ACGU``.

    Attributes:
        energy: The energy model designs are folded under.
        constraints: The GC range and forbidden motifs every design must keep (the IUPAC
            codes come from each target).
    """

    energy: EnergyModel = field(default_factory=EnergyModel)
    constraints: DesignConstraints = field(default_factory=DesignConstraints)

    def __post_init__(self) -> None:
        if self.constraints.sequence is not None:
            raise ValueError(
                "sequence constraints come from the targets (Target.constraint), not the "
                "evaluation's constraints"
            )

    def rules(self, target: Target) -> DesignConstraints:
        """Every constraint a design of ``target`` must keep."""
        return self.constraints.with_sequence(target.constraint)

    def problems(self, target: Target, sequence: str) -> list[str]:
        """Why ``sequence`` is not a valid design of ``target``, one message each.

        Empty when it is an ``ACGU`` sequence of the target's length that keeps every
        constraint (whether it folds into the target is not checked here).
        """
        malformed = _malformed(target, sequence)
        return [malformed] if malformed else violations(sequence, self.rules(target))

    def score(self, target: Target, sequence: str) -> float:
        """Hamming distance between the target and the design's MFE structure (one fold).

        A sequence that is not a valid design of the target (see :meth:`problems`) scores
        ``inf``.
        """
        if self.problems(target, sequence):
            return math.inf
        return design_score(hamming(mfe_structure(sequence, self.energy), target.structure), True)

    def solved(self, target: Target, score: float) -> bool:
        """Distance 0 and every constraint kept (:func:`is_solved`)."""
        return is_solved(score)

    def verify(self, target: Target, sequence: str) -> bool:
        """Recheck with a fresh fold: a valid design whose MFE structure is the target."""
        if self.problems(target, sequence):
            return False
        return mfe_structure(sequence, self.energy) == target.structure

    def metrics(self, target: Target, sequence: str) -> dict[str, Any]:
        """The design's quality (one partition function, ~3 folds), JSON-ready.

        Returns:
            ``problems`` (:meth:`problems`) and, for an ``ACGU`` sequence of the target's
            length, :func:`envs.folding.design_metrics`' figures (``mfe_structure``,
            ``mfe_energy``, ``distance``, ``probability``, ``ensemble_defect``) with
            ``gc_content``, ``constraints`` (which set constraint holds) and
            ``constraints_ok``; the score is ``design_score(distance, constraints_ok)``.
        """
        problems = self.problems(target, sequence)
        if _malformed(target, sequence):
            return {"problems": problems}
        report = constraint_report(sequence, self.rules(target))
        return {
            **design_metrics(sequence, target.structure, self.energy),
            "gc_content": gc_content(sequence),
            "constraints": report,
            "constraints_ok": all(report.values()),
            "problems": problems,
        }


def _malformed(target: Target, sequence: str) -> str | None:
    """Why ``sequence`` cannot be a design of ``target`` at all (None: it can)."""
    if not sequence or set(sequence) - NUCLEOTIDES:
        return "the sequence is not an ACGU sequence"
    if len(sequence) != len(target):
        return f"the sequence has {len(sequence)} nt, the target {len(target)}"
    return None
