"""Meta-training (Meta-LEARNA): one PPO policy trained across many target structures.

Every episode draws a new training target. The environment is :class:`envs.vector.
RnaDesignVecEnv`: ``n_envs`` episodes advance in lockstep with one batched policy forward
per step, and finished designs are folded by ``workers`` processes (``RNA.fold`` holds the
GIL) while the policy steps on; their rewards go into PPO's rollout before returns are
computed (:class:`meta.deferred_rewards.DeferredRewards`). This is the batched equivalent of
SB3's ``SubprocVecEnv`` with one process per environment, without a pipe round trip per
step. The environment and the agent come from the RNA agent spec
(:data:`meta.rna_agent.RNA_AGENT`), as in the design loop; with ``lstm_mode="episode"``
(LEARNA's recurrent form) it is sb3-contrib's RecurrentPPO, whose rollout buffer takes the
deferred rewards in the same way, and validation samples with the LSTM state carried
through each episode (:func:`meta.design.sample_designs`).

An output directory holds::

    run.json                  settings, seeds, training data hash, package versions
    latest.zip / latest.json  the newest checkpoint (a resume starts here)
    best.zip / best.json      the checkpoint with the best validation score
    checkpoints/step-N.*      the last few periodic checkpoints
    validation.csv            one row per validation
    logs/session-K/           TensorBoard events and progress.csv of the K-th session

A checkpoint's JSON records its timestep count, so a killed run resumes where its last
checkpoint was written; ``time_limit`` and ``timesteps`` count the whole run across resumes.

With a Ray backend (``MetaTrainSettings.backend``) the episodes run in ``workers`` Ray actors
instead (:class:`envs.ray_vec_env.RayVecEnv`, spread over the cluster's nodes), each stepping
its share of the ``n_envs`` episodes as an :class:`envs.vector.RnaDesignVecEnv` that folds
finished designs synchronously; only observations, actions, rewards and episode infos travel.
The PPO update runs in the driver, on ``device``. An actor that dies is replaced by a fresh
one and the rollout is collected again (:func:`envs.ray_vec_env.with_rollout_redo`); the
checkpoints count the redone rollouts (``rollout_redos``).
"""

from __future__ import annotations

import contextlib
import csv
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, astuple, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.logger import configure
from stable_baselines3.common.vec_env import VecEnv

from envs.dot_bracket import Target, read_targets
from envs.instances import judge
from envs.ray_vec_env import EnvWorkersLost, with_rollout_redo
from envs.rna_instances import RnaDesignEvaluation
from meta.checkpoints import (
    Checkpoint,
    config_path,
    copy_checkpoint,
    load_checkpoint,
    load_weights,
    save_checkpoint,
)
from meta.cluster import Backend, ray_session
from meta.config import META_LEARNA, LearnaConfig
from meta.deferred_rewards import DeferredRewards, ReturnBonuses
from meta.design import sample_on_target
from meta.files import file_sha256, write_json_atomic
from meta.imitation import CloneEpoch, Demonstrations, clone, demonstrate, read_designs
from meta.numpy_ppo import blas_limit
from meta.provenance import package_versions
from meta.rna_agent import RNA_AGENT
from meta.run_control import RunBudget, StopFlag, session_log_folder
from policies.device import check_device, resolve_device

log = logging.getLogger(__name__)

#: Name of the checkpoint that a resume starts from.
LATEST = "latest"
#: Name of the checkpoint with the best validation score.
BEST = "best"
#: Name of the checkpoint of the policy right after imitation (``--imitate``), before PPO.
IMITATED = "imitated"


@dataclass(frozen=True)
class MetaTrainSettings:
    """Settings of one meta-training run.

    Attributes:
        train_data: Target file of the training structures.
        out: Output directory.
        config: Agent configuration (default: published Meta-LEARNA).
        time_limit: Seconds of training for the whole run (across resumes), or None.
        timesteps: Environment steps for the whole run, or None. One of the two is needed.
        workers: Folding processes; with a Ray backend, the Ray actors that run the
            episodes (at most ``n_envs``).
        device: Torch device of the PPO update: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``
            (checked against this machine).
        seed: Seed of everything random in the run.
        resume: Continue the run in ``out`` from its latest checkpoint.
        n_steps: Steps per environment per PPO rollout.
        checkpoint_every: Seconds between periodic checkpoints.
        keep_checkpoints: Periodic checkpoints kept (older ones are deleted).
        validation_data: Target file for periodic validation, or None for none.
        validate_every: Seconds between validations.
        validation_time: Seconds per validation target (sampling only).
        validation_envs: Episodes sampled per batch in validation. A batch is folded
            whole before the time limit is checked again, so small batches keep a
            validation close to its time.
        threads: Torch threads for PPO updates (sampling uses one).
        backend: Where the episodes run: local processes (default) or Ray actors.
        init: A checkpoint whose weights (not its Adam state) start a new run: continued
            meta-training, e.g. of the shipped model on other training structures. The run
            takes the checkpoint's configuration; ``config`` must be the default or equal.
        imitation: A teacher's solutions of training targets (``autorl design --format
            json`` or ``jsonl``) that the policy imitates before PPO (:mod:`meta.imitation`),
            or None.
        imitation_epochs: Passes of imitation over the demonstrations.
        imitation_learning_rate: Adam's step size in imitation.
    """

    train_data: Path
    out: Path
    config: LearnaConfig = META_LEARNA
    time_limit: float | None = None
    timesteps: int | None = None
    workers: int = 1
    device: str = "auto"
    seed: int = 0
    resume: bool = False
    n_steps: int = 64
    checkpoint_every: float = 300.0
    keep_checkpoints: int = 3
    validation_data: Path | None = None
    validate_every: float = 600.0
    validation_time: float = 2.0
    validation_envs: int = 16
    threads: int = 1
    backend: Backend = Backend()
    init: Path | None = None
    imitation: Path | None = None
    imitation_epochs: int = 10
    imitation_learning_rate: float = 1e-3

    def __post_init__(self) -> None:
        if self.init is not None and self.resume:
            raise ValueError("--init starts a new run; it cannot be combined with --resume")
        if (self.time_limit is None) == (self.timesteps is None):
            raise ValueError("give exactly one of --time-limit and --timesteps")
        if self.time_limit is not None and not (
            math.isfinite(self.time_limit) and self.time_limit > 0
        ):
            raise ValueError(f"--time-limit must be > 0 seconds, got {self.time_limit}")
        if self.timesteps is not None and self.timesteps < 1:
            raise ValueError(f"--timesteps must be >= 1, got {self.timesteps}")
        if self.workers < 1 or self.threads < 1:
            raise ValueError(f"--workers must be >= 1, got {self.workers}")
        object.__setattr__(self, "device", check_device(self.device))
        resolve_device(self.device)  # a clear error now for a CUDA device this machine lacks
        if not isinstance(self.backend, Backend):
            raise TypeError(f"backend must be a meta.cluster.Backend, got {self.backend!r}")
        if self.n_steps < 1 or self.keep_checkpoints < 1 or self.validation_envs < 1:
            raise ValueError("n_steps, keep_checkpoints and validation_envs must be >= 1")
        if self.checkpoint_every <= 0 or self.validate_every <= 0 or self.validation_time <= 0:
            raise ValueError("checkpoint, validation intervals and times must be > 0 seconds")
        if self.imitation_epochs < 1:
            raise ValueError(f"--imitation-epochs must be >= 1, got {self.imitation_epochs}")
        rate = self.imitation_learning_rate
        if not (math.isfinite(rate) and rate > 0):
            raise ValueError(f"--imitation-lr must be > 0, got {rate}")


@dataclass
class TrainProgress:
    """A snapshot of a running meta-training, for progress displays and logs.

    Attributes:
        timesteps: Environment steps so far (whole run).
        episodes: Episodes in this session.
        solved_fraction: Fraction of recent training episodes that were solved.
        mean_distance: Mean normalized Hamming distance of recent episodes.
        elapsed: Seconds of training (whole run).
        budget: The run's budget as a fraction done (0..1).
        best_validation: Best validation solved fraction so far, or None.
    """

    timesteps: int
    episodes: int
    solved_fraction: float
    mean_distance: float
    elapsed: float
    budget: float
    best_validation: float | None = None


@dataclass
class ValidationResult:
    """Solved fraction of one validation pass."""

    timesteps: int
    solved: int
    total: int
    mean_distance: float
    seconds: float
    solved_ids: list[str] = field(default_factory=list)

    @property
    def fraction(self) -> float:
        """Solved fraction."""
        return self.solved / self.total if self.total else 0.0


def validate(
    model: PPO,
    config: LearnaConfig,
    targets: Sequence[Target],
    time_limit: float,
    seed: int,
    workers: int = 1,
) -> ValidationResult:
    """Design every target by sampling from the current policy (no learning).

    Args:
        model: The agent.
        config: Its configuration.
        targets: Validation targets.
        time_limit: Seconds per target.
        seed: Seed of the environments.
        workers: Folding processes (1: in this process; validation runs between rollouts,
            while the training's folding processes are idle).

    Returns:
        How many were solved.
    """
    start = time.monotonic()
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    results = []
    try:
        for index, target in enumerate(targets):
            results.append(
                sample_on_target(
                    model,
                    target,
                    config,
                    time_limit=time_limit,
                    seed=seed + index,
                    workers=workers,
                )
            )
    finally:
        torch.set_num_threads(previous)
    # sample_on_target designs under ViennaRNA's default model and each target's IUPAC codes;
    # a design counts when the shared evaluation protocol solves and verifies it.
    evaluation = RnaDesignEvaluation()
    verdicts = [
        judge(evaluation, target, result.sequence, with_metrics=False)
        for target, result in zip(targets, results)
    ]
    solved = [verdict.instance_id for verdict in verdicts if verdict.accepted]
    distance = float(np.mean([max(r.distance, 0) / len(r.target) for r in results]))
    return ValidationResult(
        model.num_timesteps, len(solved), len(results), distance, time.monotonic() - start, solved
    )


class MetaTrainer:
    """Runs (or resumes) one meta-training run; see the module docstring for the files.

    Args:
        settings: The run's settings.
        on_progress: Called after every PPO rollout.
        on_validation: Called after every validation.
        on_imitation: Called after every epoch of imitation (``settings.imitation``).
    """

    def __init__(
        self,
        settings: MetaTrainSettings,
        on_progress: Callable[[TrainProgress], None] | None = None,
        on_validation: Callable[[ValidationResult], None] | None = None,
        on_imitation: Callable[[CloneEpoch], None] | None = None,
    ):
        self.settings = settings
        self.on_progress = on_progress
        self.on_validation = on_validation
        self.on_imitation = on_imitation
        self.out = Path(settings.out)
        self.train_targets = read_targets(settings.train_data)
        if not self.train_targets:
            raise ValueError(f"{settings.train_data}: no training targets")
        self.train_data_sha256 = file_sha256(settings.train_data)
        self.validation_targets = (
            read_targets(settings.validation_data) if settings.validation_data else []
        )
        self.config = settings.config
        self.budget = RunBudget(settings.timesteps, settings.time_limit)
        #: (solved fraction, -mean normalized distance) of the best validation so far.
        self.best_validation: tuple[float, float] | None = None
        self.resumed: Checkpoint | None = None
        #: The ``init`` checkpoint of a new run that continues another (None otherwise).
        self.init: Checkpoint | None = None
        self._init_info: dict[str, Any] | None = None
        self.stop = StopFlag()
        self.interrupted = False
        #: Rollouts collected again because environment actors died (whole run).
        self.rollout_redos = 0
        #: The training environment while :meth:`run` trains (None otherwise).
        self.env: VecEnv | None = None
        #: The demonstrations to imitate (``settings.imitation``), and their record.
        self.demonstrations: Demonstrations | None = None
        self.imitation: dict[str, Any] | None = None
        #: Epochs of imitation done in the whole run (across resumes).
        self.imitation_epochs = 0
        self._prepare_directory()

    # -- set-up ---------------------------------------------------------------
    def _prepare_directory(self) -> None:
        latest = self.out / f"{LATEST}.zip"
        if self.settings.resume:
            if not latest.is_file():
                raise ValueError(f"--resume: {self.out} has no checkpoint {latest.name} to resume")
            self.resumed = load_checkpoint(latest)
            self._check_resume(self.resumed)
            self.config = self.resumed.config
            self.imitation_epochs = int(self.resumed.meta.get("imitation_epochs", 0))
            self._load_imitation()
            self.budget.resume(self.resumed.timesteps, float(self.resumed.meta.get("elapsed", 0.0)))
            self.rollout_redos = int(self.resumed.meta.get("rollout_redos", 0))
            best = self.out / f"{BEST}.zip"
            if best.is_file():
                meta = load_checkpoint(best).meta
                self.best_validation = (
                    float(meta.get("validation_fraction", 0.0)),
                    -float(meta.get("validation_mean_distance", 1.0)),
                )
            return
        if latest.exists() or (self.out / "run.json").exists():
            raise ValueError(
                f"{self.out} already holds a meta-training run; pass --resume to continue it "
                "or choose another --out"
            )
        if self.settings.init is not None:
            self._adopt_init(self.settings.init)
        self._load_imitation()
        self.out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self._run_record(), self.out / "run.json")

    def _load_imitation(self) -> None:
        """Read and check the demonstrations (``settings.imitation``) before any file is written.

        Raises:
            ValueError: a bad file of designs, a policy that cannot imitate (recurrent), or
                no design the action space can write.
        """
        path = self.settings.imitation
        if path is None:
            if self.resumed is not None:  # the lineage stays in the checkpoints
                self.imitation = self.resumed.meta.get("imitation")
            return
        if self.resumed is not None:
            if not self.resumed.meta.get("imitation"):
                raise ValueError(
                    f"--imitate {path}: the run in {self.out} did not start with imitation; "
                    "--resume continues it without --imitate"
                )
            if self.imitation_epochs >= self.settings.imitation_epochs:
                self.imitation = self.resumed.meta["imitation"]  # done: nothing to build
                return
        if self.config.policy.recurrent:
            raise ValueError(
                f"--imitate {path}: imitation needs a window policy; lstm_mode 'episode' "
                "(a recurrent policy) reads whole episodes"
            )
        demonstrations, unsolved = read_designs(path, self.train_targets)
        try:
            data = demonstrate(demonstrations, self.config.env)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from error
        if len(data) == 0:
            raise ValueError(
                f"--imitate {path}: no design to imitate ({len(demonstrations)} solutions, "
                f"skipped: {data.skipped or 'none'}, {unsolved} results unsolved)"
            )
        self.demonstrations = data
        self.imitation = {
            "path": str(path),
            "sha256": file_sha256(path),
            **data.summary(),
            "unsolved_results": unsolved,
            "epochs": self.settings.imitation_epochs,
            "learning_rate": self.settings.imitation_learning_rate,
        }

    def _adopt_init(self, path: Path) -> None:
        """Read the ``init`` checkpoint and take its configuration (refusing another one)."""
        self.init = load_checkpoint(path)
        if self.settings.config not in (META_LEARNA, self.init.config):
            raise ValueError(
                f"--init {path}: --config differs from the checkpoint's configuration; a "
                "continued run keeps the configuration its weights were trained with"
            )
        self.config = self.init.config

    def _init_record(self) -> dict[str, Any] | None:
        """Where a continued run's weights came from (None for a run from scratch)."""
        if self.init is None:
            return None
        if self._init_info is None:
            self._init_info = {
                "path": str(self.init.path),
                "sha256": file_sha256(self.init.path),
                "timesteps": int(self.init.meta.get("timesteps", 0)),
                "elapsed": float(self.init.meta.get("elapsed", 0.0)),
                "train_data_sha256": self.init.meta.get("train_data_sha256"),
                "init": self.init.meta.get("init"),
            }
        return self._init_info

    @property
    def _lineage(self) -> dict[str, Any] | None:
        """The ``init`` record of this run, kept in every checkpoint (and across resumes)."""
        if self.resumed is not None:
            return self.resumed.meta.get("init")
        return self._init_record()

    def _check_resume(self, checkpoint: Checkpoint) -> None:
        recorded = checkpoint.meta.get("train_data_sha256")
        actual = self.train_data_sha256
        if recorded and recorded != actual:
            raise ValueError(
                f"--resume: {self.settings.train_data} is not the training file this run "
                f"started with (sha256 {actual[:12]}..., recorded {recorded[:12]}...)"
            )
        if self.settings.config != META_LEARNA and self.settings.config != checkpoint.config:
            raise ValueError(
                "--resume: --config differs from the configuration of the run in "
                f"{self.out}; a resumed run keeps its configuration"
            )
        recorded = (checkpoint.meta.get("imitation") or {}).get("sha256")
        given = self.settings.imitation
        if recorded and given is not None and file_sha256(given) != recorded:
            raise ValueError(
                f"--resume: {given} is not the file of designs this run imitated "
                f"(sha256 recorded {recorded[:12]}...)"
            )

    def _run_record(self) -> dict[str, Any]:
        settings = asdict(self.settings)
        settings["config"] = self.config.to_flat()
        settings["backend"] = self.settings.backend.name
        settings = {k: str(v) if isinstance(v, Path) else v for k, v in settings.items()}
        return {
            "settings": settings,
            **self.settings.backend.record(),
            "train_data_sha256": self.train_data_sha256,
            "init": self._init_record(),
            "imitation": self.imitation,
            "train_targets": len(self.train_targets),
            "validation_targets": len(self.validation_targets),
            "versions": package_versions(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }

    # -- the run --------------------------------------------------------------
    def run(self) -> Path:
        """Train until the budget is spent or a stop signal arrives.

        Returns:
            The latest checkpoint's zip.
        """
        with self.stop:  # a signal from here on ends in a checkpoint
            self._train()
        return self.out / f"{LATEST}.zip"

    def _train(self) -> None:
        settings = self.settings
        cluster = (
            ray_session(settings.backend.address) if self._on_ray else contextlib.nullcontext()
        )
        with cluster:
            self.budget.start()
            seed = settings.seed + self.budget.timesteps_before
            env = self._make_env(seed)
            self.env = env
            try:
                env.seed(seed)
                device = resolve_device(settings.device)
                model = RNA_AGENT.build_model(
                    self.config, env, seed, device, n_steps=settings.n_steps
                )
                if self._on_ray:
                    with_rollout_redo(model, on_redo=self._count_redo)
                if self.resumed is not None:
                    load_weights(model, self.resumed, with_optimizer=True)
                    model.num_timesteps = self.budget.timesteps_before
                elif self.init is not None:
                    load_weights(model, self.init, with_optimizer=False)
                logs = str(session_log_folder(self.out))
                model.set_logger(configure(logs, ["csv", "tensorboard"]))
                self._imitate(model)
                self._learn(model)
            finally:
                self.env = None
                env.close()

    @property
    def _on_ray(self) -> bool:
        return self.settings.backend.is_ray

    def _make_env(self, seed: int) -> VecEnv:
        """The training environment: folding processes here, or Ray actors."""
        settings = self.settings
        n_envs = self.config.ppo.n_envs
        if not self._on_ray:
            return RNA_AGENT.make_env(
                n_envs,
                seed,
                targets=self.train_targets,
                config=self.config,
                workers=settings.workers,
                deferred=True,
            )
        actors = min(settings.workers, n_envs)
        if actors < settings.workers:
            log.warning("%d Ray actors for %d episodes: using %d", settings.workers, n_envs, actors)
        return RNA_AGENT.make_ray_env(
            n_envs,
            seed,
            targets=self.train_targets,
            config=self.config,
            actors=actors,
            num_cpus=settings.backend.cpus,
            num_gpus=settings.backend.gpus,
        )

    def _imitate(self, model: PPO) -> None:
        """Clone the demonstrations' actions into the policy for the epochs not yet done.

        Each epoch is a row of ``imitation.csv``. When the last epoch is done, the policy is
        saved as ``imitated.zip`` and validated (a row of ``validation.csv`` at 0 steps)
        before PPO starts. A stop in between leaves the epochs done in the checkpoint's
        ``imitation_epochs``; a resume with the same ``--imitate`` does the rest.
        """
        data, settings = self.demonstrations, self.settings
        remaining = settings.imitation_epochs - self.imitation_epochs
        if data is None or remaining <= 0 or self.should_stop():
            return
        clone(
            model,
            data,
            epochs=remaining,
            first_epoch=self.imitation_epochs + 1,
            learning_rate=settings.imitation_learning_rate,
            seed=settings.seed,
            should_stop=self.should_stop,
            on_epoch=self._imitated_epoch,
        )
        if self.imitation_epochs < settings.imitation_epochs:
            return
        save_checkpoint(model, self.config, self.out / f"{IMITATED}.zip", self._meta(model))
        if self.validation_targets and not self.should_stop():
            self.run_validation(model)

    def _imitated_epoch(self, record: CloneEpoch) -> None:
        self.imitation_epochs = record.epoch
        _append_row(
            self.out / "imitation.csv",
            [f.name for f in fields(CloneEpoch)] + ["elapsed"],
            [round(v, 5) if isinstance(v, float) else v for v in astuple(record)]
            + [round(self.elapsed(), 1)],
        )
        if self.on_imitation is not None:
            self.on_imitation(record)

    def _learn(self, model: PPO) -> None:
        """Train within the budget, then write the final checkpoint (and validate)."""
        statistics = _MetaCallback(self)
        episodes: BaseCallback = (
            CallbackList([ReturnBonuses(), EpisodeInfos(statistics.record_episode)])
            if self._on_ray
            else DeferredRewards(statistics.record_episode)
        )
        remaining = self.budget.remaining_timesteps()
        trains = remaining > 0 and not self.budget.out_of_time() and self.stop.raised is None
        if trains:
            # The policy's steps are small numpy products (meta.numpy_ppo.BLAS_THREADS);
            # validation samples through meta.design.sample_on_target, which holds it too.
            with blas_limit():
                model.learn(
                    total_timesteps=remaining,
                    callback=CallbackList([episodes, statistics]),
                    reset_num_timesteps=self.resumed is None,
                    progress_bar=False,
                )
        self.interrupted = self.stop.raised is not None
        self.checkpoint(model, final=True)
        if trains and self.validation_targets and not self.interrupted:
            self.run_validation(model)

    def _count_redo(self, error: EnvWorkersLost, attempt: int) -> None:
        """Called before a rollout is collected again after lost environment actors."""
        self.rollout_redos += 1

    def elapsed(self) -> float:
        """Seconds of training in the whole run."""
        return self.budget.elapsed()

    def budget_fraction(self, timesteps: int) -> float:
        """The fraction of the run's budget spent."""
        return self.budget.fraction(timesteps)

    def should_stop(self) -> bool:
        """Whether the budget is spent or a stop was requested."""
        return self.stop.raised is not None or self.budget.out_of_time()

    # -- checkpoints and validation ---------------------------------------------
    def _meta(self, model: PPO, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        meta = {
            "timesteps": int(model.num_timesteps),
            "elapsed": round(self.elapsed(), 1),
            "seed": self.settings.seed,
            "train_data": str(self.settings.train_data),
            "train_data_sha256": self.train_data_sha256,
            "n_steps": self.settings.n_steps,
            **({"init": self._lineage} if self._lineage else {}),
            **(
                {"imitation": self.imitation, "imitation_epochs": self.imitation_epochs}
                if self.imitation
                else {}
            ),
            "versions": package_versions(),
            **({"rollout_redos": self.rollout_redos} if self._on_ray else {}),
            "saved": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        meta.update(extra or {})
        return meta

    def checkpoint(self, model: PPO, final: bool = False) -> Path:
        """Write a periodic checkpoint and make it ``latest``; prune old ones."""
        folder = self.out / "checkpoints"
        path = folder / f"step-{model.num_timesteps:012d}.zip"
        save_checkpoint(model, self.config, path, self._meta(model, {"final": final}))
        copy_checkpoint(path, self.out / f"{LATEST}.zip")
        periodic = sorted(folder.glob("step-*.zip"))
        for old in periodic[: -self.settings.keep_checkpoints]:
            old.unlink(missing_ok=True)
            config_path(old).unlink(missing_ok=True)
        return path

    def run_validation(self, model: PPO) -> ValidationResult:
        """Validate the current policy; keep it as ``best`` when it is the best so far."""
        result = validate(
            model,
            self.config.updated({"n_envs": self.settings.validation_envs}),
            self.validation_targets,
            self.settings.validation_time,
            self.settings.seed,
        )
        model.logger.record("validation/solved_fraction", result.fraction)
        model.logger.record("validation/mean_distance", result.mean_distance)
        model.logger.dump(model.num_timesteps)
        self._append_validation(result)
        score = (result.fraction, -result.mean_distance)
        # On a tie the later (longer trained) policy wins.
        if self.best_validation is None or score >= self.best_validation:
            self.best_validation = score
            extra = {
                "validation_fraction": result.fraction,
                "validation_solved": result.solved,
                "validation_mean_distance": result.mean_distance,
            }
            save_checkpoint(model, self.config, self.out / f"{BEST}.zip", self._meta(model, extra))
        if self.on_validation is not None:
            self.on_validation(result)
        return result

    def _append_validation(self, result: ValidationResult) -> None:
        header = ["timesteps", "elapsed", "solved", "total", "fraction", "mean_distance", "seconds"]
        row = [
            result.timesteps,
            round(self.elapsed(), 1),
            result.solved,
            result.total,
            round(result.fraction, 4),
            round(result.mean_distance, 4),
            round(result.seconds, 1),
        ]
        _append_row(self.out / "validation.csv", header, row)


def _append_row(path: Path, header: list[str], row: list[Any]) -> None:
    """Append ``row`` to the CSV file at ``path``, writing ``header`` first if it is new."""
    new = not path.exists()
    with open(path, "a", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        if new:
            writer.writerow(header)
        writer.writerow(row)


class _MetaCallback(BaseCallback):
    """Episode statistics, budget and signal checks, periodic checkpoints and validation."""

    def __init__(self, trainer: MetaTrainer):
        super().__init__()
        self.trainer = trainer
        self.episodes = 0
        self.recent: list[tuple[bool, float]] = []
        now = time.monotonic()
        self.last_checkpoint = now
        self.last_validation = now

    def _on_rollout_start(self) -> None:
        torch.set_num_threads(1)  # sampling: one batch of windows per step

    def _on_rollout_end(self) -> None:
        trainer, settings = self.trainer, self.trainer.settings
        torch.set_num_threads(settings.threads)  # the folding workers are idle in the update
        solved = [s for s, _ in self.recent]
        fraction = float(np.mean(solved)) if solved else 0.0
        distance = float(np.mean([d for _, d in self.recent])) if self.recent else 1.0
        self.logger.record("meta/solved_fraction", fraction)
        self.logger.record("meta/mean_normalized_distance", distance)
        self.logger.record("meta/episodes", self.episodes)
        self.logger.record("meta/elapsed", trainer.elapsed())
        if trainer.settings.backend.is_ray:
            self.logger.record("meta/rollout_redos", trainer.rollout_redos)
        if trainer.on_progress is not None:
            trainer.on_progress(
                TrainProgress(
                    self.model.num_timesteps,
                    self.episodes,
                    fraction,
                    distance,
                    trainer.elapsed(),
                    trainer.budget_fraction(self.model.num_timesteps),
                    trainer.best_validation[0] if trainer.best_validation else None,
                )
            )
        self.recent.clear()
        now = time.monotonic()
        if now - self.last_checkpoint >= settings.checkpoint_every:
            trainer.checkpoint(self.model)
            self.last_checkpoint = now
        if trainer.validation_targets and now - self.last_validation >= settings.validate_every:
            trainer.run_validation(self.model)
            self.last_validation = time.monotonic()

    def _on_step(self) -> bool:
        return not self.trainer.should_stop()

    def record_episode(self, info: dict[str, Any]) -> None:
        """Count a finished training episode (from DeferredRewards or EpisodeInfos)."""
        self.episodes += 1
        self.recent.append((info["distance"] == 0, info["distance"] / len(info["structure"])))


class EpisodeInfos(BaseCallback):
    """Reports the finished episodes of an environment that rewards synchronously.

    The episodes of Ray actors (:class:`meta.rna_agent.RnaEnvFactory`) are folded inside the
    actors, so a step that ends an episode carries its reward and its ``info`` (with
    ``distance``) at once.

    Args:
        on_episode: Called with the ``info`` of every finished, evaluated episode.
    """

    def __init__(self, on_episode: Callable[[dict[str, Any]], None]):
        super().__init__()
        self.on_episode = on_episode

    def _on_step(self) -> bool:
        for info in self.locals["infos"]:
            if "distance" in info:
                self.on_episode(info)
        return True
