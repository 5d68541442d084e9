"""``autorl meta-train``: train one policy across many target structures (Meta-LEARNA)."""

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
    from meta.training import MetaTrainSettings, TrainProgress, ValidationResult


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``meta-train`` subcommand."""
    parser = subparsers.add_parser(
        "meta-train",
        help="meta-train a policy across many targets (Meta-LEARNA)",
        description="PPO on the RNA design environment with a new training target every "
        "episode. Writes checkpoints (SB3 zip + JSON configuration), TensorBoard logs and, "
        "with --validation-data, periodic validation scores and the best checkpoint to --out. "
        "With --backend ray the episodes run in --workers Ray actors spread over the cluster "
        "(a lost actor is replaced and its rollout redone); the PPO update runs here, on "
        "--device. Exit code 0: budget spent; 2: bad input; 130: interrupted (a checkpoint is "
        "written first; --resume continues).",
    )
    parser.add_argument("--train-data", required=True, help="target file of training structures")
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
    parser.add_argument("--seed", type=int, default=0, help="seed of everything random (0)")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its latest checkpoint"
    )
    parser.add_argument(
        "--validation-data", help="target file designed (sampling only) at every validation"
    )
    parser.add_argument(
        "--validate-every", type=float, default=10.0, metavar="MINUTES", help="(10)"
    )
    parser.add_argument(
        "--validation-time",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="per validation target (2)",
    )
    parser.add_argument(
        "--validation-envs",
        type=int,
        default=16,
        help="episodes per sampled batch in validation (16)",
    )
    parser.add_argument(
        "--checkpoint-every", type=float, default=5.0, metavar="MINUTES", help="(5)"
    )
    parser.add_argument(
        "--n-steps", type=int, default=64, help="steps per environment per PPO rollout (64)"
    )
    parser.add_argument(
        "--data-dir",
        help="directory of the benchmark files that the training data is checked against",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    add_backend_options(parser, "actor")
    parser.set_defaults(run=run)


def _settings(args: argparse.Namespace) -> MetaTrainSettings:
    from benchmarks.overlap import check_no_overlap
    from envs.dot_bracket import read_targets
    from meta.config import META_LEARNA, LearnaConfig
    from meta.training import MetaTrainSettings

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
    )


def run(args: argparse.Namespace) -> int:
    """Meta-train until the budget is spent; 130 if stopped by a signal.

    With ``--backend ray`` the cluster is joined (and its resources checked) before anything
    is written: an unreachable address exits 2 with no output directory.
    """
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

        trainer = MetaTrainer(settings, on_progress=show, on_validation=validated)
        latest = trainer.run()
    if trainer.interrupted:
        print(
            f"autorl meta-train: stopped; checkpoint {latest}; --resume continues", file=sys.stderr
        )
        return 130
    if not args.quiet:
        print(f"autorl meta-train: done; latest checkpoint {latest}", file=sys.stderr)
    return 0
