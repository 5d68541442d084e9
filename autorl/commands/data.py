"""``autorl data``: training targets for meta-training.

``autorl data generate`` writes MFE (or Boltzmann-sampled, or loop-grammar, ``--source``)
structures of random sequences (see :mod:`meta.training_data` for the sampling and the filters and
:mod:`meta.structure_sources` for the sources); ``autorl data check`` tests a target file
against the benchmark sets. Both refuse (exit 2) a file that contains a benchmark target:
never train on what you evaluate on. ``autorl data stats`` prints the loop statistics of
target files as JSON. ``autorl data designable`` proves targets undesignable where it can
(:mod:`envs.designability`): what no designer can solve, and so a benchmark's ceiling.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING

from autorl.commands.options import add_energy_options, energy_from_args
from autorl.progress import Progress

if TYPE_CHECKING:
    from meta.training_data import GeneratorSettings

#: The defaults of ``meta.training_data.GeneratorSettings``'s fields (a literal copy: building
#: the parser imports neither ViennaRNA nor numpy; tests/test_cli_startup.py checks it).
_DEFAULTS = {
    "min_length": 50,
    "max_length": 450,
    "gc_min": 0.45,
    "gc_max": 0.65,
    "min_pair_fraction": 0.3,
    "max_pair_fraction": 0.8,
    "min_pairs": 5,
    "seed": 0,
    "source": "mfe",
    "ensemble_fraction": 0.5,
    "beta_scale": 1.0,
    "mixture_weights": "",
}

#: ``envs.designability.DEFAULT_MAX_ASSIGNMENTS`` (a literal copy, as :data:`_DEFAULTS`).
MAX_ASSIGNMENTS = 300_000

#: ``meta.structure_sources.SOURCES`` (a literal copy, as :data:`_DEFAULTS`).
SOURCES = ("mfe", "ensemble", "grammar", "mixture")


def generate_structures(
    settings: GeneratorSettings,
    workers: int = 1,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[str]:
    """:func:`meta.training_data.generate_structures`, imported on first call.

    A name of this module, so that tests can replace it to feed ``run_generate``.
    """
    from meta.training_data import generate_structures

    return generate_structures(settings, workers=workers, on_progress=on_progress)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``data`` with its actions ``generate``, ``check``, ``stats`` and ``designable``."""
    parser = subparsers.add_parser(
        "data",
        help="generate or check training targets; find undesignable targets",
        description="Training targets for `autorl meta-train`: generate them, check a "
        "target file against the benchmark sets, or print a file's loop statistics. Also: "
        "prove targets undesignable (designable).",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    _register_generate(actions)
    _register_check(actions)
    _register_stats(actions)
    _register_designable(actions)


def _add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="also look here for the benchmark files checked against (searched before "
        "$AUTORL_DATA and the user cache)",
    )


def _register_generate(actions: argparse._SubParsersAction) -> None:
    d = _DEFAULTS
    parser = actions.add_parser(
        "generate",
        help="write MFE, Boltzmann-sampled or loop-grammar structures as a target file",
        description="Fold random sequences with ViennaRNA and keep distinct MFE structures "
        "(or structures sampled from their Boltzmann ensembles, or MFE structures of sequences "
        "designed for loop-grammar sketches: --source) whose length and "
        "paired fraction resemble natural RNAs. The same arguments give "
        "the same file, whatever --workers. The result is checked against the benchmark sets "
        "found (--data-dir, $AUTORL_DATA, user cache); on overlap nothing is written (exit 2).",
    )
    parser.add_argument("--count", type=int, required=True, help="number of structures")
    parser.add_argument("--out", required=True, metavar="FILE", help="the target file to write")
    parser.add_argument("--min-length", type=int, default=d["min_length"], help="nt (%(default)s)")
    parser.add_argument("--max-length", type=int, default=d["max_length"], help="nt (%(default)s)")
    parser.add_argument(
        "--gc-min", type=float, default=d["gc_min"], help="lowest GC content (%(default)s)"
    )
    parser.add_argument(
        "--gc-max", type=float, default=d["gc_max"], help="highest GC content (%(default)s)"
    )
    parser.add_argument(
        "--min-pair-fraction",
        type=float,
        default=d["min_pair_fraction"],
        help="lowest paired fraction 2*pairs/length kept (%(default)s)",
    )
    parser.add_argument(
        "--max-pair-fraction",
        type=float,
        default=d["max_pair_fraction"],
        help="highest paired fraction kept (%(default)s)",
    )
    parser.add_argument(
        "--min-pairs", type=int, default=d["min_pairs"], help="fewest base pairs kept (%(default)s)"
    )
    parser.add_argument("--seed", type=int, default=d["seed"], help="seed (%(default)s)")
    parser.add_argument(
        "--source",
        default=d["source"],
        metavar="|".join(SOURCES),
        help="structure of a random sequence: its MFE structure, one structure sampled from "
        "its Boltzmann ensemble (more lonely pairs: closer to Eterna100 and to natural "
        "sequences' MFE structures), the MFE structure of a sequence designed for a "
        "loop-grammar sketch of its length (grammar: long hairpin and interior loops, more "
        "multiloops), or a mixture (%(default)s)",
    )
    parser.add_argument(
        "--ensemble-fraction",
        type=float,
        default=d["ensemble_fraction"],
        help="with --source mixture: probability of sampling from the ensemble, else MFE "
        "(%(default)s; ignored with --mixture-weights)",
    )
    parser.add_argument(
        "--mixture-weights",
        default=d["mixture_weights"],
        metavar="SOURCE:W,...",
        help="with --source mixture: the sources mixed and their weights, e.g. "
        "mfe:0.4,ensemble:0.3,grammar:0.3 (default: ensemble and mfe by --ensemble-fraction)",
    )
    parser.add_argument(
        "--beta-scale",
        type=float,
        default=d["beta_scale"],
        help="ViennaRNA betaScale of the sampled ensembles: below 1 colder (closer to MFE), "
        "above 1 hotter (more lonely pairs, fewer pairs) (%(default)s)",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="processes that fold in parallel (%(default)s)"
    )
    _add_data_dir(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.set_defaults(run=run_generate)


def _register_check(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser(
        "check",
        help="check a target file against the benchmark sets",
        description="Exit 0 if no target of FILE is a target of a benchmark set found "
        "(--data-dir, $AUTORL_DATA, user cache); exit 2 with the overlapping ids otherwise.",
    )
    parser.add_argument("file", metavar="FILE", help="a target file ('-' for stdin)")
    _add_data_dir(parser)
    parser.set_defaults(run=run_check)


def _register_stats(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser(
        "stats",
        help="print the loop statistics of target files as JSON",
        description="Print, as one JSON object keyed by file, the loop statistics of each "
        "FILE's structures (meta.structure_sources.structure_stats): lonely-pair fraction, "
        "hairpin and interior-loop lengths, multiloops per 100 nt and their branches, paired "
        "fraction.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="target files")
    parser.set_defaults(run=run_stats)


def _register_designable(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser(
        "designable",
        help="prove targets undesignable (the ceiling of a benchmark)",
        description="For every target, look for a proof that no sequence (within its IUPAC "
        "constraint) folds into it: a loop ViennaRNA's MFE algorithm never forms (hairpin "
        "< 3, interior loop > 30, a lonely pair with --no-lonely-pairs), or a nearby "
        "structure (one pair opened or slid) whose free energy is lower for every "
        "sequence. Undesignable targets are listed on stdout (or all reports with --json), "
        "a summary per set on stderr. A target without a proof may still be undesignable: "
        "the check is sound, not complete. Exit 0 (also when some are undesignable).",
    )
    parser.add_argument(
        "targets",
        nargs="+",
        metavar="TARGETS",
        help="a registered dataset name (e.g. rfam-taneda) or a target file",
    )
    parser.add_argument(
        "--max-assignments",
        type=int,
        default=MAX_ASSIGNMENTS,
        metavar="N",
        help="letter assignments enumerated per competitor at most (%(default)s; ~20 us each)",
    )
    parser.add_argument("--json", action="store_true", help="every target's report as JSON")
    _add_data_dir(parser)
    add_energy_options(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.set_defaults(run=run_designable)


def _settings(args: argparse.Namespace) -> GeneratorSettings:
    from meta.training_data import GeneratorSettings

    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    out = Path(args.out)
    if out.is_dir():
        raise ValueError(f"--out {out} is a directory; give a file name")
    if not out.parent.is_dir():
        raise ValueError(f"--out {out}: the folder {out.parent} does not exist")
    try:
        return GeneratorSettings(
            count=args.count,
            min_length=args.min_length,
            max_length=args.max_length,
            gc_min=args.gc_min,
            gc_max=args.gc_max,
            min_pair_fraction=args.min_pair_fraction,
            max_pair_fraction=args.max_pair_fraction,
            min_pairs=args.min_pairs,
            seed=args.seed,
            source=args.source,
            ensemble_fraction=args.ensemble_fraction,
            beta_scale=args.beta_scale,
            mixture_weights=args.mixture_weights,
        )
    except ValueError as error:  # name the flag, not the field
        field = re.compile(r"\b(" + "|".join(f.name for f in fields(GeneratorSettings)) + r")\b")
        raise ValueError(field.sub(lambda m: "--" + m[0].replace("_", "-"), str(error))) from None


def _datasets_text(names: list[str]) -> str:
    if not names:
        return "no benchmark files found to check against (use --data-dir or $AUTORL_DATA)"
    return f"no overlap with {', '.join(names)}"


def run_generate(args: argparse.Namespace) -> int:
    """Generate the structures, check them against the benchmarks, write the file."""
    from benchmarks.overlap import check_no_overlap
    from meta.training_data import length_and_pair_stats, name_structures, write_training_file

    settings = _settings(args)
    started = time.monotonic()
    tried = 0
    with Progress(args.quiet) as progress:

        def show(accepted: int, candidates: int) -> None:
            nonlocal tried
            tried = candidates
            progress.update(
                f"{accepted}/{settings.count} structures from {candidates} random sequences, "
                f"{time.monotonic() - started:.0f} s"
            )

        structures = generate_structures(settings, workers=args.workers, on_progress=show)
    checked = check_no_overlap(
        name_structures(structures), args.data_dir, source=f"generated targets for {args.out}"
    )
    write_training_file(args.out, structures, settings)
    stats = length_and_pair_stats(structures)
    print(
        f"autorl data generate: wrote {len(structures)} targets to {args.out} "
        f"(length {stats['min_length']}-{stats['max_length']} nt, median "
        f"{stats['median_length']:g}; median paired fraction "
        f"{stats['median_pair_fraction']:.2f}; {tried} sequences folded in "
        f"{time.monotonic() - started:.1f} s; {_datasets_text(checked)})",
        file=sys.stderr,
    )
    return 0


def run_check(args: argparse.Namespace) -> int:
    """Exit 0 if the file shares no target with the benchmark sets found."""
    from benchmarks.overlap import check_no_overlap
    from envs.dot_bracket import read_targets

    targets = read_targets(args.file)
    checked = check_no_overlap(targets, args.data_dir, source=args.file)
    print(
        f"autorl data check: {args.file}: {len(targets)} targets, {_datasets_text(checked)}",
        file=sys.stderr,
    )
    return 0


def run_stats(args: argparse.Namespace) -> int:
    """Print the loop statistics of every file as JSON on stdout."""
    from envs.dot_bracket import read_targets
    from meta.structure_sources import rounded, structure_stats

    stats = {
        name: rounded(structure_stats([t.structure for t in read_targets(name)]))
        for name in args.files
    }
    print(json.dumps(stats, indent=2))
    return 0


def run_designable(args: argparse.Namespace) -> int:
    """Print the targets proved undesignable (or every report, ``--json``)."""
    from benchmarks.datasets import load_dataset
    from envs.designability import check_designability
    from envs.folding import check_energy_model
    from meta.provenance import package_versions

    if args.max_assignments < 1:
        raise ValueError(f"--max-assignments must be >= 1, got {args.max_assignments}")
    energy = energy_from_args(args)
    check_energy_model(energy)
    datasets = [load_dataset(spec, args.data_dir) for spec in args.targets]
    payload: dict[str, object] = {}
    with Progress(args.quiet) as progress:
        for dataset in datasets:
            started = time.monotonic()
            reports = {}
            for number, target in enumerate(dataset.targets, start=1):
                progress.update(f"{dataset.name}: target {number}/{len(dataset.targets)}")
                report = check_designability(
                    target.structure,
                    energy,
                    target.constraint,
                    max_assignments=args.max_assignments,
                )
                reports[target.id] = (target, report)
                if report.undesignable and not args.json:
                    progress.clear()
                    for obstacle in report.obstacles:
                        print(f"{dataset.name}\t{target.id}\t{len(target)} nt\t{obstacle.message}")
            undesignable = [i for i, (_, r) in reports.items() if r.undesignable]
            progress.clear()
            print(
                f"autorl data designable: {dataset.name}: {len(reports)} targets, "
                f"{len(undesignable)} proved undesignable"
                + (f" ({', '.join(undesignable)})" if undesignable else "")
                + f", so at most {len(reports) - len(undesignable)} can be solved; "
                f"{time.monotonic() - started:.1f} s",
                file=sys.stderr,
            )
            payload[dataset.name] = {
                "path": str(dataset.path),
                "targets": len(reports),
                "undesignable": undesignable,
                "ceiling": len(reports) - len(undesignable),
                "reports": {i: dict(r.to_dict(), length=len(t)) for i, (t, r) in reports.items()},
            }
    if args.json:
        result = {
            "datasets": payload,
            "energy": energy.to_dict(),
            "max_assignments": args.max_assignments,
            "versions": package_versions(),
        }
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
    return 0
