"""``autorl benchmark-optimizers``: every optimizer through ``autorl optimize``, side by side.

Run (10 seeds, 8 Hyperband iterations' budget each; see the README for the time it takes)::

    autorl benchmark-optimizers --seeds 10 --iterations 8 --out runs/bench-optimizers

Each (problem, optimizer, seed) is one ``autorl optimize`` run (:func:`autorl.commands.
optimize.optimize`: the same run log, seeding, incumbent rule and resume as users get) in
``OUT/runs/<problem>/<optimizer>/seed-<S>``, with the total budget of ``--iterations``
hpbandster-sized Hyperband iterations. The judging is :mod:`benchmarks.optimizers`: noise-
free regret of the incumbent over the budget spent. Writes ``OUT/summary.json``,
``OUT/table.md`` and ``OUT/regret.png``. An interrupted benchmark continues where it
stopped when run again with the same ``--out`` (finished runs are replayed from their logs).
Exit codes: 0 every goal met; 1 a goal missed or a run failed; 2 bad input.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autorl.commands.optimize import OPTIMIZERS as _OPTIMIZE_OPTIMIZERS

if TYPE_CHECKING:
    from benchmarks.optimizers import Goals, RunRecord
    from benchmarks.synthetic import SyntheticProblem


def _synthetic() -> Any:
    """:mod:`benchmarks.synthetic`, imported when a problem is made (it imports ConfigSpace)."""
    return importlib.import_module("benchmarks.synthetic")


#: Problem -> (its noise-free definition, the ``autorl optimize`` arguments that run it).
PROBLEMS: dict[str, tuple[Callable[[], SyntheticProblem], list[str]]] = {
    "counting-ones-4+4": (
        lambda: _synthetic().counting_ones_problem(4, 4),
        ["counting-ones", "--dims", "4"],
    ),
    "counting-ones-16+16": (
        lambda: _synthetic().counting_ones_problem(16, 16),
        ["counting-ones", "--dims", "16"],
    ),
    "mf-hartmann-3": (lambda: _synthetic().mf_hartmann_problem(3), ["mf-hartmann-3"]),
    "mf-hartmann-6": (lambda: _synthetic().mf_hartmann_problem(6), ["mf-hartmann-6"]),
}
DEFAULT_PROBLEMS = ("counting-ones-4+4", "counting-ones-16+16", "mf-hartmann-6")
#: ``bohb-warm``: BOHB warm-started from the BOHB run of the next seed (run after the others).
WARM = "bohb-warm"
#: autorl's methods, the external ones (``autorl optimize --optimizer``) and :data:`WARM`.
OPTIMIZERS = (*_OPTIMIZE_OPTIMIZERS, WARM)


def _goals() -> Goals:
    """The goals of BOHB (issue: BOHB proven through ``autorl optimize`` against the reference).

    Also available as ``GOALS`` (built on first use: :mod:`benchmarks.optimizers` imports
    numpy, which ``autorl --help`` must not).
    """
    from benchmarks.optimizers import Goals

    return Goals(
        subject="bohb",
        beat={
            "counting-ones-16+16": ("random", "hyperband", "hpbandster"),
            "mf-hartmann-6": ("random", "hyperband", "hpbandster"),
        },
        within_se={"counting-ones-4+4": ("hpbandster",)},
        max_regret={"counting-ones-4+4": 0.25},
        max_overhead_ms=50.0,
        warm_start={"mf-hartmann-6": (WARM, "bohb")},
    )


def __getattr__(name: str) -> Any:
    if name == "GOALS":
        return _goals()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``benchmark-optimizers`` subcommand."""
    parser = subparsers.add_parser(
        "benchmark-optimizers",
        help="BOHB against random search, Hyperband, SMAC3, Optuna and hpbandster",
        description=(
            "Run each optimizer through `autorl optimize` on counting ones and MF-Hartmann "
            "with several seeds at the same total budget; print mean final and anytime "
            "noise-free regret with standard errors and each optimizer's overhead, plot the "
            "anytime regret, then check BOHB's goals."
        ),
    )
    parser.add_argument(
        "--problems",
        default=",".join(DEFAULT_PROBLEMS),
        help=f"comma-separated, from {', '.join(PROBLEMS)} (default: %(default)s)",
    )
    parser.add_argument(
        "--optimizers",
        default=",".join(OPTIMIZERS),
        help="comma-separated; smac, optuna and hpbandster are skipped when not installed "
        "(default: all)",
    )
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 per optimizer (10)")
    parser.add_argument(
        "--iterations",
        type=int,
        default=8,
        help="total budget per run: that of N Hyperband iterations with hpbandster's "
        "brackets (8: 33 full evaluations on counting ones)",
    )
    parser.add_argument("--out", required=True, help="output directory (re-run to continue)")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.set_defaults(run=run_command)


def _names(spec: str, known: tuple[str, ...] | dict[str, Any], flag: str) -> list[str]:
    names = [name.strip() for name in spec.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise ValueError(f"{flag}: unknown {unknown}; choose from {', '.join(known)}")
    return names


def run_one(
    problem_name: str,
    optimizer: str,
    seed: int,
    iterations: int,
    out: Path,
    warm_start: Path | None = None,
) -> RunRecord:
    """One ``autorl optimize`` run (or its replay, when its log is complete), judged."""
    from autorl.bohb.hyperband import budgets, planned_budget
    from autorl.bohb.runlog import load_trials
    from autorl.commands.optimize import optimize, parse
    from benchmarks.optimizers import record_run

    make, task_args = PROBLEMS[problem_name]
    problem = make()
    rungs = budgets(problem.min_budget, problem.max_budget, problem.eta)
    total = planned_budget(iterations, rungs, problem.eta)
    method = "bohb" if optimizer == WARM else optimizer
    argv = ["--task", *task_args, "--optimizer", method, "--iterations", str(iterations)]
    argv += ["--seed", str(seed), "--workers", "0", "--out", str(out), "--quiet"]
    if warm_start is not None:
        argv += ["--warm-start", str(warm_start)]
    if (out / "run.json").exists():
        argv.append("--resume")
    error = None
    begin = time.perf_counter()
    try:
        optimize(parse(argv), max_total_budget=total)
    except Exception as exc:  # noqa: BLE001 - one broken optimizer must not end the benchmark
        error = f"{type(exc).__name__}: {exc}"
    records = load_trials(out) if (out / "trials.jsonl").exists() else []
    seconds = max((float(r.get("finished", 0.0)) for r in records), default=0.0)
    if error is not None or not records:
        seconds = time.perf_counter() - begin
    return record_run(problem, optimizer, seed, records, total, seconds, error)


def run_command(args: argparse.Namespace) -> int:
    """Run the comparison, print the table and the goals, write the results."""
    from autorl.bohb.external import EXTERNAL, available
    from benchmarks.optimizers import check_goals, format_table, plot_curves, summarize
    from meta.files import write_json_atomic
    from meta.provenance import package_versions

    if args.seeds < 1 or args.iterations < 1:
        raise ValueError("--seeds and --iterations must be >= 1")
    problems = _names(args.problems, PROBLEMS, "--problems")
    wanted = _names(args.optimizers, OPTIMIZERS, "--optimizers")
    if WARM in wanted and ("bohb" not in wanted or args.seeds < 2):
        raise ValueError(f"{WARM} starts from the bohb runs of other seeds: add bohb, --seeds >= 2")
    optimizers = []
    for name in wanted:
        if name in EXTERNAL and not available(name):
            print(
                f"skipping {name}: not installed (pip install 'autorl[compare]')", file=sys.stderr
            )
        else:
            optimizers.append(name)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    records: list[RunRecord] = []
    cold = [name for name in optimizers if name != WARM]
    plan = [(p, seed, name) for p in problems for seed in range(args.seeds) for name in cold]
    if WARM in optimizers:  # after every cold run: each starts from the next seed's BOHB run
        plan += [(p, seed, WARM) for p in problems for seed in range(args.seeds)]
    for problem, seed, name in plan:
        runs = out / "runs" / problem
        run_dir = runs / name / f"seed-{seed}"
        earlier = runs / "bohb" / f"seed-{(seed + 1) % args.seeds}" if name == WARM else None
        record = run_one(problem, name, seed, args.iterations, run_dir, earlier)
        records.append(record)
        if not args.quiet:
            status = f" ERROR {record.error}" if record.error else ""
            print(
                f"{problem} {name} seed {seed}: final regret {record.regrets[1.0]:.4f}, "
                f"{record.evaluations} evals, {record.seconds:.1f} s{status}",
                file=sys.stderr,
                flush=True,
            )
    rows = summarize(records)
    table = format_table(rows)
    goals = check_goals(rows, _goals())
    lines = [f"[{'met' if met else 'MISSED'}] {statement}" for met, statement in goals]
    print(table + "\n\n" + "\n".join(lines))
    (out / "table.md").write_text(table + "\n\n" + "\n".join(lines) + "\n", encoding="utf-8")
    plot_curves(rows, out / "regret.png", f"({args.iterations} iterations' worth)")
    payload = {
        "arguments": {k: v for k, v in vars(args).items() if k != "run"},
        "versions": package_versions(),
        "runs": [dataclasses.asdict(r) for r in records],
        "summary": [dataclasses.asdict(r) for r in rows],
        "goals": [{"met": m, "goal": s} for m, s in goals],
    }
    write_json_atomic(json.loads(json.dumps(payload, default=str)), out / "summary.json")
    failed = any(r.error for r in records)
    return 0 if all(m for m, _ in goals) and not failed else 1
