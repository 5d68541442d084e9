"""The quality of a reported design, beyond "its MFE structure matches".

Every design ``autorl design`` reports carries its MFE structure and energy, its Hamming
distance, the probability of the target structure in the Boltzmann ensemble, the
normalized ensemble defect (NUPACK's and SAMFEO's measure), its GC content and which
constraints hold; :func:`rank_designs` orders several designs of one target. A design is
judged by RNA design's evaluation protocol (:mod:`envs.rna_instances`), as the benchmark
runner and report judge theirs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from envs.constraints import DesignConstraints
from envs.dot_bracket import Target
from envs.folding import EnergyModel
from envs.rna_instances import RnaDesignEvaluation, design_score, is_solved

#: How ``num_solutions`` designs are ordered: fewest mismatches, most probable target
#: structure, or lowest normalized ensemble defect (ties keep the order found).
RANKINGS = ("distance", "probability", "ensemble-defect")


@dataclass(frozen=True)
class DesignedSequence:
    """One reported design and its quality.

    Attributes:
        sequence: The designed sequence.
        mfe_structure: Its minimum-free-energy structure.
        mfe_energy: The MFE in kcal/mol.
        distance: Hamming distance between ``mfe_structure`` and the target.
        probability: Probability of the target structure in the Boltzmann ensemble.
        ensemble_defect: Normalized ensemble defect (0 is perfect).
        gc_content: Fraction of G and C.
        constraints: Which of the set constraints it satisfies (``sequence``, ``gc``,
            ``forbid``).
    """

    sequence: str
    mfe_structure: str
    mfe_energy: float
    distance: int
    probability: float
    ensemble_defect: float
    gc_content: float
    constraints: dict[str, bool] = field(default_factory=dict)

    @property
    def score(self) -> float:
        """The evaluation protocol's score: the distance, ``inf`` when a constraint breaks."""
        return design_score(self.distance, self.satisfies_constraints)

    @property
    def solved(self) -> bool:
        """Folds into the target and satisfies every constraint."""
        return is_solved(self.score)

    @property
    def satisfies_constraints(self) -> bool:
        """Every constraint that was set holds."""
        return all(self.constraints.values())

    @classmethod
    def measure(
        cls,
        sequence: str,
        target: str,
        constraints: DesignConstraints | None = None,
        energy: EnergyModel | None = None,
    ) -> DesignedSequence:
        """Fold and score ``sequence`` against ``target`` (one partition function).

        Args:
            sequence: The design, over ``ACGU``.
            target: The target structure.
            constraints: Every constraint the design must keep (its IUPAC codes included).
            energy: The energy model (None: ViennaRNA's default).

        Raises:
            ValueError: ``sequence`` is not an ``ACGU`` sequence of the target's length.
        """
        rules = constraints or DesignConstraints()
        evaluation = RnaDesignEvaluation(energy or EnergyModel(), rules.with_sequence(None))
        metrics = evaluation.metrics(Target("design", target, rules.sequence), sequence)
        if "mfe_structure" not in metrics:
            raise ValueError(f"cannot measure a design: {metrics['problems'][0]}")
        return cls(
            sequence=sequence,
            mfe_structure=metrics["mfe_structure"],
            mfe_energy=metrics["mfe_energy"],
            distance=metrics["distance"],
            probability=metrics["probability"],
            ensemble_defect=metrics["ensemble_defect"],
            gc_content=round(metrics["gc_content"], 4),
            constraints=metrics["constraints"],
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dict(asdict(self), solved=self.solved)


def rank_designs(designs: list[DesignedSequence], rank_by: str) -> list[DesignedSequence]:
    """Order designs by :data:`RANKINGS` ``rank_by`` (stable; constraint-breakers last)."""
    if rank_by not in RANKINGS:
        raise ValueError(f"unknown ranking {rank_by!r}; choose one of {', '.join(RANKINGS)}")
    keys = {
        "distance": lambda d: (d.distance, d.ensemble_defect),
        "probability": lambda d: (-d.probability, d.distance),
        "ensemble-defect": lambda d: (d.ensemble_defect, d.distance),
    }
    return sorted(designs, key=lambda d: (not d.satisfies_constraints, *keys[rank_by](d)))
