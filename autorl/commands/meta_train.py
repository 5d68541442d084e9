"""``autorl meta-train``: train one policy across many tasks.

``--task rna`` (the default): Meta-LEARNA, PPO on the RNA design environment with a new
training target every episode (``--train-data``), with periodic validation
(:mod:`meta.training`).

``--task cartpole-variants``: PPO on CartPole whose physics is drawn per episode from the
training ranges, the normalized context in the observation (:mod:`meta.agents`); the run is
an ``autorl train`` run of that task (:mod:`meta.ppo_training`: the same files, resume and
``--backend ray``). Adapt the result to one context with ``autorl train --task
cartpole-variants --context ... --init OUT/latest.zip``, and compare it with PPO from scratch
on unseen contexts with ``autorl benchmark-adaptation``. The RNA-only options
(``--train-data``, ``--validation-*``, ``--n-steps``, ``--data-dir``, ``--imitate``,
``--imitation-*``) are refused there.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from autorl.commands.options import add_backend_options, add_device_option, backend_from_args
from autorl.progress import Progress
from meta.cluster import backend_session
from policies.device import resolve_device

if TYPE_CHECKING:
    from meta.imitation import CloneEpoch
    from meta.training import MetaTrainSettings, TrainProgress, ValidationResult

#: ``--task`` values: RNA design (Meta-LEARNA) and the vector tasks meta-trained by
#: ``autorl train``'s trainer.
TASKS = ("rna", "cartpole-variants")
#: Options only RNA meta-training reads, and their defaults there.
RNA_OPTIONS = {
    "train_data": None,
    "validation_data": None,
    "validate_every": 10.0,
    "validation_time": 2.0,
    "validation_envs": 16,
    "n_steps": 64,
    "data_dir": None,
    "imitate": None,
    "imitation_epochs": 10,
    "imitation_lr": 1e-3,
}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``meta-train`` subcommand."""
    parser = subparsers.add_parser(
        "meta-train",
        help="meta-train a policy across many tasks (RNA targets, CartPole physics)",
        description="--task rna (default, Meta-LEARNA): PPO on the RNA design environment with "
        "a new training target every episode. --task cartpole-variants: PPO on CartPole with "
        "physics drawn per episode from the training ranges (the run of autorl train; adapt "
        "with autorl train --context ... --init, compare with autorl benchmark-adaptation). "
        "Writes checkpoints (SB3 zip + JSON configuration), TensorBoard logs and, "
        "with --validation-data, periodic validation scores and the best checkpoint to --out. "
        "With --backend ray the episodes run in --workers Ray actors spread over the cluster "
        "(a lost actor is replaced and its rollout redone); the PPO update runs here, on "
        "--device. Exit code 0: budget spent; 2: bad input; 130: interrupted (a checkpoint is "
        "written first; --resume continues).",
    )
    parser.add_argument(
        "--task",
        default="rna",
        help=f"what to meta-train across: {', '.join(TASKS)} (rna)",
    )
    parser.add_argument(
        "--train-data", help="rna: target file of training structures (required for rna)"
    )
    parser.add_argument(
        "--ranges",
        metavar="PRESET|FEATURE=MIN:MAX,...",
        help="cartpole-variants: the ranges contexts are drawn from (default: train, CARL's; "
        "or test, or pairs over the training ranges, e.g. gravity=5:20,tau=0.02)",
    )
    parser.add_argument(
        "--config", help="flat JSON settings over the Meta-LEARNA defaults (e.g. incumbent.json)"
    )
    budget = parser.add_mutually_exclusive_group(required=True)
    budget.add_argument("--time-limit", type=float, metavar="SECONDS", help="training time")
    budget.add_argument("--timesteps", type=int, metavar="N", help="environment steps")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes that fold designs in parallel; with --backend ray: Ray actors that "
        "run the episodes (1)",
    )
    add_device_option(parser, "the PPO update")
    parser.add_argument(
        "--seed", type=int, help="seed of everything random (0; on resume: the run's)"
    )
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its latest checkpoint"
    )
    parser.add_argument(
        "--init",
        metavar="CHECKPOINT",
        help="start a new run from this checkpoint's weights (fresh optimizer; the "
        "checkpoint's configuration): continued training, e.g. of the shipped model on other "
        "structures",
    )
    parser.add_argument(
        "--validation-data", help="target file designed (sampling only) at every validation"
    )
    parser.add_argument("--validate-every", type=float, metavar="MINUTES", help="(10)")
    parser.add_argument(
        "--validation-time",
        type=float,
        metavar="SECONDS",
        help="per validation target (2)",
    )
    parser.add_argument(
        "--validation-envs",
        type=int,
        help="episodes per sampled batch in validation (16)",
    )
    parser.add_argument(
        "--checkpoint-every", type=float, default=5.0, metavar="MINUTES", help="(5)"
    )
    parser.add_argument(
        "--n-steps", type=int, help="rna: steps per environment per PPO rollout (64)"
    )
    parser.add_argument(
        "--data-dir",
        help="directory of the benchmark files that the training data is checked against",
    )
    parser.add_argument(
        "--imitate",
        metavar="DESIGNS",
        help="rna: before PPO, train the policy to write these solutions of training targets "
        "(what autorl design --format json or jsonl prints; expert iteration's distillation "
        "step); writes imitation.csv and imitated.zip",
    )
    parser.add_argument(
        "--imitation-epochs", type=int, metavar="N", help="rna: passes of --imitate (10)"
    )
    parser.add_argument(
        "--imitation-lr", type=float, metavar="RATE", help="rna: Adam's step in --imitate (0.001)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    add_backend_options(parser, "actor")
    parser.set_defaults(run=run)


def _check_task(args: argparse.Namespace) -> None:
    """Refuse an unknown task and options the task does not read; fill RNA's defaults."""
    if args.task not in TASKS:
        raise ValueError(f"unknown task {args.task!r}; choose one of {', '.join(TASKS)}")
    given = [name for name in RNA_OPTIONS if getattr(args, name) is not None]
    if args.task == "rna" and args.ranges is not None:
        raise ValueError("--ranges: an option of --task cartpole-variants, not of --task rna")
    if args.task != "rna":
        if given:
            flags = ", ".join("--" + name.replace("_", "-") for name in given)
            raise ValueError(f"{flags}: RNA meta-training options; --task {args.task} takes none")
        return
    if args.train_data is None:
        raise ValueError("--task rna needs --train-data (a target file of training structures)")
    for name, default in RNA_OPTIONS.items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    if args.seed is None:
        args.seed = 0


def _train_args(args: argparse.Namespace) -> argparse.Namespace:
    """``autorl train``'s arguments for meta-training a vector task."""
    return argparse.Namespace(**{**vars(args), "context": None})


def _settings(args: argparse.Namespace) -> MetaTrainSettings:
    from benchmarks.overlap import check_no_overlap
    from envs.dot_bracket import read_targets
    from meta.config import META_LEARNA, LearnaConfig
    from meta.training import MetaTrainSettings

    _check_task(args)
    resolve_device(args.device)  # before reading any data: a clear error without CUDA
    backend = backend_from_args(args, "actor")
    train_data = Path(args.train_data)
    targets = read_targets(train_data)
    check_no_overlap(targets, data_dir=args.data_dir, source=str(train_data))
    if args.validation_data:
        read_targets(args.validation_data)  # fail now on a bad file, not after an hour
    config = LearnaConfig.load(args.config, base=META_LEARNA) if args.config else META_LEARNA
    return MetaTrainSettings(
        train_data=train_data,
        out=Path(args.out),
        config=config,
        time_limit=args.time_limit,
        timesteps=args.timesteps,
        workers=args.workers,
        device=args.device,
        seed=args.seed,
        resume=args.resume,
        n_steps=args.n_steps,
        checkpoint_every=args.checkpoint_every * 60,
        validation_data=Path(args.validation_data) if args.validation_data else None,
        validate_every=args.validate_every * 60,
        validation_time=args.validation_time,
        validation_envs=args.validation_envs,
        # The update runs here while the folding workers (or this machine's actors) idle;
        # with Ray, --workers counts actors across the cluster, not this machine's cores.
        threads=max(1, min(args.workers, os.cpu_count() or 1)),
        backend=backend,
        init=Path(args.init) if args.init else None,
        imitation=Path(args.imitate) if args.imitate else None,
        imitation_epochs=args.imitation_epochs,
        imitation_learning_rate=args.imitation_lr,
    )


def run(args: argparse.Namespace) -> int:
    """Meta-train until the budget is spent; 130 if stopped by a signal.

    With ``--backend ray`` the cluster is joined (and its resources checked) before anything
    is written: an unreachable address exits 2 with no output directory.
    """
    _check_task(args)
    if args.task != "rna":
        from autorl.commands import train

        return train.run(_train_args(args))
    settings = _settings(args)
    backend = settings.backend
    with backend_session(backend, "actor"):
        return _train(args, settings)


def _train(args: argparse.Namespace, settings: MetaTrainSettings) -> int:
    """Run the trainer with a progress display; the exit code."""
    from meta.training import MetaTrainer

    with Progress(args.quiet) as progress:

        def show(p: TrainProgress) -> None:
            best = "-" if p.best_validation is None else f"{p.best_validation:.0%}"
            progress.update(
                f"meta-train: {p.budget:4.0%} | {p.timesteps} steps, {p.elapsed:.0f} s | "
                f"training solved {p.solved_fraction:.0%}, distance {p.mean_distance:.3f} | "
                f"best validation {best}"
            )

        def validated(result: ValidationResult) -> None:
            progress.message(
                f"validation at {result.timesteps} steps: {result.solved}/{result.total} solved "
                f"({result.seconds:.0f} s)"
            )

        def imitated(epoch: CloneEpoch) -> None:
            progress.message(
                f"imitation epoch {epoch.epoch}: loss {epoch.loss:.3f}, accuracy "
                f"{epoch.accuracy:.1%}; held out {epoch.holdout_loss:.3f}, "
                f"{epoch.holdout_accuracy:.1%} ({epoch.seconds:.0f} s)"
            )

        trainer = MetaTrainer(
            settings, on_progress=show, on_validation=validated, on_imitation=imitated
        )
        latest = trainer.run()
    if trainer.interrupted:
        print(
            f"autorl meta-train: stopped; checkpoint {latest}; --resume continues", file=sys.stderr
        )
        return 130
    if not args.quiet:
        print(f"autorl meta-train: done; latest checkpoint {latest}", file=sys.stderr)
    return 0
