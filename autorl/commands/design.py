"""``autorl design``: design sequences that fold into target structures."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, TextIO

from autorl.commands.options import (
    DEFAULT_REFINEMENT,
    add_device_option,
    add_energy_options,
    add_ensemble_late_share_option,
    add_ensemble_rivals_option,
    add_ensemble_share_option,
    add_ensemble_starts_option,
    add_local_improvement_option,
    add_pipeline_option,
    add_quick_starts_option,
    add_rule_options,
    energy_from_args,
    rules_from_args,
)
from autorl.progress import Progress
from policies.device import resolve_device

if TYPE_CHECKING:
    from autorl.api import DesignRequest
    from envs.designability import DesignabilityReport
    from envs.folding import EnergyModel
    from meta.checkpoints import Checkpoint
    from meta.config import LearnaConfig
    from meta.design import DesignProgress, DesignResult
    from meta.quality import DesignedSequence

# Literal copies (building the parser imports neither torch nor ViennaRNA); checked against
# the originals by tests/test_cli_startup.py.
#: ``meta.design.METHODS``.
METHODS = ("learna", "meta-learna", "meta-learna-adapt", "stages")
#: ``meta.quality.RANKINGS``.
RANKINGS = ("distance", "probability", "ensemble-defect")

#: ``jsonl`` prints each target's JSON object on its own line as soon as it is designed
#: (what a long run over many targets wants: nothing is lost when it is stopped).
FORMATS = ("text", "fasta", "json", "jsonl")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``design`` subcommand."""
    parser = subparsers.add_parser(
        "design",
        help="design RNA sequences for target structures",
        description="Design a sequence whose MFE structure (ViennaRNA) is the target. "
        "The default method, meta-learna-adapt, continues PPO from the pretrained "
        "Meta-LEARNA policy shipped with autorl. "
        "An unsolved target is checked for a proof that no sequence can fold into it "
        "(as `autorl data designable`); a proof is reported on stderr and in the JSON. "
        "Exit code 0: every target solved; 1: some target unsolved (best design printed); "
        "2: bad input.",
    )
    parser.add_argument(
        "--target",
        required=True,
        help="a target file (one structure a line, id<TAB>structure, or FASTA-style), "
        "'-' for stdin, or a literal dot-bracket structure",
    )
    parser.add_argument(
        "--method",
        choices=METHODS,
        default="meta-learna-adapt",
        help="learna: PPO from scratch; meta-learna: sample from the pretrained policy; "
        "meta-learna-adapt: PPO from the pretrained policy (default); stages: the "
        "targeted starts and the ensemble stage without a policy (an ablation baseline, "
        "one solution per target)",
    )
    parser.add_argument(
        "--model",
        metavar="PATH",
        help="checkpoint zip of the meta methods (default: the shipped model), e.g. "
        "DIR/best.zip of `autorl meta-train`",
    )
    parser.add_argument(
        "--time-limit", type=float, default=60.0, metavar="SECONDS", help="per target (60)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of everything random (0)")
    parser.add_argument(
        "--num-solutions",
        type=int,
        default=1,
        metavar="K",
        help="collect K distinct solutions per target (1)",
    )
    add_device_option(parser)
    parser.add_argument(
        "--workers", type=int, default=1, help="processes that fold designs in parallel (1)"
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="output format (text); json: one list at the end; jsonl: one object a line, "
        "each printed when its target is done",
    )
    parser.add_argument(
        "--config",
        help="flat JSON settings overriding the method's defaults "
        "(e.g. an `autorl optimize` incumbent.json)",
    )
    constraints = add_rule_options(parser)
    constraints.add_argument(
        "--sequence-constraint",
        metavar="IUPAC",
        help="one IUPAC code per site (A C G U/T N R Y S W K M B D H V) for every target; "
        "a target file may instead give a constraint line (or a third TAB column) per target",
    )
    add_energy_options(parser)
    parser.add_argument(
        "--refine",
        type=int,
        default=DEFAULT_REFINEMENT,
        metavar="FOLDS",
        help="fold budget of the refinement stage, an adaptive walk on each batch's closest "
        "near-miss (%(default)s; 0: off)",
    )
    add_ensemble_share_option(parser)
    add_ensemble_starts_option(parser)
    add_quick_starts_option(parser)
    add_ensemble_rivals_option(parser)
    add_ensemble_late_share_option(parser)
    add_local_improvement_option(parser)
    add_pipeline_option(parser)
    parser.add_argument(
        "--rank-by",
        choices=RANKINGS,
        default="distance",
        help="order of the --num-solutions designs (distance)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.set_defaults(run=run)


def _validate(
    args: argparse.Namespace,
) -> tuple[DesignRequest, LearnaConfig, Checkpoint | None]:
    from autorl.api import prepare
    from envs.dot_bracket import resolve_targets
    from meta.checkpoints import load_checkpoint
    from meta.config import LEARNA, LearnaConfig
    from meta.design import META_METHODS

    if not args.time_limit > 0:
        raise ValueError(f"--time-limit must be > 0 seconds, got {args.time_limit}")
    if args.num_solutions < 1:
        raise ValueError(f"--num-solutions must be >= 1, got {args.num_solutions}")
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    args.device = resolve_device(args.device)  # a bad or unavailable device: exit 2 now
    if args.model and args.method not in META_METHODS:
        raise ValueError(f"--model applies to {' and '.join(META_METHODS)}, not {args.method}")
    rules, energy = rules_from_args(args), energy_from_args(args)
    request = prepare(
        resolve_targets(args.target),
        sequence_constraint=args.sequence_constraint,
        gc=rules.gc,
        forbid=rules.forbid,
        temperature=energy.temperature,
        energy_params=energy.params,
        dangles=energy.dangles,
        no_lonely_pairs=energy.no_lonely_pairs,
    )
    checkpoint = load_checkpoint(args.model) if args.method in META_METHODS else None
    base = checkpoint.config if checkpoint is not None else LEARNA
    config = LearnaConfig.load(args.config, base=base) if args.config else base
    return request, config, checkpoint


def run(args: argparse.Namespace) -> int:
    """Design every target and print the results; exit 1 if any stayed unsolved."""
    from autorl.api import run as run_request
    from meta.provenance import package_versions

    request, config, checkpoint = _validate(args)
    targets = request.targets
    versions = package_versions()
    with Progress(args.quiet) as progress:
        position = {"index": 0}
        checks: dict[int, DesignabilityReport] = {}

        def show(p: DesignProgress) -> None:
            index = position["index"]
            best = "-" if p.best_distance < 0 else str(p.best_distance)
            progress.update(
                f"target {index + 1}/{len(targets)} ({p.target_id}, {len(targets[index])} nt): "
                f"{p.elapsed:5.1f}/{p.time_limit:g} s, {p.episodes} episodes, "
                f"best distance {best}"
            )

        def done(result: DesignResult) -> None:
            index = position["index"]
            position["index"] += 1
            if not result.solved:
                progress.update(f"target {index + 1}/{len(targets)}: checking designability")
                checks[index] = _designability(result, request.energy)
            if args.format == "jsonl":
                progress.clear()
                record = _record(result, checks.get(index), versions)
                sys.stdout.write(json.dumps(record) + "\n")
                sys.stdout.flush()
            elif args.format != "json":
                progress.clear()
                _print_one(result, args.format, sys.stdout)
            if index in checks and checks[index].undesignable:
                progress.clear()
                _print_undesignable(result.target_id, checks[index])

        results = run_request(
            request,
            method=args.method,
            model=checkpoint,
            config=config,
            time_limit=args.time_limit,
            seed=args.seed,
            num_solutions=args.num_solutions,
            rank_by=args.rank_by,
            refinement=args.refine,
            ensemble_share=args.ensemble_share,
            ensemble_starts=args.ensemble_starts,
            quick_starts=args.quick_starts,
            ensemble_rivals=args.ensemble_rivals,
            ensemble_late_share=args.ensemble_late_share,
            local_improvement=args.local_improvement,
            device=args.device,
            workers=args.workers,
            pipeline=args.pipeline,
            on_progress=show,
            on_result=done,
        )
    if args.format == "json":
        payload = [_record(r, checks.get(i), versions) for i, r in enumerate(results)]
        json.dump(payload, sys.stdout, indent=2)
        sys.stdout.write("\n")
    return 0 if all(r.solved for r in results) else 1


def _record(
    result: DesignResult, check: DesignabilityReport | None, versions: dict[str, str]
) -> dict:
    """A target's JSON object: the result, its designability check, package versions."""
    designability = check.to_dict() if check is not None else None
    return dict(result.to_dict(), designability=designability, versions=versions)


def _designability(result: DesignResult, energy: EnergyModel) -> DesignabilityReport:
    """Look for a proof that the unsolved target cannot be designed.

    The MFE structures of its best designs join the local competitors: what beat the
    designs may beat every sequence.
    """
    from envs.designability import check_designability

    return check_designability(
        result.target,
        energy,
        result.constraints.sequence,
        competitors=[d.mfe_structure for d in result.designs if d.mfe_structure],
    )


def _print_undesignable(target_id: str, report: DesignabilityReport) -> None:
    print(
        f"autorl design: target {target_id} cannot be designed under this energy model "
        "(no sequence folds into it):",
        file=sys.stderr,
    )
    for obstacle in report.obstacles:
        print(f"  {obstacle.message}", file=sys.stderr)


def _fasta_header(result: DesignResult, number: int, design: DesignedSequence) -> str:
    status = "solved" if design.solved else "unsolved"
    suffix = f" design={number}" if len(result.designs) > 1 else ""
    checks = ",".join(f"{k}:{'ok' if v else 'violated'}" for k, v in design.constraints.items())
    return (
        f">{result.target_id}{suffix} {status} distance={design.distance} "
        f"mfe={design.mfe_energy:.2f} probability={design.probability:.4g} "
        f"ensemble_defect={design.ensemble_defect:.4g} gc={design.gc_content:.3f}"
        + (f" constraints={checks}" if checks else "")
    )


def _print_one(result: DesignResult, fmt: str, out: TextIO) -> None:
    if not result.sequence:
        print(
            f"autorl design: target {result.target_id}: no design met the constraints within "
            f"{result.seconds:.1f} s ({result.episodes} episodes)",
            file=sys.stderr,
        )
    if fmt == "fasta":
        for number, design in enumerate(result.designs, start=1):
            out.write(f"{_fasta_header(result, number, design)}\n{design.sequence}\n")
    else:
        status = "solved" if result.solved else "UNSOLVED"
        header = (
            f"# {result.target_id}: {status} in {result.seconds:.2f} s, "
            f"{result.episodes} episodes, distance {result.distance}"
        )
        if result.found_by:
            header += f", found by {result.found_by}"
        out.write(f"{header}\ntarget     {result.target}\n")
        if result.constraints.sequence:
            out.write(f"constraint {result.constraints.sequence}\n")
        for number, design in enumerate(result.designs, start=1):
            label = "sequence" if number == 1 else f"design {number}"
            checks = " ".join(
                f"{k} {'ok' if v else 'VIOLATED'}" for k, v in design.constraints.items()
            )
            out.write(
                f"{label:<10} {design.sequence}\n"
                f"{'structure':<10} {design.mfe_structure}\n"
                f"{'':<10} mfe {design.mfe_energy:.2f} kcal/mol, distance {design.distance}, "
                f"probability {design.probability:.4g}, ensemble defect "
                f"{design.ensemble_defect:.4g}, GC {design.gc_content:.3f}"
                + (f"; constraints: {checks}" if checks else "")
                + "\n"
            )
        out.write("\n")
    out.flush()
