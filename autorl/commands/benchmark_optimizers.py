"""``autorl benchmark-optimizers``: random search, Hyperband, BOHB, SMAC3, Optuna side by side.

Run (about 12 minutes on 2 cores, nearly all of it SMAC3's)::

    autorl benchmark-optimizers --seeds 5 --budget 40 --out bench.json

The harness is :mod:`benchmarks.optimizers`, the problems :mod:`benchmarks.synthetic`, the
adapters :mod:`autorl.bohb.compare`. Exit codes: 0 every goal met; 1 a goal missed or an
optimizer failed; 2 bad input.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from autorl.bohb.compare import ADAPTERS, available_adapters
from benchmarks.optimizers import RunRecord, check_goals, compare, format_table, summarize
from benchmarks.synthetic import SyntheticProblem, counting_ones_problem, mf_hartmann_problem

PROBLEMS = {
    "counting-ones-4+4": lambda: counting_ones_problem(4, 4),
    "counting-ones-16+16": lambda: counting_ones_problem(16, 16),
    "mf-hartmann-3": lambda: mf_hartmann_problem(3),
    "mf-hartmann-6": lambda: mf_hartmann_problem(6),
}
DEFAULT_PROBLEMS = ("counting-ones-4+4", "counting-ones-16+16", "mf-hartmann-6")
#: BOHB's overhead limit per new configuration at 200 observations.
MAX_OVERHEAD_MS = 50.0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``benchmark-optimizers`` subcommand."""
    parser = subparsers.add_parser(
        "benchmark-optimizers",
        help="compare BOHB with random search, Hyperband, SMAC3 and Optuna on synthetic problems",
        description=(
            "Run each optimizer on counting ones and MF-Hartmann with several seeds at the "
            "same total budget; print mean final and anytime noise-free regret and each "
            "optimizer's overhead, then check BOHB's goals."
        ),
    )
    parser.add_argument(
        "--problems",
        default=",".join(DEFAULT_PROBLEMS),
        help=f"comma-separated, from {', '.join(PROBLEMS)} (default: %(default)s)",
    )
    parser.add_argument(
        "--optimizers",
        default=",".join(ADAPTERS),
        help="comma-separated; smac and optuna are skipped when not installed (default: all)",
    )
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 per optimizer (5)")
    parser.add_argument(
        "--budget",
        type=float,
        default=40.0,
        help="total budget per run in evaluations on the largest budget (40)",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=None,
        help="wall-time limit per run (flagged in the table; default: none)",
    )
    parser.add_argument("--out", help="also write every run and the summary as JSON")
    parser.set_defaults(run=run_command)


def _problems(spec: str) -> list[SyntheticProblem]:
    names = [name.strip() for name in spec.split(",") if name.strip()]
    unknown = [name for name in names if name not in PROBLEMS]
    if unknown or not names:
        raise ValueError(f"--problems: unknown {unknown}; choose from {', '.join(PROBLEMS)}")
    return [PROBLEMS[name]() for name in names]


def run_command(args: argparse.Namespace) -> int:
    """Run the comparison, print the table and the goals."""
    if args.seeds < 1 or args.budget <= 0:
        raise ValueError("--seeds must be >= 1 and --budget > 0")
    problems = _problems(args.problems)
    wanted = [name.strip() for name in args.optimizers.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in ADAPTERS]
    if unknown:
        raise ValueError(f"--optimizers: unknown {unknown}; choose from {', '.join(ADAPTERS)}")
    installed = available_adapters()
    for name in wanted:
        if name not in installed:
            print(
                f"skipping {name}: not installed (pip install 'autorl[compare]')", file=sys.stderr
            )
    optimizers = {name: installed[name] for name in wanted if name in installed}

    def report(record: RunRecord) -> None:
        status = f" ERROR {record.error}" if record.error else ""
        print(
            f"{record.problem} {record.optimizer} seed {record.seed}: final regret "
            f"{record.regrets[1.0]:.4f}, {record.evaluations} evals, "
            f"{record.seconds:.1f} s{status}",
            file=sys.stderr,
            flush=True,
        )

    records = compare(
        problems,
        optimizers,
        seeds=range(args.seeds),
        budget=args.budget,
        max_seconds=args.max_seconds,
        report=report,
    )
    rows = summarize(records)
    print(format_table(rows))
    goals = check_goals(
        rows,
        "bohb",
        beat=("random", "hyperband"),
        match={"smac": "counting-ones"},
        max_overhead_ms=MAX_OVERHEAD_MS,
    )
    print()
    for met, statement in goals:
        print(f"[{'met' if met else 'MISSED'}] {statement}")
    if args.out:
        payload = {
            "arguments": {k: v for k, v in vars(args).items() if k != "run"},
            "runs": [dataclasses.asdict(r) for r in records],
            "summary": [dataclasses.asdict(r) for r in rows],
            "goals": [{"met": m, "goal": s} for m, s in goals],
        }
        Path(args.out).write_text(
            json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8"
        )
    failed = any(r.error for r in records)
    return 0 if all(m for m, _ in goals) and not failed else 1
