r"""``autorl evaluate``: train configurations on fresh seeds and report how fast they learn.

Compare a BOHB incumbent with the built-in references on 10 fresh seeds::

    autorl evaluate --task cartpole --config runs/opt/incumbent.json --label bohb \
        --reference sb3-default --reference zoo --seeds 10 --timesteps 100000 \
        --workers 2 --out runs/eval-cartpole

Every configuration (``--config`` files over the task's defaults, labelled by ``--label`` or
the file's stem; ``--reference sb3-default``: SB3's PPO defaults; ``--reference zoo``: the RL
Baselines3 Zoo's tuned CartPole-v1 PPO, ``--task cartpole`` only) is trained once per seed
for the whole ``--timesteps`` budget, in ``--workers`` processes. The seeds are ``S, S+1, ...``
with ``S = --first-seed`` (10000), a block that ``autorl optimize`` and ``autorl train`` do
not use. The protocol, the metrics and the files (``runs.jsonl``, ``summary.json``,
``table.md``, ``learning_curves.png``) are described in :mod:`benchmarks.agent_runs`; the
table is printed to stdout.

Exit codes: 0 every run finished; 1 some runs raised (recorded with their error; ``--resume``
runs them again); 2 bad input (nothing written); 130 stopped by Ctrl-C or SIGTERM (finished
runs are kept; ``--resume`` continues).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autorl.commands.train import TASKS
from autorl.progress import Progress
from policies.device import DEVICE_CHOICES, check_device

if TYPE_CHECKING:
    from benchmarks.agent_runs import EvaluationPlan, RunProgress

#: Literal copy of ``benchmarks.agent_runs.REFERENCES``' names (the parser stays light);
#: tests/test_evaluate.py checks that it matches.
REFERENCES = ("sb3-default", "zoo")
#: Literal copy of ``benchmarks.agent_runs.FIRST_SEED``.
FIRST_SEED = 10_000


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` subcommand."""
    parser = subparsers.add_parser(
        "evaluate",
        help="train configurations on fresh seeds; episodes and timesteps to the threshold",
        description="Train each configuration (--config files, --reference "
        f"{'/'.join(REFERENCES)}) on --seeds fresh seeds for the whole --timesteps budget and "
        "report the episodes and timesteps until the mean return of the last 20 episodes "
        "reaches the task's threshold (median, mean, failures), the final return and a "
        "learning-curve plot. Writes runs.jsonl, summary.json, table.md and "
        "learning_curves.png to --out. Exit code 0: every run finished; 1: some runs "
        "failed; 2: bad input; 130: interrupted (--resume continues).",
    )
    parser.add_argument("--task", required=True, help=f"one of: {', '.join(TASKS)}")
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="CONFIG.json",
        help="flat JSON settings over the task's defaults (repeatable)",
    )
    parser.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="NAME",
        help="name of the matching --config (repeatable, in order; default: the file's stem)",
    )
    parser.add_argument(
        "--reference",
        action="append",
        default=[],
        metavar="NAME",
        help=f"a built-in configuration: {', '.join(REFERENCES)} (zoo: cartpole only)",
    )
    parser.add_argument("--seeds", type=int, default=10, metavar="N", help="seeds (10)")
    parser.add_argument(
        "--first-seed",
        type=int,
        default=FIRST_SEED,
        metavar="S",
        help=f"the seeds are S, S+1, ... ({FIRST_SEED}; not used by optimize or train)",
    )
    parser.add_argument(
        "--timesteps", type=int, required=True, metavar="N", help="environment steps per run"
    )
    parser.add_argument("--workers", type=int, default=2, help="parallel runs (2)")
    parser.add_argument(
        "--device", default="cpu", metavar=DEVICE_CHOICES, help="torch device of the policy (cpu)"
    )
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument(
        "--resume", action="store_true", help="continue the evaluation in --out (skip its runs)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.set_defaults(run=run)


def build_plan(args: argparse.Namespace) -> EvaluationPlan:
    """The checked evaluation of the arguments (a ValueError for bad input; writes nothing)."""
    from benchmarks.agent_runs import EvaluationPlan, default_seeds, reference_config
    from meta.agents import AgentConfig, agent_spec

    spec = agent_spec(args.task)
    if not args.config and not args.reference:
        raise ValueError("nothing to evaluate: give --config and/or --reference")
    if args.label and len(args.label) != len(args.config):
        raise ValueError(
            f"{len(args.label)} --label for {len(args.config)} --config: give one per --config "
            "(in order) or none"
        )
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    seeds = default_seeds(args.seeds, args.first_seed)
    labels = list(args.label) or [Path(path).stem for path in args.config]
    configs = [AgentConfig.load(path, base=spec.default) for path in args.config]
    labels += args.reference
    configs += [reference_config(name, spec.name) for name in args.reference]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ValueError(
            f"duplicate label {repeated[0]!r}; give distinct --label names (references are "
            "labelled by their name)"
        )
    return EvaluationPlan(spec.name, dict(zip(labels, configs)), seeds, args.timesteps)


def run(args: argparse.Namespace) -> int:
    """Evaluate, write the reports and print the table; 1 if a run failed, 130 if stopped."""
    from benchmarks.agent_runs import FILES, RunObjective, load_runs, pending_runs, write_reports

    plan = build_plan(args)
    device = command_device(args.device)
    out = Path(args.out)
    stopped_code = run_pending(
        "evaluate",
        plan,
        args,
        lambda threads: RunObjective(plan.task, plan.cap, device, threads),
    )
    if stopped_code is not None:
        return stopped_code
    records = load_runs(out)
    _, table = write_reports(plan, out, records)
    return finish("evaluate", out, table, FILES, len(pending_runs(plan, records)))


def command_device(device: str) -> str:
    """``--device`` checked, and resolved on this machine unless it is ``cpu``."""
    device = check_device(device)
    if device != "cpu":
        from policies.device import resolve_device

        device = resolve_device(device)
    return device


def run_pending(
    command: str,
    plan: EvaluationPlan,
    args: argparse.Namespace,
    make_objective: Callable[[int], Any],
    make_job: Callable[[str, dict, float, int], Any] | None = None,
) -> int | None:
    """Run ``plan``'s pending runs in ``--workers`` processes, with progress on stderr.

    Args:
        command: The subcommand's name (messages).
        plan: The runs (:class:`benchmarks.agent_runs.EvaluationPlan`).
        args: ``out``, ``resume``, ``workers`` and ``quiet``.
        make_objective: ``make_objective(torch_threads)``: the picklable objective.
        make_job: Builds an executor job (default :class:`autorl.bohb.executor.Job`).

    Returns:
        None when the runs ended; 130 when stopped by Ctrl-C or SIGTERM.
    """
    from autorl.bohb.executor import Job, ProcessExecutor
    from benchmarks.agent_runs import OK, pending_runs, prepare, run_plan

    out = Path(args.out)
    records = prepare(plan, out, args.resume)
    pending = pending_runs(plan, records)
    workers = max(1, min(args.workers, len(pending)))
    start = time.monotonic()
    with Progress(args.quiet) as progress:

        def show(state: RunProgress) -> None:
            last = state.last
            if last["status"] == OK:
                result = f"{last['episodes_to_threshold']} episodes to threshold"
            else:
                result = "failed"
                progress.clear()
                print(
                    f"autorl {command}: run {last['label']} seed {last['seed']} failed: "
                    f"{last['error']}",
                    file=sys.stderr,
                )
            progress.update(
                f"{command} {plan.task}: {state.done}/{state.total} runs"
                f" ({state.failed} failed), {time.monotonic() - start:.0f} s"
                f" | {last['label']} seed {last['seed']}: {result}",
                force=True,
            )

        progress.update(
            f"{command} {plan.task}: {len(pending)} runs on {workers} workers", force=True
        )
        objective = make_objective(max(1, (os.cpu_count() or 1) // workers))
        try:
            with sigterm_interrupts(), ProcessExecutor(objective, workers) as executor:
                run_plan(plan, out, executor, make_job or Job, records, on_run=show)
        except KeyboardInterrupt:
            progress.clear()
            return stopped(command, out)
    return None


def stopped(command: str, out: Path) -> int:
    """Say where the finished runs are after an interruption; the exit code 130."""
    print(
        f"autorl {command}: stopped; finished runs are in {out / 'runs.jsonl'}; --resume continues",
        file=sys.stderr,
    )
    return 130


def finish(command: str, out: Path, table: str, files: Sequence[str], failed: int) -> int:
    """Print the table and the files; the exit code (1 when ``failed`` runs raised)."""
    print(table, end="")
    print("files: " + ", ".join(str(out / name) for name in files))
    if failed:
        print(
            f"autorl {command}: {failed} run(s) failed (errors in runs.jsonl); --resume runs "
            "them again",
            file=sys.stderr,
        )
        return 1
    return 0


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Turn SIGTERM into a KeyboardInterrupt while the runs go on (as Ctrl-C)."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
