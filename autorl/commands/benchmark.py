"""``autorl benchmark``: run a design method on a benchmark dataset, and report on the results.

Run::

    autorl benchmark --dataset rfam-taneda --method learna --time-limit 60 --out runs/taneda

On Ray (one Ray task per (target, run), one CPU each; the same results.csv, and
``--resume`` works across backends); ``--ray-address HOST:PORT`` joins a running cluster,
without it a local Ray instance is started for the run::

    autorl benchmark --dataset rfam-taneda --method learna --out runs/taneda --backend ray

Report on any results directory (also printed at the end of every run), and compare two
(which jobs only one solved, and whether that split is chance)::

    autorl benchmark report runs/taneda
    autorl benchmark compare runs/taneda runs/taneda-other

Exit codes: 0 done (unsolved targets are a result, not a failure); 1 some jobs ended in an
error; 2 bad input (an unreachable Ray cluster included: nothing is written then); 130
interrupted (finished jobs stay in results.csv: use ``--resume``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from autorl.commands.options import (
    DEFAULT_REFINEMENT,
    add_backend_options,
    add_energy_options,
    add_ensemble_late_share_option,
    add_ensemble_rivals_option,
    add_ensemble_share_option,
    add_ensemble_starts_option,
    add_local_improvement_option,
    add_quick_starts_option,
    add_rule_options,
    backend_from_args,
    energy_from_args,
    rules_from_args,
)
from autorl.progress import Progress
from meta.cluster import Backend, backend_session

if TYPE_CHECKING:
    from benchmarks.runner import RunnerConfig
    from envs.dot_bracket import Target
    from meta.checkpoints import Checkpoint
    from meta.config import LearnaConfig

# Literal copies (building the parser imports neither ViennaRNA nor numpy); checked against
# the originals by tests/test_cli_startup.py.
#: The names of ``benchmarks.datasets.DATASETS``, in its order.
DATASETS = (
    "eterna100-v1",
    "eterna100-v2",
    "rfam-taneda",
    "rfam-learn-validation",
    "rfam-learn-test",
)
#: ``benchmarks.datasets.DATA_ENV``.
DATA_ENV = "AUTORL_DATA"
#: ``benchmarks.runner.METHODS``.
METHODS = ("learna", "meta-learna", "meta-learna-adapt", "rnainverse", "samfeo", "stages")
#: The defaults of the ``benchmarks.runner.RunnerConfig`` fields the options set.
_DEFAULTS = {"time_limit": 60.0, "runs": 1, "workers": None, "seed": 0, "constraint_fraction": 0.0}


def register(subparsers: Any) -> None:
    """Add ``benchmark`` (and its ``report`` subcommand) to the CLI."""
    parser = subparsers.add_parser(
        "benchmark",
        help="run a method on Eterna100 / Rfam benchmarks with a hard time limit per target",
        description=(
            "Run one design method on a benchmark dataset: one job per (target, run) in its own "
            "process, terminated at the time limit; results are appended to OUT/results.csv as "
            "jobs finish, then summarized. 'autorl benchmark report DIR' reports on a results "
            "directory, 'autorl benchmark compare A B' compares two."
        ),
    )
    parser.add_argument(
        "--dataset",
        metavar="NAME|FILE",
        help=f"a registered dataset ({', '.join(DATASETS)}) or a target file",
    )
    parser.add_argument(
        "--method",
        choices=METHODS,
        help="design method (samfeo: the peer SAMFEO, run from the clone of "
        "github.com/shanry/SAMFEO named by $AUTORL_SAMFEO; stages: the design loop's "
        "targeted starts and ensemble stage without a policy, the ablation baseline)",
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        default=_DEFAULTS["time_limit"],
        metavar="SECONDS",
        help="hard limit per (target, run) (default: %(default)g)",
    )
    parser.add_argument(
        "--runs", type=int, default=_DEFAULTS["runs"], help="runs per target (default: %(default)s)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=_DEFAULTS["workers"],
        help="jobs at a time, one process (core) each (default: 1 locally; with --backend ray "
        "one per CPU of the cluster)",
    )
    parser.add_argument("--out", metavar="DIR", help="results directory")
    parser.add_argument(
        "--targets", metavar="IDS", help="target ids to run, e.g. 1,5,9-12 (default: all)"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=_DEFAULTS["seed"],
        help="base seed; job seeds derive from it, the target and the run (default: %(default)s)",
    )
    parser.add_argument(
        "--resume", action="store_true", help="skip the jobs already in OUT/results.csv"
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help=f"where the dataset files are (searched before ${DATA_ENV} and the user cache)",
    )
    parser.add_argument(
        "--config",
        metavar="CONFIG.json",
        help="flat JSON agent settings for the LEARNA methods (e.g. an incumbent.json)",
    )
    parser.add_argument(
        "--model",
        metavar="PATH",
        help="checkpoint zip for meta-learna / meta-learna-adapt (default: the shipped model)",
    )
    parser.add_argument(
        "--refine",
        type=int,
        default=DEFAULT_REFINEMENT,
        metavar="FOLDS",
        help="LEARNA methods: fold budget of the refinement stage, as in `autorl design` "
        "(default: %(default)s; 0: off); recorded as refinement_budget in the config column",
    )
    add_ensemble_share_option(
        parser, "LEARNA methods (recorded as ensemble_share in the config column): "
    )
    add_ensemble_starts_option(
        parser, "LEARNA methods (recorded as ensemble_starts in the config column): "
    )
    add_quick_starts_option(
        parser, "LEARNA methods (recorded as quick_starts in the config column): "
    )
    add_ensemble_rivals_option(
        parser, "LEARNA methods (recorded as ensemble_rivals in the config column): "
    )
    add_ensemble_late_share_option(
        parser, "LEARNA methods (recorded as ensemble_late_share in the config column): "
    )
    add_local_improvement_option(
        parser, "LEARNA methods (recorded as local_improvement in the config column): "
    )
    rules = add_rule_options(parser)
    rules.add_argument(
        "--constraint-fraction",
        type=float,
        default=_DEFAULTS["constraint_fraction"],
        metavar="F",
        help="give every target without its own constraint a generated IUPAC constraint that "
        "fixes this share of its unpaired sites to random bases, seeded by --seed and the "
        "target id (default: %(default)g)",
    )
    add_energy_options(parser)
    add_backend_options(parser, "job")
    parser.add_argument("--quiet", action="store_true", help="no progress display on stderr")
    parser.set_defaults(run=run)
    actions = parser.add_subparsers(dest="benchmark_action", metavar="{report DIR,compare A B}")
    report_parser = actions.add_parser(
        "report",
        help="report on a results directory",
        description=(
            "Print the summary table of DIR/results.csv (every solved design is refolded and "
            "checked) and write DIR/summary.json and DIR/solved_vs_time.png."
        ),
    )
    report_parser.add_argument("dir", metavar="DIR", help="a results directory")
    report_parser.set_defaults(run=run_report)
    compare_parser = actions.add_parser(
        "compare",
        help="compare two results directories job by job",
        description=(
            "Pair the jobs (target, run) of two results directories of the same dataset, "
            "count the ones each solved (verified as in the report) and the ones only one "
            "solved, and test whether that split is chance (exact McNemar test)."
        ),
    )
    compare_parser.add_argument("first", metavar="A", help="a results directory")
    compare_parser.add_argument("second", metavar="B", help="another, of the same dataset")
    compare_parser.add_argument("--json", action="store_true", help="print the comparison as JSON")
    compare_parser.set_defaults(run=run_compare)


def run_report(args: argparse.Namespace) -> int:
    """``autorl benchmark report DIR``."""
    from benchmarks.report import report

    print(report(args.dir))
    return 0


def run_compare(args: argparse.Namespace) -> int:
    """``autorl benchmark compare A B [--json]``."""
    import json

    from benchmarks.comparison import compare_runs, format_comparison

    comparison = compare_runs(args.first, args.second)
    print(
        json.dumps(comparison.to_dict(), indent=2) if args.json else format_comparison(comparison)
    )
    return 0


#: The flag that sets each stage option (named in the configuration's error messages).
_STAGE_FLAGS = {
    "refinement": "--refine",
    "ensemble_share": "--ensemble-share",
    "ensemble_starts": "--ensemble-starts",
    "quick_starts": "--quick-starts",
    "ensemble_rivals": "--ensemble-rivals",
    "ensemble_late_share": "--ensemble-late-share",
    "local_improvement": "--local-improvement",
}


def _settings(
    path: str | None,
    base: LearnaConfig,
    refinement: int | None = None,
    ensemble_share: float | None = None,
    ensemble_starts: int | None = None,
    ensemble_rivals: float | None = None,
    ensemble_late_share: float | None = None,
    checkpoint: Checkpoint | None = None,
    local_improvement: int | None = None,
    quick_starts: int | None = None,
) -> tuple[tuple[str, object], ...]:
    """The ``--config`` file's settings (and the stage options) that differ from ``base``.

    With the ``checkpoint`` of a meta method, a configuration that changes its network is
    refused here, before any job runs (:func:`meta.design.check_network`).
    """
    from meta.config import LearnaConfig, with_stage_options

    config = with_stage_options(
        LearnaConfig.load(path, base=base) if path else base,
        {
            "refinement": refinement,
            "ensemble_share": ensemble_share,
            "ensemble_starts": ensemble_starts,
            "ensemble_rivals": ensemble_rivals,
            "ensemble_late_share": ensemble_late_share,
            "local_improvement": local_improvement,
            "quick_starts": quick_starts,
        },
        _STAGE_FLAGS,
    )
    if checkpoint is not None:
        from meta.design import check_network

        check_network(config, checkpoint)
    flat, own = config.to_flat(), base.to_flat()
    changed = {key: value for key, value in flat.items() if own[key] != value}
    return tuple(sorted(changed.items()))


def _base_config(method: str, model: str | None) -> tuple[LearnaConfig, Checkpoint | None]:
    """What ``--config`` applies to: the checkpoint's configuration for the meta methods.

    Returns:
        That configuration (LEARNA's for ``learna``), and the checkpoint (None for
        ``learna`` and the baselines).
    """
    from benchmarks.runner import META_METHODS
    from meta.checkpoints import load_checkpoint
    from meta.config import LEARNA

    if method in META_METHODS:
        checkpoint = load_checkpoint(model)
        return checkpoint.config, checkpoint
    return LEARNA, None


def run(args: argparse.Namespace) -> int:
    """``autorl benchmark --dataset ... --method ... --out ...``."""
    from benchmarks.datasets import load_dataset, select_targets
    from benchmarks.report import report
    from benchmarks.runner import BASELINES, RunnerConfig

    missing = [flag for flag in ("dataset", "method", "out") if not getattr(args, flag)]
    if missing:
        flags = " and ".join(f"--{flag}" for flag in missing)
        verb = "is" if len(missing) == 1 else "are"
        raise ValueError(f"{flags} {verb} required (or use 'autorl benchmark report DIR')")
    backend = backend_from_args(args, "job")
    base, checkpoint = _base_config(args.method, args.model)
    staged = args.method not in BASELINES  # the stage options apply to the LEARNA methods
    config = RunnerConfig(
        method=args.method,
        time_limit=args.time_limit,
        runs=args.runs,
        workers=args.workers,
        seed=args.seed,
        resume=args.resume,
        settings=_settings(
            args.config,
            base,
            args.refine if staged else None,
            args.ensemble_share if staged else None,
            args.ensemble_starts if staged else None,
            args.ensemble_rivals if staged else None,
            args.ensemble_late_share if staged else None,
            checkpoint=checkpoint,
            local_improvement=args.local_improvement if staged else None,
            quick_starts=args.quick_starts if staged else None,
        ),
        model=args.model or "",
        constraint_fraction=args.constraint_fraction,
        constraints=rules_from_args(args),
        energy=energy_from_args(args),
    )
    dataset = load_dataset(args.dataset, args.data_dir)
    targets = select_targets(dataset.targets, args.targets)
    with backend_session(backend, "job"):  # connect before anything is written
        rows = _run(args, dataset.name, targets, config, backend)
    print(report(args.out))
    errors = [row for row in rows if row["status"] == "error"]
    for row in errors:
        print(
            f"autorl benchmark: target {row['target_id']} run {row['run']}: {row['error']}",
            file=sys.stderr,
        )
    return 1 if errors else 0


def _run(
    args: argparse.Namespace,
    dataset: str,
    targets: Sequence[Target],
    config: RunnerConfig,
    backend: Backend,
) -> list[dict]:
    """Run the benchmark with a progress display; return the rows written."""
    from benchmarks.runner import run_benchmark

    with Progress(args.quiet) as progress:

        def announce(row: dict) -> None:
            outcome = (
                f"solved in {float(row['time_to_solve']):.1f} s"
                if row["solved"]
                else f"unsolved (distance {row['best_distance']}, {row['status']})"
            )
            progress.message(f"target {row['target_id']} run {row['run']}: {outcome}")

        return run_benchmark(
            dataset,
            targets,
            config,
            args.out,
            on_status=progress.update,
            on_result=announce,
            backend=backend,
        )
