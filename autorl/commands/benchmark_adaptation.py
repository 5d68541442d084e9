r"""``autorl benchmark-adaptation``: a meta-trained policy vs PPO from scratch, unseen contexts.

Meta-train across CartPole physics, then compare on 10 contexts drawn from the test ranges::

    autorl meta-train --task cartpole-variants --config zoo.json --timesteps 500000 \
        --out runs/meta-cartpole
    autorl benchmark-adaptation --task cartpole-variants --init runs/meta-cartpole/latest.zip \
        --contexts 10 --timesteps 100000 --workers 2 --out runs/adapt-cartpole

For every context and seed the checkpoint's policy is first tested zero-shot (solved: 0
episodes), then adapted with PPO from its weights; PPO from scratch with the same
configuration learns the same context. The protocol and the files (``runs.jsonl``,
``summary.json``, ``table.md``, ``adaptation.png``) are described in
:mod:`benchmarks.adaptation`; the table is printed to stdout. One context is adapted to with
``autorl train --task cartpole-variants --context gravity=12,length=0.8 --init CKPT``.

Exit codes: 0 every run finished; 1 some runs raised (``--resume`` runs them again); 2 bad
input (nothing written); 130 stopped by Ctrl-C or SIGTERM (``--resume`` continues).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from autorl.commands.evaluate import FIRST_SEED, command_device, finish, run_pending
from policies.device import DEVICE_CHOICES

if TYPE_CHECKING:
    from benchmarks.adaptation import AdaptationPlan

#: Literal copy of ``meta.contexts.OBSERVES_CONTEXT``'s names (the parser stays light).
TASKS = ("cartpole", "cartpole-variants")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``benchmark-adaptation`` subcommand."""
    parser = subparsers.add_parser(
        "benchmark-adaptation",
        help="a meta-trained policy vs PPO from scratch on unseen CartPole contexts",
        description="Draw --contexts physics contexts from the test ranges; on each, test the "
        "--init checkpoint's policy zero-shot, adapt it with PPO, and train PPO from scratch "
        "with the same configuration; report the episodes until the mean return of the last "
        "20 episodes reaches the threshold and the speed-up. Writes runs.jsonl, "
        "summary.json, table.md and adaptation.png to --out. Exit code 0: every run "
        "finished; 1: some runs failed; 2: bad input; 130: interrupted (--resume continues).",
    )
    parser.add_argument("--task", default="cartpole-variants", help=f"one of: {', '.join(TASKS)}")
    parser.add_argument(
        "--init", required=True, metavar="CHECKPOINT", help="meta-trained checkpoint"
    )
    parser.add_argument("--contexts", type=int, default=10, help="unseen contexts (10)")
    parser.add_argument(
        "--context-seed", type=int, default=0, help="seed the contexts are drawn with (0)"
    )
    parser.add_argument("--seeds", type=int, default=1, help="fresh seeds per context and mode (1)")
    parser.add_argument(
        "--first-seed",
        type=int,
        default=FIRST_SEED,
        help=f"the seeds are S, S+1, ... ({FIRST_SEED})",
    )
    parser.add_argument(
        "--timesteps", type=int, required=True, metavar="N", help="training budget per run"
    )
    parser.add_argument("--workers", type=int, default=2, help="parallel runs (2)")
    parser.add_argument(
        "--device",
        default="cpu",
        metavar="|".join(DEVICE_CHOICES),
        help="torch device of the policy (cpu)",
    )
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--resume", action="store_true", help="continue in --out (skip its runs)")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.set_defaults(run=run)


def build_plan(args: argparse.Namespace) -> AdaptationPlan:
    """The checked plan (a ValueError for bad input; nothing is written)."""
    from benchmarks.adaptation import make_plan
    from benchmarks.agent_runs import default_seeds

    if args.task not in TASKS:
        raise ValueError(f"unknown task {args.task!r}; choose one of {', '.join(TASKS)}")
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    if args.contexts < 1:
        raise ValueError(f"--contexts must be >= 1, got {args.contexts}")
    seeds = default_seeds(args.seeds, args.first_seed)
    return make_plan(args.task, args.init, args.contexts, args.context_seed, seeds, args.timesteps)


def run(args: argparse.Namespace) -> int:
    """Run the comparison, write the reports, print the table; 1 if a run failed."""
    from autorl.bohb.executor import Job
    from benchmarks.adaptation import FILES, AdaptationObjective, job_config, write_reports
    from benchmarks.agent_runs import load_runs, pending_runs

    plan = build_plan(args)
    device = command_device(args.device)
    evaluation = plan.evaluation
    out = Path(args.out)

    def make_job(trial_id: str, flat: dict, timesteps: float, seed: int) -> Job:
        return Job(trial_id, job_config(plan, trial_id, flat), timesteps, seed)

    stopped_code = run_pending(
        "benchmark-adaptation",
        evaluation,
        args,
        lambda threads: AdaptationObjective(
            plan.task, plan.checkpoint, plan.cap, device, threads, plan.normalization
        ),
        make_job,
    )
    if stopped_code is not None:
        return stopped_code
    records = load_runs(out)
    _, table = write_reports(plan, out, records)
    return finish("benchmark-adaptation", out, table, FILES, len(pending_runs(evaluation, records)))
