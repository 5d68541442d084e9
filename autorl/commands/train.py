"""``autorl train``: train one PPO agent on a vector task (today: the CartPole tasks).

``autorl train --task cartpole --timesteps 100000 --out runs/cp`` trains SB3's default PPO
on CartPole-v1 and writes, in ``--out``, the files of :mod:`meta.ppo_training` (``run.json``,
``latest.zip``/``latest.json``, ``monitor.csv``, ``logs/session-K/``) and at the end
``learning_curve.csv`` and ``learning_curve.png`` (:mod:`benchmarks.learning`), then prints
a summary: timesteps, episodes, the episodes and timesteps until the mean return of the last
20 episodes reaches the task's threshold (475 for CartPole), and the last 20 episodes' mean
return.

``--config`` is a flat JSON file over the task's defaults (keys in :mod:`meta.agents`).
``--resume`` continues a run (budgets count the whole run); ``--init CHECKPOINT`` starts a
new run from another run's policy weights; with ``--context gravity=12,length=0.8`` the run
trains on that one physics (adapting a policy meta-trained with ``autorl meta-train --task
cartpole-variants``: ``--task cartpole-variants --context ... --init CKPT``).

``--task rna --train-data FILE`` trains an RNA design policy (LEARNA's family, Meta-LEARNA's
defaults) over the targets of FILE with the trainer of ``autorl meta-train`` (its files:
checkpoints in the RNA checkpoint format, TensorBoard logs; no validation unless run through
``autorl meta-train --validation-data``); ``autorl design --method meta-learna --model
OUT/latest.zip`` designs with the result.

Exit codes: 0 budget spent; 2 bad input (nothing written); 130 stopped by Ctrl-C or SIGTERM
(the checkpoint and the learning curve are written first; ``--resume`` continues).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from autorl.commands.options import add_backend_options, add_device_option, backend_from_args
from autorl.progress import Progress
from meta.cluster import backend_session

if TYPE_CHECKING:
    from benchmarks.learning import LearningCurve
    from envs.cartpole_variants import CartPoleContext, ContextRanges
    from meta.agents import AgentSpec
    from meta.ppo_training import PpoTrainer, TrainSettings, TrainStatus

#: Literal copy of ``meta.agents.AGENTS``' names, so that building the parser stays light;
#: tests/test_train.py checks that it matches.
TASKS = ("cartpole", "cartpole-variants")
#: The RNA domain (``meta.agents.RNA``): trained by Meta-LEARNA's trainer over --train-data.
RNA = "rna"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` subcommand."""
    parser = subparsers.add_parser(
        "train",
        help="train one PPO agent on a vector task (CartPole)",
        description="PPO (stable-baselines3; RecurrentPPO for an LSTM policy) on a vector "
        f"task ({', '.join(TASKS)}). Writes checkpoints (SB3 zip + JSON configuration), the "
        "episode log monitor.csv, TensorBoard logs and the learning curve (CSV and PNG) to "
        "--out and prints a summary. Exit code 0: budget spent; 2: bad input; 130: "
        "interrupted (a checkpoint is written first; --resume continues).",
    )
    parser.add_argument(
        "--task",
        required=True,
        help=f"one of: {', '.join(TASKS)}, {RNA} (RNA design over the --train-data targets: "
        "the Meta-LEARNA trainer, as autorl meta-train)",
    )
    parser.add_argument(
        "--train-data", metavar="FILE", help=f"{RNA}: target file of training structures"
    )
    parser.add_argument(
        "--config", metavar="CONFIG.json", help="flat JSON settings over the task's defaults"
    )
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--timesteps", type=int, metavar="N", help="environment steps (whole run)")
    budget.add_argument(
        "--time-limit", type=float, metavar="SECONDS", help="training time (whole run)"
    )
    parser.add_argument("--seed", type=int, help="seed of everything random (0; resume: the run's)")
    add_device_option(parser, "the policy")
    parser.add_argument(
        "--init", metavar="CHECKPOINT", help="start from this checkpoint's policy weights"
    )
    parser.add_argument(
        "--context",
        metavar="FEATURE=VALUE,...",
        help="fix the CartPole physics for the whole run (adapting to one context), e.g. "
        "gravity=12,length=0.8; features not named keep CartPole-v1's values (features: "
        "gravity, masscart, masspole, length, force_mag, tau)",
    )
    parser.add_argument(
        "--ranges",
        metavar="PRESET|FEATURE=MIN:MAX,...",
        help="cartpole-variants: the ranges contexts are drawn from (train, test, or pairs "
        "over the training ranges, e.g. gravity=5:20,tau=0.02); with --context: the ranges "
        "the observation normalizes the context over (default: the --init checkpoint's, "
        "else the training ranges)",
    )
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its checkpoint"
    )
    parser.add_argument(
        "--checkpoint-every", type=float, default=5.0, metavar="MINUTES", help="(5)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="with --backend ray: environment actors (at most n_envs; the learner stays here)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    add_backend_options(parser, "actor")
    parser.set_defaults(run=run)


def _settings(args: argparse.Namespace) -> TrainSettings:
    """The checked settings (a ValueError for bad input; nothing is written)."""
    from meta.agents import AgentConfig, agent_spec
    from meta.ppo_training import TrainSettings

    spec = agent_spec(args.task)
    if args.timesteps is None and args.time_limit is None:
        raise ValueError("give exactly one of --timesteps and --time-limit")
    config = AgentConfig.load(args.config, base=spec.default) if args.config else None
    context, ranges = _physics(args)
    return TrainSettings(
        context=context,
        ranges=ranges,
        task=spec.name,
        out=Path(args.out),
        config=config,
        timesteps=args.timesteps,
        time_limit=args.time_limit,
        seed=args.seed,
        device=args.device,
        resume=args.resume,
        init=Path(args.init) if args.init else None,
        checkpoint_every=args.checkpoint_every * 60,
        backend=backend_from_args(args, "actor"),
        workers=args.workers,
    )


def _physics(args: argparse.Namespace) -> tuple[CartPoleContext | None, ContextRanges | None]:
    """``--context`` and ``--ranges``, parsed."""
    from meta.contexts import parse_context, parse_ranges

    context = None if args.context is None else parse_context(args.context)
    ranges = None if args.ranges is None else parse_ranges(args.ranges)
    return context, ranges


def _rna_args(args: argparse.Namespace) -> argparse.Namespace:
    """``autorl meta-train``'s arguments for ``--task rna`` (a ValueError for what it lacks).

    The RNA-only options ``train`` does not offer are left unset, so that meta-train fills
    in its own defaults (and checks ``--train-data``).
    """
    from autorl.commands.meta_train import RNA_OPTIONS

    for flag, value in (
        ("--init", args.init),
        ("--context", args.context),
        ("--ranges", args.ranges),
    ):
        if value is not None:
            raise ValueError(
                f"{flag}: not for --task {RNA} (adapt an RNA policy to a target with "
                "autorl design --method meta-learna-adapt)"
            )
    unset = dict.fromkeys(RNA_OPTIONS)
    return argparse.Namespace(**{**unset, **vars(args), "task": RNA})


def run(args: argparse.Namespace) -> int:
    """Train, write the learning curve and print the summary; 130 if stopped by a signal."""
    if args.task == RNA:
        from autorl.commands import meta_train

        return meta_train.run(_rna_args(args))
    if args.train_data is not None:
        raise ValueError(f"--train-data: an option of --task {RNA}, not of --task {args.task}")
    from meta.ppo_training import PpoTrainer

    settings = _settings(args)
    with backend_session(settings.backend, "actor"), Progress(args.quiet) as progress:

        def show(status: TrainStatus) -> None:
            mean = "-" if status.mean_return is None else f"{status.mean_return:.1f}"
            progress.update(
                f"train {settings.task}: {status.budget:4.0%} | {status.timesteps} steps, "
                f"{status.elapsed:.0f} s | {status.episodes} episodes, mean return {mean}"
            )

        trainer = PpoTrainer(settings, on_progress=show)
        trainer.run()
    _report(trainer)
    if trainer.interrupted:
        print(
            f"autorl train: stopped; checkpoint {trainer.latest}; --resume continues",
            file=sys.stderr,
        )
        return 130
    return 0


def _report(trainer: PpoTrainer) -> None:
    """Write learning_curve.csv/.png from the monitor file and print the summary."""
    from benchmarks.learning import LearningCurve, plot_learning_curves
    from meta.ppo_training import MONITOR

    out = trainer.out
    monitor = out / MONITOR
    curve = LearningCurve.from_monitor_csv(monitor) if monitor.is_file() else LearningCurve((), ())
    files = [trainer.latest, trainer.latest.with_suffix(".json")]
    files.append(curve.to_csv(out / "learning_curve.csv"))
    if trainer.spec.threshold is not None:
        files.append(
            plot_learning_curves(
                {trainer.spec.name: [curve]},
                out / "learning_curve.png",
                threshold=trainer.spec.threshold,
                title=f"autorl train --task {trainer.spec.name}",
            )
        )
    for line in _summary(trainer.spec, trainer.timesteps, curve, [monitor, *files]):
        print(line)


def _summary(spec: AgentSpec, timesteps: int, curve: LearningCurve, files: list[Path]) -> list[str]:
    """The lines of the summary printed to stdout."""
    from benchmarks.learning import WINDOW

    lines = [f"task: {spec.name}", f"timesteps: {timesteps}", f"episodes: {curve.episodes}"]
    if spec.threshold is not None:
        # No cap here: the first episode of the log that reaches the threshold.
        cap = max(curve.episodes, WINDOW)
        episode = curve.threshold_episode(spec.threshold, WINDOW, cap)
        steps = curve.timesteps_to_threshold(spec.threshold, WINDOW, cap)
        what = f"mean return of {WINDOW} episodes >= {spec.threshold:g}"
        if episode is None:
            lines.append(
                f"episodes to threshold ({what}): not reached in {curve.episodes} episodes"
            )
        else:
            lines.append(f"episodes to threshold ({what}): {episode}")
            lines.append(f"timesteps to threshold: {steps} (steps of the finished episodes)")
    recent = curve.returns[-WINDOW:]
    mean = f"{sum(recent) / len(recent):.1f}" if recent else "-"
    lines.append(f"mean return of the last {len(recent)} episodes: {mean}")
    lines.append("files: " + ", ".join(str(path) for path in files))
    return lines
