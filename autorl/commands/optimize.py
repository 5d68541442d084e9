r"""``autorl optimize``: BOHB (or Hyperband / random search) on a task, logged and resumable.

Run::

    autorl optimize --task counting-ones --iterations 10 --out runs/co
    autorl optimize --task rna-learna --targets val.txt --min-budget 5 --max-budget 45 \
        --iterations 4 --out runs/learna
    autorl optimize ... --out runs/learna --resume      # after a crash or kill
    autorl optimize --task mf-hartmann-6 --iterations 4 --warm-start runs/h6 --out runs/h6b
    autorl optimize --task counting-ones --optimizer hpbandster --iterations 8 --out runs/ref
    autorl optimize --task nas --dataset mnist1d --workers 2 --iterations 2 --out runs/nas-bohb

Writes ``OUT/run.json``, ``OUT/proposals.jsonl``, ``OUT/trials.jsonl`` (see
:mod:`autorl.bohb.runlog`), ``OUT/incumbent.json`` and ``OUT/trajectory.png``.
Exit codes: 0 done; 1 every trial failed; 2 bad input; 130 interrupted (resume with
``--resume``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autorl.commands.nas import DATASETS as NAS_DATASETS
from autorl.commands.options import add_backend_options, add_device_option, backend_from_args
from autorl.progress import Progress
from autorl.tasks import SUMMARIES, TASKS
from meta.cluster import Backend, backend_session
from policies.device import check_gpus, resolve_device

if TYPE_CHECKING:
    from autorl.bohb.optimizer import BOHBConfig
    from autorl.bohb.run import RunSummary
    from autorl.tasks import Task

# Literal copies (building the parser imports neither ConfigSpace nor numpy); checked against
# the originals by tests/test_cli_startup.py.
#: ``autorl.bohb.optimizer.METHODS``: autorl's own search methods.
METHODS = ("bohb", "hyperband", "random")
#: The names of ``autorl.bohb.external.EXTERNAL``: the optimizers of optional packages.
EXTERNAL = ("smac", "optuna", "hpbandster")
#: The defaults of the ``autorl.bohb.optimizer.BOHBConfig`` fields the options set.
_DEFAULTS = {"eta": 3.0, "seed": 0, "brackets": "hpbandster"}

#: Every --optimizer: autorl's own and the external ones (optional packages).
OPTIMIZERS = (*METHODS, *EXTERNAL)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``optimize`` subcommand."""
    parser = subparsers.add_parser(
        "optimize",
        help="BOHB over architecture and hyperparameters (multi-fidelity, resumable)",
        description=(
            "Optimize a task's configuration with BOHB: Hyperband budgets, a KDE model, "
            "trials in worker processes. Every finished trial is appended to OUT/trials.jsonl; "
            "--resume continues a killed run without losing or repeating finished trials."
        ),
    )
    parser.add_argument(
        "--task",
        required=True,
        help="what to optimize: "
        + "; ".join(f"{name} ({summary})" for name, summary in SUMMARIES.items()),
    )
    parser.add_argument(
        "--optimizer",
        default=METHODS[0],
        help=f"search method: {', '.join(OPTIMIZERS)} (default bohb; smac, optuna and "
        "hpbandster need pip install 'autorl[compare]')",
    )
    parser.add_argument(
        "--brackets",
        default=_DEFAULTS["brackets"],
        help="Hyperband bracket sizes: hpbandster (floor, the reference's; default) or "
        "paper (ceil, Li et al. 2018)",
    )
    parser.add_argument(
        "--budget-unit",
        help="what a budget counts, where the task offers a choice (rna-learna: seconds or "
        "episodes per target)",
    )
    parser.add_argument(
        "--warm-start",
        nargs="+",
        metavar="RUN_DIR",
        default=[],
        help="earlier runs of the same search space whose trials seed BOHB's model",
    )
    parser.add_argument("--min-budget", type=float, help="smallest budget (task default)")
    parser.add_argument("--max-budget", type=float, help="largest budget (task default)")
    parser.add_argument(
        "--eta", type=float, default=_DEFAULTS["eta"], help="halving rate (%(default)g)"
    )
    parser.add_argument(
        "--iterations", type=int, required=True, help="Hyperband iterations (brackets) to run"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="trials at once (1): worker processes, or Ray tasks with --backend ray; 0 runs "
        "trials in this process without timeouts",
    )
    parser.add_argument(
        "--seed", type=int, default=_DEFAULTS["seed"], help="seed of the run (%(default)s)"
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        metavar="SECONDS",
        help="wall-clock limit of this session: no trial starts after it and trials still "
        "running are stopped (not logged; --resume runs them again)",
    )
    parser.add_argument("--out", required=True, help="run directory")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    parser.add_argument(
        "--targets",
        metavar="FILE",
        help="rna-learna, rna-meta-learna: validation target file (default: every 10th target "
        "of Rfam-Learn validation)",
    )
    parser.add_argument(
        "--dims",
        type=int,
        help="counting-ones: categorical and continuous parameters, each (4)",
    )
    parser.add_argument(
        "--dataset",
        help=f"nas: the children's dataset, {' or '.join(NAS_DATASETS)} ({NAS_DATASETS[0]})",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    add_device_option(parser, "the policies (RNA tasks) or child networks (nas) trials train")
    parser.set_defaults(device=None)
    add_backend_options(parser, "trial", resources=True)
    parser.set_defaults(run=run_command)


def _task(args: argparse.Namespace, backend: Backend) -> Task:
    from autorl.tasks import REGISTRY, TaskOptions, make_task

    spec = REGISTRY.get(args.task)
    if spec is None:
        raise ValueError(f"--task: unknown task {args.task!r}; choose one of {', '.join(TASKS)}")
    given = {
        "targets": args.targets is not None,
        "dims": args.dims is not None,
        "device": args.device is not None,
        "dataset": args.dataset is not None,
    }
    for option, used in given.items():
        if used and option not in spec.options:
            raise ValueError(f"--{option} does not apply to --task {args.task}")
    options = TaskOptions(
        workers=args.workers,
        targets=args.targets,
        dims=4 if args.dims is None else args.dims,
        budget_unit=args.budget_unit,
        device=args.device or "auto",
        # On Ray a trial has the CPUs it reserved, wherever it runs.
        cpus=max(1, int(backend.cpus)) * max(1, args.workers) if backend.is_ray else None,
        dataset=args.dataset,
        # Ray trials may run on machines without the run directory.
        run_dir=None if backend.is_ray else str(Path(args.out).resolve()),
    )
    return make_task(args.task, options)


def _check_method(args: argparse.Namespace) -> None:
    from autorl.bohb.hyperband import BRACKET_RULES

    if args.optimizer not in OPTIMIZERS:
        raise ValueError(
            f"--optimizer: unknown {args.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}"
        )
    if args.brackets not in BRACKET_RULES:
        raise ValueError(
            f"--brackets: unknown {args.brackets!r}; choose {' or '.join(BRACKET_RULES)}"
        )
    if args.warm_start and args.optimizer != "bohb":
        raise ValueError("--warm-start feeds BOHB's model: use it with --optimizer bohb")


def _config(args: argparse.Namespace, task: Task) -> BOHBConfig:
    from autorl.bohb.optimizer import BOHBConfig

    if args.iterations < 1:
        raise ValueError(f"--iterations must be >= 1, got {args.iterations}")
    min_budget = task.min_budget if args.min_budget is None else args.min_budget
    max_budget = task.max_budget if args.max_budget is None else args.max_budget
    try:
        return BOHBConfig(min_budget, max_budget, args.eta, seed=args.seed, brackets=args.brackets)
    except ValueError as error:
        raise ValueError(f"{error} (--min-budget/--max-budget/--eta/--seed)") from None


def parse(argv: Sequence[str]) -> argparse.Namespace:
    """Parse ``autorl optimize`` arguments (for callers that run the command in-process)."""
    parser = argparse.ArgumentParser(prog="autorl")
    register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["optimize", *argv])


def optimize(
    args: argparse.Namespace, *, max_total_budget: float | None = None
) -> tuple[Task, RunSummary]:
    """Check the arguments, run the optimization, write the trajectory plot and incumbent.

    This is the whole command except its printing; ``autorl benchmark-optimizers`` runs
    every optimizer through it, with ``max_total_budget`` giving each the same total.

    Raises:
        ValueError: bad input (checked before anything is written).
    """
    from autorl.bohb.run import load_warm_start, plot_trajectory, run

    if args.workers < 0:
        raise ValueError(f"--workers must be >= 0, got {args.workers}")
    _check_method(args)
    backend = backend_from_args(args, "trial")
    if backend.is_ray and args.workers < 1:
        raise ValueError("--workers 0 runs trials in this process; with --backend ray use >= 1")
    if not backend.is_ray:
        check_gpus(backend.gpus, "trial")
        if args.device:
            resolve_device(args.device)  # the trials run on this machine: CUDA must be here
    elif args.device and args.device.startswith("cuda") and not backend.gpus > 0:
        raise ValueError(
            f"--device {args.device} with --backend ray needs --gpus-per-trial > 0 (Ray hides "
            "the GPUs from tasks that reserve none)"
        )
    task = _task(args, backend)
    config = _config(args, task)
    load_warm_start(args.warm_start, task.space)  # refuse a bad one before anything starts
    out = Path(args.out)
    if not args.quiet:
        print(
            f"autorl optimize: {args.optimizer} on {task.name}, budgets "
            f"{', '.join(f'{b:g}' for b in config.budgets)} ({task.budget_unit}), "
            f"{args.iterations} iterations ({config.brackets} brackets), "
            f"{args.workers} worker(s) ({backend.name}), seed {config.seed} -> {out}",
            file=sys.stderr,
        )
    with backend_session(backend, "trial"), Progress(args.quiet) as progress:
        summary = run(
            task.objective,
            task.space,
            config,
            out_dir=out,
            iterations=args.iterations,
            method=args.optimizer,
            workers=args.workers,
            resume=args.resume,
            timeout=task.timeout,
            task=task.name,
            task_options=task.options,
            progress=progress,
            common_random_numbers=task.common_random_numbers,
            warm_start=args.warm_start,
            max_total_budget=max_total_budget,
            backend=backend,
            time_limit=args.time_limit,
        )
    plot_trajectory(out, title=f"{args.optimizer} on {task.name} (seed {config.seed})")
    if summary.incumbent is not None:
        _write_incumbent(task, summary, out)
    return task, summary


def run_command(args: argparse.Namespace) -> int:
    """Run the optimization, then report the incumbent."""
    _, summary = optimize(args)
    print(
        f"{summary.trials} trials ({summary.failed} failed, {summary.replayed} taken from the "
        f"log), budget used {summary.budget_used:g}",
        file=sys.stderr,
    )
    if summary.stopped:
        print(
            f"stopped at the --time-limit of {args.time_limit:g} s before the schedule ended; "
            "--resume continues the run",
            file=sys.stderr,
        )
    if summary.incumbent is None:
        print("no trial succeeded: no incumbent (see errors in trials.jsonl)", file=sys.stderr)
        return 1
    _print_incumbent(summary, summary.out_dir)
    return 0


def _write_incumbent(task: Task, summary: RunSummary, out: Path) -> None:
    meta: dict[str, Any] = {
        "task": task.name,
        "loss": summary.incumbent_loss,
        "budget": summary.incumbent_budget,
        "run_dir": str(out),
    }
    assert summary.incumbent is not None and task.write_incumbent is not None
    task.write_incumbent(out / "incumbent.json", summary.incumbent, meta)


def _print_incumbent(summary: RunSummary, out: Path) -> None:
    loss = summary.incumbent_loss
    shown = f"{loss:.6g}" if math.isfinite(loss) else str(loss)
    print(f"incumbent: loss {shown} on budget {summary.incumbent_budget:g}")
    print(json.dumps(summary.incumbent, indent=2, sort_keys=True, default=str))
    print(f"written: {out / 'incumbent.json'}, {out / 'trajectory.png'}")
