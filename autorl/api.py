"""The Python API of RNA design, for notebooks and pipelines (``autorl design`` wraps it).

Example::

    from autorl import design

    results = design("((((....))))", sequence_constraint="NNNNGAAANNNN", gc=(0.4, 0.6),
                     time_limit=10)
    for result in results:
        best = result.designs[0]
        print(result.solved, best.sequence, best.probability, best.ensemble_defect)

Every argument is checked before any work: a malformed structure or constraint, an
infeasible constraint, an unknown energy parameter set, an unreadable parameter file or a
device this machine does not have (``device="cuda"`` without CUDA) raises ``ValueError``
naming the problem.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from envs.constraints import (
    ConstraintError,
    DesignConstraints,
    check_gc,
    parse_iupac,
    parse_motifs,
)
from envs.dot_bracket import Target, is_lonely, pair_table, parse_structure
from envs.folding import EnergyModel, check_energy_model

if TYPE_CHECKING:
    from envs.designability import DesignabilityReport
    from meta.checkpoints import Checkpoint
    from meta.config import LearnaConfig
    from meta.design import DesignProgress, DesignResult

__all__ = ["DesignRequest", "design", "designability", "prepare"]


@dataclass(frozen=True)
class DesignRequest:
    """Validated inputs of a design run: targets, constraints and energy model.

    Built by :func:`prepare`; the CLI builds one from its options, so both paths check
    the same things in the same way.

    Attributes:
        targets: The targets, each with its IUPAC constraint (if any).
        constraints: GC-content and forbidden-motif rules for every target.
        energy: The energy model.
    """

    targets: tuple[Target, ...]
    constraints: DesignConstraints
    energy: EnergyModel


def _as_targets(targets: str | Target | Iterable[str | Target]) -> list[Target]:
    items = [targets] if isinstance(targets, (str, Target)) else list(targets)
    if not items:
        raise ValueError("no target given")
    result = []
    for index, item in enumerate(items, start=1):
        if isinstance(item, Target):
            result.append(item)
        else:
            result.append(Target(str(index), parse_structure(item, source=f"target {index}")))
    return result


def _lonely_pairs(structure: str) -> list[int]:
    """1-based opening positions of base pairs with no stacked neighbour pair."""
    pairs = pair_table(structure)
    return [i + 1 for i, j in enumerate(pairs) if j > i and is_lonely(pairs, i, int(j))]


def prepare(
    targets: str | Target | Iterable[str | Target],
    *,
    sequence_constraint: str | None = None,
    gc: tuple[float, float] | Sequence[float] | None = None,
    forbid: str | Iterable[str] = (),
    temperature: float = 37.0,
    energy_params: str = "turner2004",
    dangles: int = 2,
    no_lonely_pairs: bool = False,
) -> DesignRequest:
    """Validate design inputs (see :func:`design` for the arguments).

    Raises:
        ValueError: a malformed target or constraint, a constraint given twice for one
            target, a target with lonely pairs under ``no_lonely_pairs``, or an unknown
            energy parameter set / unreadable parameter file.
    """
    target_list = _as_targets(targets)
    if sequence_constraint is not None:
        code = parse_iupac(sequence_constraint, source="sequence constraint")
        merged = []
        for target in target_list:
            if target.constraint is not None and target.constraint != code:
                raise ConstraintError(
                    f"target {target.id} has its own sequence constraint; give it either in "
                    "the target file or as the sequence constraint, not both"
                )
            if len(code) != len(target):
                raise ConstraintError(
                    f"the sequence constraint has {len(code)} codes, target {target.id} has "
                    f"{len(target)} sites"
                )
            merged.append(Target(target.id, target.structure, code))
        target_list = merged
    rules = DesignConstraints(
        gc=check_gc(gc) if gc is not None else None, forbid=parse_motifs(forbid)
    )
    energy = EnergyModel(float(temperature), str(energy_params), int(dangles), no_lonely_pairs)
    check_energy_model(energy)
    if no_lonely_pairs:
        for target in target_list:
            lonely = _lonely_pairs(target.structure)
            if lonely:
                raise ValueError(
                    f"target {target.id} has lonely base pairs (opening at positions "
                    f"{', '.join(map(str, lonely[:10]))}), which no MFE structure has when "
                    "lonely pairs are forbidden"
                )
    return DesignRequest(tuple(target_list), rules, energy)


def design(
    targets: str | Target | Iterable[str | Target],
    *,
    sequence_constraint: str | None = None,
    gc: tuple[float, float] | Sequence[float] | None = None,
    forbid: str | Iterable[str] = (),
    temperature: float = 37.0,
    energy_params: str = "turner2004",
    dangles: int = 2,
    no_lonely_pairs: bool = False,
    method: str = "meta-learna-adapt",
    model: str | Path | Checkpoint | None = None,
    config: LearnaConfig | str | Path | None = None,
    time_limit: float = 60.0,
    seed: int = 0,
    num_solutions: int = 1,
    rank_by: str = "distance",
    refinement: int | None = None,
    ensemble_share: float | None = None,
    ensemble_starts: int | None = None,
    quick_starts: int | None = None,
    ensemble_rivals: float | None = None,
    ensemble_late_share: float | None = None,
    local_improvement: int | None = None,
    device: str = "auto",
    workers: int = 1,
    pipeline: bool | None = None,
    on_progress: Callable[[DesignProgress], None] | None = None,
) -> list[DesignResult]:
    """Design sequences that fold into each target (under its constraints) until solved.

    Args:
        targets: A dot-bracket structure, a :class:`envs.dot_bracket.Target` (whose
            ``constraint`` is its IUPAC sequence constraint) or several of them.
        sequence_constraint: IUPAC codes, one per site, for every target (which must then
            have that length).
        gc: GC-content range ``(min, max)`` as fractions.
        forbid: Motifs (IUPAC) no design may contain, as a list or ``"AAAAA,GGGG"``.
        temperature: Degrees Celsius.
        energy_params: ``turner2004``, ``andronescu2007``, ``langdon2018`` or a parameter
            file's path.
        dangles: 0 or 2.
        no_lonely_pairs: Fold without lonely pairs.
        method: ``meta-learna-adapt`` (default), ``meta-learna`` or ``learna``; or
            ``stages``, the targeted starts and the ensemble stage without a policy (an
            ablation baseline: one solution per target).
        model: Checkpoint of the meta methods (default: the shipped model).
        config: A :class:`meta.config.LearnaConfig` or the path of a flat JSON
            configuration overriding the method's defaults.
        time_limit: Seconds per target.
        seed: Seed of everything random; the same seed gives the same designs.
        num_solutions: Distinct solutions to collect per target.
        rank_by: ``distance``, ``probability`` or ``ensemble-defect``.
        refinement: Fold budget of the refinement stage (an adaptive walk on each batch's
            closest near-miss); None: :data:`meta.design.DEFAULT_REFINEMENT`, 0: off.
        ensemble_share: Share of each target's time given to the ensemble refinement
            stage (:mod:`envs.ensemble_search`); None:
            :data:`meta.design.DEFAULT_ENSEMBLE_SHARE`, 0: off.
        ensemble_starts: SAMFEO's targeted starts the ensemble stage evaluates at its first
            turn (0-64); None: :data:`meta.design.DEFAULT_ENSEMBLE_STARTS`.
        quick_starts: Targeted starts folded before the policy's first batch (0-64);
            None: :data:`meta.design.DEFAULT_QUICK_STARTS`, 0: none.
        ensemble_rivals: Share, in [0, 1], of the ensemble stage's steps that are
            competitor steps (walks on folding energies against the wrong structures the
            run has met); None: :data:`meta.design.DEFAULT_ENSEMBLE_RIVALS`, 0: none.
        ensemble_late_share: The ensemble stage's share of each target's time, in
            [0, 1), once the schedule's horizon (``ensemble_horizon``, 10 s) has passed;
            None: :data:`meta.design.DEFAULT_ENSEMBLE_LATE_SHARE`, 0: ``ensemble_share``
            throughout.
        local_improvement: LEARNA's local improvement runs on the designs within this
            Hamming distance of the target (refolding the alternatives of their mismatched
            sites); None: :data:`meta.design.DEFAULT_LOCAL_IMPROVEMENT` (0: off; LEARNA's
            published setting is 5).
        device: Torch device of the policy: ``auto`` (CUDA when available), ``cpu``,
            ``cuda`` or ``cuda:N``. Folding always runs on the CPU.
        workers: Processes that fold designs in parallel.
        pipeline: With ``workers > 1``, update the policy while the next batch of
            designs folds, one rollout behind (about 1.2 times the episodes per second);
            None: :data:`meta.design.DEFAULT_PIPELINE`, False: fold, then update.
        on_progress: Called after every batch of episodes.

    Returns:
        One :class:`meta.design.DesignResult` per target, in order; each has ``designs``
        (typed :class:`meta.quality.DesignedSequence` objects with MFE structure and energy,
        distance, target probability, ensemble defect, GC content and which constraints
        hold), ranked by ``rank_by``.

    Raises:
        ValueError: bad input (see :func:`prepare`), an infeasible constraint, a missing or
            mismatched checkpoint, or a device this machine does not have (``cuda``
            without CUDA).
    """
    request = prepare(
        targets,
        sequence_constraint=sequence_constraint,
        gc=gc,
        forbid=forbid,
        temperature=temperature,
        energy_params=energy_params,
        dangles=dangles,
        no_lonely_pairs=no_lonely_pairs,
    )
    return run(
        request,
        method=method,
        model=model,
        config=config,
        time_limit=time_limit,
        seed=seed,
        num_solutions=num_solutions,
        rank_by=rank_by,
        refinement=refinement,
        ensemble_share=ensemble_share,
        ensemble_starts=ensemble_starts,
        quick_starts=quick_starts,
        ensemble_rivals=ensemble_rivals,
        ensemble_late_share=ensemble_late_share,
        local_improvement=local_improvement,
        device=device,
        workers=workers,
        pipeline=pipeline,
        on_progress=on_progress,
    )


def run(
    request: DesignRequest,
    *,
    method: str = "meta-learna-adapt",
    model: str | Path | Checkpoint | None = None,
    config: LearnaConfig | str | Path | None = None,
    time_limit: float = 60.0,
    seed: int = 0,
    num_solutions: int = 1,
    rank_by: str = "distance",
    refinement: int | None = None,
    ensemble_share: float | None = None,
    ensemble_starts: int | None = None,
    quick_starts: int | None = None,
    ensemble_rivals: float | None = None,
    ensemble_late_share: float | None = None,
    local_improvement: int | None = None,
    device: str = "auto",
    workers: int = 1,
    pipeline: bool | None = None,
    on_progress: Callable[[DesignProgress], None] | None = None,
    on_result: Callable[[DesignResult], None] | None = None,
) -> list[DesignResult]:
    """Run a validated :class:`DesignRequest` (see :func:`design`).

    ``on_result`` is called with each target's result as soon as it is done (the CLI
    prints it then).
    """
    from envs.rna_design import check_integer, check_number
    from meta.checkpoints import Checkpoint, load_checkpoint
    from meta.config import LEARNA, LearnaConfig
    from meta.design import (
        DEFAULT_ENSEMBLE_LATE_SHARE,
        DEFAULT_ENSEMBLE_RIVALS,
        DEFAULT_ENSEMBLE_SHARE,
        DEFAULT_ENSEMBLE_STARTS,
        DEFAULT_LOCAL_IMPROVEMENT,
        DEFAULT_PIPELINE,
        DEFAULT_QUICK_STARTS,
        DEFAULT_REFINEMENT,
        META_METHODS,
        METHODS,
        STAGES,
        check_network,
        check_stages,
        check_weights,
        warm_up,
    )
    from meta.design import design as design_one
    from meta.quality import RANKINGS
    from policies.device import resolve_device

    if method not in METHODS:
        raise ValueError(f"unknown design method {method!r}; available: {', '.join(METHODS)}")
    if rank_by not in RANKINGS:
        raise ValueError(f"unknown ranking {rank_by!r}; choose one of {', '.join(RANKINGS)}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if method == STAGES:
        check_stages(ensemble_share, num_solutions, None)
    if pipeline is None:
        pipeline = DEFAULT_PIPELINE
    if not isinstance(pipeline, bool):
        raise ValueError(f"pipeline must be True or False, got {pipeline!r}")
    refinement = DEFAULT_REFINEMENT if refinement is None else refinement
    if refinement < 0:
        raise ValueError(f"refinement must be >= 0 folds, got {refinement}")
    ensemble_share = DEFAULT_ENSEMBLE_SHARE if ensemble_share is None else ensemble_share
    check_number("ensemble_share", ensemble_share, 0, 1, open_above=True)
    ensemble_starts = DEFAULT_ENSEMBLE_STARTS if ensemble_starts is None else ensemble_starts
    check_integer("ensemble_starts", ensemble_starts, 0, 64)
    quick_starts = DEFAULT_QUICK_STARTS if quick_starts is None else quick_starts
    check_integer("quick_starts", quick_starts, 0, 64)
    ensemble_rivals = DEFAULT_ENSEMBLE_RIVALS if ensemble_rivals is None else ensemble_rivals
    check_number("ensemble_rivals", ensemble_rivals, 0, 1)
    if ensemble_late_share is None:
        ensemble_late_share = DEFAULT_ENSEMBLE_LATE_SHARE
    check_number("ensemble_late_share", ensemble_late_share, 0, 1, open_above=True)
    if local_improvement is None:
        local_improvement = DEFAULT_LOCAL_IMPROVEMENT
    check_integer("local_improvement", local_improvement, 0)
    device = resolve_device(device)  # a bad or unavailable device is refused before any work
    checkpoint = None
    if method in META_METHODS:
        checkpoint = model if isinstance(model, Checkpoint) else load_checkpoint(model)
    elif model is not None:
        raise ValueError(f"a model applies to {' and '.join(META_METHODS)}, not {method}")
    base = checkpoint.config if checkpoint is not None else LEARNA
    if isinstance(config, (str, Path)):
        config = LearnaConfig.load(config, base=base)
    config = config or base
    from envs.rna_design import TargetEncoding

    if checkpoint is not None:  # a network the model's weights do not fit, before any work
        check_network(config, checkpoint)
    for target in request.targets:  # every target's constraints, before any work
        TargetEncoding.build(target, config.env, request.constraints)
    # torch's one-time lazy imports (torch._dynamo, at the first optimizer: 1-3 s) would
    # otherwise be spent inside the first target's time limit, as the benchmark workers'
    # are not.
    warm_up(device)
    if checkpoint is not None:  # weights that do not fit, before any target's clock
        check_weights(config, checkpoint, device)
    results = []
    for target in request.targets:
        result = design_one(
            target,
            method=method,
            config=config,
            time_limit=time_limit,
            seed=seed,
            num_solutions=num_solutions,
            device=device,
            workers=workers,
            threads=workers,
            pipeline=pipeline,
            on_progress=on_progress,
            model=checkpoint,
            constraints=request.constraints,
            energy=request.energy,
            rank_by=rank_by,
            refinement=refinement,
            ensemble_share=ensemble_share,
            ensemble_starts=ensemble_starts,
            quick_starts=quick_starts,
            ensemble_rivals=ensemble_rivals,
            ensemble_late_share=ensemble_late_share,
            local_improvement=local_improvement,
        )
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def designability(
    targets: str | Target | Iterable[str | Target],
    *,
    sequence_constraint: str | None = None,
    temperature: float = 37.0,
    energy_params: str = "turner2004",
    dangles: int = 2,
    no_lonely_pairs: bool = False,
    max_assignments: int | None = None,
) -> list[DesignabilityReport]:
    """Look for proofs that no sequence folds into each target (``autorl data designable``).

    Args:
        targets: As :func:`design`.
        sequence_constraint: As :func:`design`; a proof then covers the sequences the
            IUPAC codes allow.
        temperature: Degrees Celsius.
        energy_params: As :func:`design`.
        dangles: 0 or 2.
        no_lonely_pairs: Fold without lonely pairs (a target with one is refused, as by
            :func:`design`).
        max_assignments: Letter assignments enumerated per competitor at most; None:
            :data:`envs.designability.DEFAULT_MAX_ASSIGNMENTS`.

    Returns:
        One :class:`envs.designability.DesignabilityReport` per target, in order; its
        ``undesignable`` is True when a proof was found, and ``obstacles`` say why.

    Raises:
        ValueError: bad input (see :func:`prepare`), or ``max_assignments < 1``.
    """
    from envs.designability import DEFAULT_MAX_ASSIGNMENTS, check_designability

    limit = DEFAULT_MAX_ASSIGNMENTS if max_assignments is None else int(max_assignments)
    if limit < 1:
        raise ValueError(f"max_assignments must be >= 1, got {max_assignments}")
    request = prepare(
        targets,
        sequence_constraint=sequence_constraint,
        temperature=temperature,
        energy_params=energy_params,
        dangles=dangles,
        no_lonely_pairs=no_lonely_pairs,
    )
    return [
        check_designability(t.structure, request.energy, t.constraint, max_assignments=limit)
        for t in request.targets
    ]
