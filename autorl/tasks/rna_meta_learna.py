"""Task ``rna-meta-learna``: BOHB over Meta-LEARNA's meta-training configuration.

Space: the published Meta-LEARNA space (:func:`autorl.spaces.meta_learna_space`).

Budget = seconds of meta-training (:class:`meta.training.MetaTrainer`, ``time_limit``). The
paper used 400, 1200 and 3600 s (eta 3). On this 2-core machine one Hyperband bracket at
those budgets (9 x 400 + 3 x 1200 + 1 x 3600 s) is 3 h of training for a single sweep,
so the defaults keep the paper's shape (eta 3, three rungs, max / min = 9) at 0.15 of its
scale: 60, 180 and 540 s (:data:`DEFAULT_BUDGETS`). Meta-training here runs about 800
environment steps per second on 2 cores, so 60 s are ~45k steps (~200 training episodes:
enough to rank configurations roughly) and 540 s ~400k steps (~2000 episodes); one
bracket then takes ~45 min including validation. Meta-training stops at the first step
past its time limit, so a PPO update in progress finishes first (runs overshoot by up to
one update, a few seconds); the trial timeout is ``1.1 * budget + targets *
(validation_seconds + 2) + 60`` s.

Loss = the trained policy's validation result: every validation target is designed by
sampling from the final policy (the ``meta-learna`` method, no learning;
:func:`meta.design.sample_on_target`) for ``validation_seconds`` (default 5 s), and::

    loss = (1 - solved_fraction) + (mean_distance + w * mean_used) / ((1 + w) * (n + 1))

``mean_distance`` is the mean normalized Hamming distance of the best design per target
(1 for a target without any design), ``mean_used`` the mean fraction of the validation time
until a target's best design (1 when unsolved), and ``w = 0.1 / (n * longest target)`` a
tenth of the smallest change of the mean distance. The second term lies in [0, 1 / (n + 1)],
below the 1 / n that one more solved target is worth: the solved count always decides
first, then the distances, then (above all among policies that solve everything, which
would otherwise tie at 0) how fast they solve. The loss lies in [0, 1 + 1 / (n + 1)].

Validation targets: ``--targets FILE``, or by default every tenth target of the registered
Rfam-Learn validation set (as :func:`autorl.tasks.rna_learna.default_targets`, 10 targets).

Training targets: the project's training-data generator (:mod:`meta.training_data`, what
``autorl data generate`` writes for ``autorl meta-train --train-data``) with
:data:`DEFAULT_TRAINING`: 1000 MFE structures of random sequences, seed 1. Candidates are
accepted in index order, so these are the first 1000 of the shipped model's training set
(``scripts/train_shipped_model.sh``: 3000 structures, seed 1); at the largest budget each
is drawn about twice. They are generated once, when the task is built (~30 s on 2 cores),
checked like ``autorl meta-train`` checks its ``--train-data`` (no benchmark target found
in ``$AUTORL_DATA``; :func:`benchmarks.overlap.check_no_overlap`), and any structure that is
also a validation target is dropped. The task options record the generator settings and
the sha256 of the structures, so a resume refuses a different training set.

Common random numbers: a configuration gets the same seed on every rung, and the seed fixes
the policy initialization, the order in which training targets are drawn and the validation
sampling. A trial on a larger budget therefore repeats the smaller rung's training run and
continues it for longer (the multi-fidelity assumption of training length: the budget only
decides where the same run is stopped). Every trial meta-trains from scratch in its own
temporary directory (removed afterwards; checkpoints only at the end).

Cores: a trial uses the cores left per trial worker (``cpus // workers``, at least 1) as
meta-training's folding processes and PPO threads, and as validation's folding processes.

Device: the policy trains and samples on ``TaskOptions.device`` (``auto|cpu|cuda[:N]``,
resolved in the trial process); environments and folding stay on the CPU. The device is not
one of the task options, so it does not change the problem and a run resumes on any device.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from autorl.bohb.executor import TrialResult
from autorl.spaces import meta_learna_space, to_flat_config
from autorl.tasks.base import Task, TaskOptions
from autorl.tasks.rna_learna import default_targets, target_parallelism
from envs.dot_bracket import Target, read_targets
from meta.training_data import GeneratorSettings, generate_structures, write_training_file
from policies.device import check_device, resolve_device

log = logging.getLogger(__name__)

#: Default rungs: seconds of meta-training (the paper's 400 .. 3600 s, scaled by 0.15).
DEFAULT_BUDGETS = (60.0, 540.0)
#: Halving rate (as published).
ETA = 3.0
#: Seconds of sampling per validation target.
DEFAULT_VALIDATION_SECONDS = 5.0
#: Training targets: the first 1000 of the shipped model's training set.
DEFAULT_TRAINING = GeneratorSettings(count=1000, seed=1)
#: Episodes sampled per batch in validation (as ``MetaTrainSettings.validation_envs``).
VALIDATION_ENVS = 16
#: Seconds a validation target may overrun its limit (a started batch is folded whole).
VALIDATION_SLACK = 2.0
#: Seconds a trial may take beyond training and validation (start-up, torch import, the
#: PPO update running when the time is up, the final checkpoint).
TRIAL_GRACE = 60.0


def validation_loss(
    solved: Sequence[bool],
    distances: Sequence[float],
    used: Sequence[float] | None = None,
    tie_weight: float = 0.0,
) -> float:
    """``(1 - solved) + (mean distance + w * mean used) / ((1 + w) * (targets + 1))``.

    Args:
        solved: Per validation target, whether it was solved.
        distances: Per target, the normalized distance of its best design (1: no design).
        used: Per target, the fraction of the validation time until its best design (1 when
            unsolved); breaks ties among policies that solve the same targets at the same
            distances (above all, those that solve everything).
        tie_weight: ``w``, the weight of ``used``; below the smallest change of the mean
            distance, so distances decide before time does.

    Returns:
        The loss: more solved targets always win (the second term stays below ``1/(n+1)``);
        among equal counts, smaller distances; among equal distances, faster designs.
    """
    if not solved or len(solved) != len(distances):
        raise ValueError("need one distance per validation target, and at least one target")
    n = len(solved)
    spent = sum(used) / n if used else 0.0
    secondary = (sum(distances) / n + tie_weight * spent) / ((1 + tie_weight) * (n + 1))
    return (1.0 - sum(solved) / n) + secondary


@dataclass(frozen=True)
class RnaMetaLearnaObjective:
    """Meta-train with a configuration for ``budget`` seconds, then validate the policy.

    Attributes:
        validation_targets: The validation targets.
        training_structures: The training structures (none of them a validation target).
        training: The generator settings they came from (recorded in the training file).
        validation_seconds: Seconds of sampling per validation target.
        cores: Folding processes and PPO threads of a trial.
        device: Torch device of meta-training and validation sampling: ``auto``, ``cpu``,
            ``cuda`` or ``cuda:N``, resolved in the trial process (folding stays on the CPU).
    """

    validation_targets: tuple[Target, ...]
    training_structures: tuple[str, ...]
    training: GeneratorSettings = DEFAULT_TRAINING
    validation_seconds: float = DEFAULT_VALIDATION_SECONDS
    cores: int = 1
    device: str = "auto"

    def __call__(self, config: dict[str, Any], budget: float, seed: int) -> TrialResult:
        """Meta-train ``config``'s agent for ``budget`` seconds with ``seed``; validate it."""
        from meta.config import META_LEARNA  # trial processes only: torch is imported below

        flat = to_flat_config(config)
        agent = META_LEARNA.updated(flat, source="BOHB configuration")
        with tempfile.TemporaryDirectory(prefix="autorl-meta-learna-") as folder:
            training = _meta_train(self, agent, budget, seed, Path(folder))
            results = self._validate(training.pop("model"), agent, seed)
        solved = [r.solved for r in results]
        distances = [r.distance / len(r.target) if r.sequence else 1.0 for r in results]
        used = [min(1.0, r.seconds / self.validation_seconds) if r.solved else 1.0 for r in results]
        info = {
            "solved_fraction": sum(solved) / len(solved),
            "mean_distance": sum(distances) / len(distances),
            "validation_time_used": sum(used) / len(used),
            **training,
            "targets": {
                r.target_id: {
                    "normalized_distance": d,
                    "solved": r.solved,
                    "seconds": r.seconds,
                    "episodes": r.episodes,
                    "sequence": r.sequence,
                }
                for r, d in zip(results, distances, strict=True)
            },
            "flat_config": flat,
        }
        return TrialResult(validation_loss(solved, distances, used, self.tie_weight), info)

    @property
    def tie_weight(self) -> float:
        """A tenth of the smallest change of the mean distance (one nucleotide)."""
        longest = max(len(t.structure) for t in self.validation_targets)
        return 0.1 / (len(self.validation_targets) * longest)

    def _validate(self, model: Any, agent: Any, seed: int) -> list[Any]:
        import torch

        from meta.design import sample_on_target

        config = agent.updated({"n_envs": VALIDATION_ENVS}, source="validation")
        previous = torch.get_num_threads()
        torch.set_num_threads(1)  # one batch of windows per step: one thread is fastest
        try:
            return [
                sample_on_target(
                    model,
                    target,
                    config,
                    time_limit=self.validation_seconds,
                    seed=(seed + index) % 2**32,
                    workers=self.cores,
                )
                for index, target in enumerate(self.validation_targets)
            ]
        finally:
            torch.set_num_threads(previous)


def _meta_train(
    objective: RnaMetaLearnaObjective, agent: Any, budget: float, seed: int, folder: Path
) -> dict[str, Any]:
    """One meta-training run in ``folder``; its statistics and the trained ``model``."""
    from stable_baselines3 import PPO

    from meta.checkpoints import load_checkpoint
    from meta.training import MetaTrainer, MetaTrainSettings, TrainProgress

    device = resolve_device(objective.device)  # this trial's machine: a missing GPU fails here
    train_file = folder / "train.txt"
    write_training_file(train_file, objective.training_structures, objective.training)
    settings = MetaTrainSettings(
        train_data=train_file,
        out=folder / "run",
        config=agent,
        time_limit=budget,
        workers=objective.cores,
        threads=objective.cores,
        device=device,
        seed=seed,
        checkpoint_every=math.inf,  # only the final checkpoint
        keep_checkpoints=1,
    )
    rollouts: list[TrainProgress] = []
    trainer = MetaTrainer(settings, on_progress=rollouts.append)
    latest = trainer.run()
    if trainer.interrupted:
        raise RuntimeError("meta-training was stopped by a signal")
    checkpoint = load_checkpoint(latest)
    last = rollouts[-1] if rollouts else None
    return {
        "model": PPO.load(str(latest), device=device),  # validation samples on it too
        "training_timesteps": checkpoint.timesteps,
        "training_seconds": float(checkpoint.meta.get("elapsed", 0.0)),
        "training_rollouts": len(rollouts),
        # Counted when a rollout ends: the episodes of a rollout cut by the time limit are
        # not included.
        "training_episodes": last.episodes if last else 0,
        "training_solved_fraction": last.solved_fraction if last else 0.0,
    }


def write_incumbent(path: Path, config: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
    """Save the incumbent as a Meta-LEARNA configuration (``autorl meta-train --config``)."""
    from meta.config import META_LEARNA

    agent = META_LEARNA.updated(to_flat_config(config), source="incumbent")
    agent.save(path, extra={**meta, "space": "meta-learna", "search_config": dict(config)})


@functools.lru_cache(maxsize=4)
def training_structures(settings: GeneratorSettings) -> tuple[str, ...]:
    """The generator's structures for ``settings`` (once per process; all cores fold)."""
    workers = max(1, min(os.cpu_count() or 1, settings.count // 250))
    log.info("generating %d training structures (%s)", settings.count, settings.describe())
    return tuple(generate_structures(settings, workers=workers))


def training_set(
    settings: GeneratorSettings, validation_targets: Sequence[Target]
) -> tuple[tuple[str, ...], dict[str, Any]]:
    """Training structures for ``settings`` without the validation ones, and their record.

    Raises:
        ValueError: a training structure is a benchmark target (as in ``autorl meta-train``).
    """
    from benchmarks.overlap import check_no_overlap
    from meta.training_data import name_structures

    validation = {t.structure for t in validation_targets}
    generated = training_structures(settings)
    kept = tuple(s for s in generated if s not in validation)
    check_no_overlap(name_structures(kept), source="rna-meta-learna training targets")
    digest = hashlib.sha256("\n".join(kept).encode()).hexdigest()
    record = {**asdict(settings), "dropped_validation": len(generated) - len(kept)}
    return kept, {**record, "sha256": digest}


def rna_meta_learna_task(
    validation_targets: Sequence[Target],
    *,
    workers: int = 1,
    validation_seconds: float = DEFAULT_VALIDATION_SECONDS,
    training: GeneratorSettings = DEFAULT_TRAINING,
    device: str = "auto",
    cpus: int | None = None,
) -> Task:
    """The rna-meta-learna task (see the module docstring).

    Args:
        validation_targets: Targets the trained policy is validated on.
        workers: Trial workers of the run (a trial uses the cores left per worker).
        validation_seconds: Seconds of sampling per validation target.
        training: Generator settings of the training structures.
        device: Torch device of meta-training and validation (``auto|cpu|cuda[:N]``); not
            part of the task's options, so a resumed run may use another device.
        cpus: CPUs the run's trials share (None: all of this machine's).

    Raises:
        ValueError: no validation targets, a bad time, a misspelled device, or training
            data that overlaps a benchmark set.
    """
    device = check_device(device)
    targets = tuple(validation_targets)
    if not targets:
        raise ValueError("rna-meta-learna needs at least one validation target")
    if not (math.isfinite(validation_seconds) and validation_seconds > 0):
        raise ValueError(f"validation_seconds must be > 0, got {validation_seconds}")
    structures, record = training_set(training, targets)
    cores = target_parallelism(workers, cpus or os.cpu_count() or 1, cpus)
    validation = len(targets) * (validation_seconds + VALIDATION_SLACK)
    return Task(
        name="rna-meta-learna",
        space=meta_learna_space(),
        objective=RnaMetaLearnaObjective(
            targets, structures, training, validation_seconds, cores, device
        ),
        min_budget=DEFAULT_BUDGETS[0],
        max_budget=DEFAULT_BUDGETS[1],
        eta=ETA,
        budget_unit="seconds of meta-training",
        options={
            "targets": {t.id: t.structure for t in targets},
            "validation_seconds": validation_seconds,
            "training": record,
        },
        timeout=lambda budget: 1.1 * budget + validation + TRIAL_GRACE,
        write_incumbent=write_incumbent,
        common_random_numbers=True,
    )


def build(name: str, options: TaskOptions) -> Task:
    """The registry's factory: validation targets from ``options.targets`` or the default.

    Raises:
        ValueError: a budget unit other than seconds, or see :func:`rna_meta_learna_task`.
    """
    if options.budget_unit not in (None, "seconds"):
        raise ValueError(
            f"--budget-unit {options.budget_unit}: {name} counts seconds of meta-training"
        )
    targets = read_targets(options.targets) if options.targets else default_targets()
    return rna_meta_learna_task(
        targets,
        workers=options.workers,
        training=DEFAULT_TRAINING,
        device=options.device,
        cpus=options.cpus,
    )
