"""Training one PPO agent on a vector-observation task (``autorl train``), with resume.

The tasks are those of :data:`meta.agents.AGENTS` (the CartPole tasks; ``autorl
meta-train --task cartpole-variants`` is such a run too), optionally with their physics
fixed at one context or drawn from other ranges (:func:`physics_spec`,
:mod:`meta.contexts`). RNA design, the other domain of :func:`meta.agents.domain_spec`,
trains with :mod:`meta.training` (``autorl train --task rna`` and ``autorl meta-train``).

An output directory holds::

    run.json                  settings, task, flat configuration, seed, --init, versions,
                              start time (written once, when the run starts)
    latest.zip / latest.json  the newest checkpoint (a resume starts here)
    monitor.csv               every finished training episode, all sessions in one file
                              (SB3 VecMonitor format: return r, length l, seconds t)
    logs/session-K/           TensorBoard events and progress.csv of the K-th session
    learning_curve.csv/.png   written by ``autorl train`` at the end (benchmarks.learning)

Checkpoints:
    The format of :mod:`meta.checkpoints`: ``latest.zip`` is ``model.save`` (policy and
    optimizer state), ``latest.json`` the flat :class:`meta.agents.AgentConfig` plus a
    ``_meta`` object: ``agent`` and ``task`` (the agent spec that wrote it, as in
    :mod:`meta.checkpoints`), ``context`` and ``ranges`` (``--context`` / ``--ranges``, or
    null), ``timesteps``, ``elapsed`` (training seconds, whole run), ``seed``, ``init`` (the
    ``--init`` checkpoint or null), ``versions``, ``saved`` and ``interrupted``. The zip is
    written first, the JSON last, each to a temporary name and renamed, so a reader never
    sees half a checkpoint. ``latest`` is rewritten every ``checkpoint_every`` seconds and
    when training ends -- at the budget, or at SIGINT / SIGTERM (the first signal stops at
    the next environment step and writes the checkpoint; a second one raises
    ``KeyboardInterrupt`` at once, leaving the last periodic checkpoint).
    :func:`load_agent_checkpoint` reads one back; ``PPO.load`` (or ``RecurrentPPO.load`` for
    an LSTM) loads the zip.

Budgets and resume:
    ``timesteps`` and ``time_limit`` count the whole run across resumes (exactly one is
    given); a run stops at the first rollout boundary at or after ``timesteps`` (SB3
    collects whole rollouts of ``n_steps * n_envs``), or at the first step after
    ``time_limit`` seconds of training (a rollout cut short by the time limit or a signal
    is not trained on; its steps still count). ``resume`` continues from ``latest``: weights and
    optimizer state, ``num_timesteps`` and the elapsed time; environment and sampling are
    seeded with ``seed + timesteps so far``. A resumed run keeps its task, seed and
    configuration (a differing one is refused). Linear schedules decay over the fraction of
    the budget spent (timesteps, or training seconds for a time budget), so they continue
    across a resume. ``monitor.csv`` is appended to, never truncated
    (:func:`meta.agents.monitor`), and its ``t`` continues from the elapsed time.

Warm start:
    ``init`` names a checkpoint of the same task whose policy architecture equals this
    run's; its policy weights (not its optimizer state, not its timestep count) are loaded
    before training, and the checkpoint is recorded in ``run.json`` and every checkpoint.
    ``init`` and ``resume`` exclude each other.
"""

from __future__ import annotations

import functools
import json
import math
import os
import time
import zipfile
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stable_baselines3.common.callbacks import BaseCallback

from meta.agents import AgentConfig, AgentSpec, agent_spec, build_model, monitor
from meta.cluster import Backend
from meta.contexts import context_spec, ranges_record, ranges_spec
from meta.files import write_json_atomic
from meta.provenance import package_versions
from meta.run_control import RunBudget, StopFlag, session_log_folder
from meta.weights import WeightsMismatch, load_policy_weights
from policies.device import check_device, resolve_device

if TYPE_CHECKING:
    from stable_baselines3.common.base_class import BaseAlgorithm
    from stable_baselines3.common.vec_env import VecEnv

    from envs.cartpole_variants import CartPoleContext, ContextRanges

#: Stem of the checkpoint that a resume starts from.
LATEST = "latest"
#: The episode log of the run, all sessions (SB3 requires the ``monitor.csv`` ending).
MONITOR = "monitor.csv"
#: Episodes in the mean return shown by the progress callback.
RECENT = 20


def physics_spec(
    task: str, context: CartPoleContext | None = None, ranges: ContextRanges | None = None
) -> AgentSpec:
    """``task``'s agent spec, fixed at ``context`` or drawing from ``ranges`` when given.

    Raises:
        ValueError: An unknown task, or physics for a task without them.
    """
    spec = agent_spec(task)
    if context is not None:
        return context_spec(spec, context, "train" if ranges is None else ranges)
    return spec if ranges is None else ranges_spec(spec, ranges)


@dataclass(frozen=True)
class TrainSettings:
    """Settings of one ``autorl train`` run.

    Attributes:
        task: A task of :data:`meta.agents.AGENTS`.
        out: Output directory.
        config: The agent configuration; None: the task's default (on resume: the run's).
        timesteps: Environment steps of the whole run, or None.
        time_limit: Seconds of training of the whole run, or None (exactly one is given).
        seed: Seed of everything random; None: 0 (on resume: the run's).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (checked against this machine).
        resume: Continue the run in ``out`` from ``latest``.
        init: A checkpoint whose policy weights start the training, or None.
        checkpoint_every: Seconds between periodic checkpoints.
        backend: Where the environments run: in this process (local), or spread over
            ``workers`` Ray actors (:class:`envs.ray_vec_env.RayVecEnv`; the learner stays
            here, a lost actor is replaced and the rollout redone). Ray must be connected
            (:func:`meta.cluster.backend_session`).
        workers: Ray environment actors (at most the configuration's ``n_envs``).
        context: A CartPole task's physics, fixed for the whole run
            (:func:`meta.contexts.context_spec`: adapting to one context), or None (the
            task's own contexts). On resume: the run's (a different one is refused).
        ranges: ``cartpole-variants``: the ranges the contexts are drawn from (and the
            observation normalizes them over) instead of the training ranges; with
            ``context``: the ranges the observation normalizes the context over (None: the
            ``init`` checkpoint's ranges, else the training ranges). On resume: the run's.

    Raises:
        ValueError: An unknown task, both or neither budget, a budget that is not
            positive, a bad or missing device, ``init`` with ``resume``, or a
            ``checkpoint_every`` that is not positive.
    """

    task: str
    out: Path
    config: AgentConfig | None = None
    timesteps: int | None = None
    time_limit: float | None = None
    seed: int | None = None
    device: str = "auto"
    resume: bool = False
    init: Path | None = None
    checkpoint_every: float = 300.0
    backend: Backend = field(default_factory=Backend)
    workers: int = 1
    context: CartPoleContext | None = None
    ranges: ContextRanges | None = None

    def __post_init__(self) -> None:
        agent_spec(self.task)
        if self.context is not None or self.ranges is not None:
            self.spec  # noqa: B018 - a task without a physics context is refused now
        if self.workers < 1:
            raise ValueError(f"--workers must be >= 1, got {self.workers}")
        if self.workers > 1 and not self.backend.is_ray:
            raise ValueError("--workers > 1 runs environment actors: use it with --backend ray")
        if (self.timesteps is None) == (self.time_limit is None):
            raise ValueError("give exactly one of --timesteps and --time-limit")
        if self.timesteps is not None and self.timesteps < 1:
            raise ValueError(f"--timesteps must be >= 1, got {self.timesteps}")
        if self.time_limit is not None and not (
            math.isfinite(self.time_limit) and self.time_limit > 0
        ):
            raise ValueError(f"--time-limit must be > 0 seconds, got {self.time_limit}")
        if self.init is not None and self.resume:
            raise ValueError("--init starts a new run; it cannot be combined with --resume")
        if not self.checkpoint_every > 0:
            raise ValueError(f"checkpoint_every must be > 0 seconds, got {self.checkpoint_every}")
        object.__setattr__(self, "device", check_device(self.device))
        resolve_device(self.device)  # a clear error now for a CUDA device this machine lacks

    @property
    def spec(self) -> AgentSpec:
        """The task's agent spec (fixed at ``context`` when one is given)."""
        return physics_spec(self.task, self.context, self.ranges)


@dataclass(frozen=True)
class TrainStatus:
    """A snapshot of a running training, for progress displays.

    Attributes:
        timesteps: Environment steps so far (whole run).
        episodes: Finished episodes so far (whole run).
        mean_return: Mean return of the last :data:`RECENT` episodes, or None before one.
        elapsed: Seconds of training (whole run).
        budget: Fraction of the budget spent (0..1).
    """

    timesteps: int
    episodes: int
    mean_return: float | None
    elapsed: float
    budget: float


def load_agent_checkpoint(path: str | Path) -> tuple[AgentConfig, dict[str, Any]]:
    """Read the configuration and ``_meta`` of a checkpoint written by :class:`PpoTrainer`.

    Args:
        path: The zip, its JSON, or their common stem (e.g. ``run/latest``).

    Returns:
        The agent configuration and the ``_meta`` record (``task``, ``timesteps`` ...).

    Raises:
        ValueError: The zip or the JSON is missing, the zip is not an SB3 save, or the JSON
            is not a configuration of this family; the message names the file.
    """
    zip_path = checkpoint_zip(path)
    json_path = zip_path.with_suffix(".json")
    if not zip_path.is_file():
        raise ValueError(f"checkpoint not found: {zip_path}")
    try:
        with zipfile.ZipFile(zip_path) as archive:
            has_policy = "policy.pth" in archive.namelist()
    except (zipfile.BadZipFile, OSError) as error:
        raise ValueError(f"{zip_path}: not a checkpoint (bad zip: {error})") from None
    if not has_policy:
        raise ValueError(f"{zip_path}: not a stable-baselines3 checkpoint (no policy.pth)")
    if not json_path.is_file():
        raise ValueError(
            f"{zip_path}: its configuration {json_path.name} is missing; a checkpoint is the "
            "zip plus the JSON written beside it"
        )
    try:
        data = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(
            f"{json_path}: cannot read the checkpoint configuration: {error}"
        ) from None
    meta = data.pop("_meta", {}) if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(meta, dict):
        raise ValueError(f"{json_path}: expected a JSON object with a _meta object")
    try:
        config = AgentConfig.from_flat(data)
    except ValueError as error:
        raise ValueError(f"{json_path}: not a vector-agent checkpoint: {error}") from None
    return config, meta


def checkpoint_zip(path: str | Path) -> Path:
    """The zip of a checkpoint given as the zip, its JSON or their stem."""
    path = Path(path).expanduser()
    if path.suffix == ".json":
        return path.with_suffix(".zip")
    if path.suffix != ".zip":
        return path.with_name(path.name + ".zip")
    return path


class PpoTrainer:
    """Runs (or resumes) one training run; see the module docstring for the files.

    The constructor checks everything before it writes anything; on success it has
    created ``out`` and ``run.json`` (a new run) or read ``latest`` (a resume).

    Args:
        settings: The run's settings.
        on_progress: Called after every rollout with a :class:`TrainStatus`.

    Raises:
        ValueError: ``out`` holds a run and ``resume`` is not set; ``resume`` without a
            run; a resume whose task, seed or configuration differs from the run's; an
            ``init`` checkpoint that is unreadable, of another task or of another policy.
    """

    def __init__(
        self,
        settings: TrainSettings,
        on_progress: Callable[[TrainStatus], None] | None = None,
    ) -> None:
        self.settings = settings
        self.spec = settings.spec
        self.on_progress = on_progress
        self.out = Path(settings.out)
        self.config = settings.config or self.spec.default
        self.seed = 0 if settings.seed is None else settings.seed
        self.init = str(settings.init) if settings.init is not None else None
        self.context = settings.context
        self.ranges = settings.ranges
        self.budget = RunBudget(settings.timesteps, settings.time_limit)
        self.episodes_before = 0
        self.stop = StopFlag()
        self.interrupted = False
        self.timesteps = 0
        if settings.resume:
            self._prepare_resume()
        else:
            self._prepare_new_run()

    # -- set-up ---------------------------------------------------------------
    @property
    def latest(self) -> Path:
        """The zip of the latest checkpoint."""
        return self.out / f"{LATEST}.zip"

    def _check_workers(self) -> None:
        workers, n_envs = self.settings.workers, self.config.ppo.n_envs
        if workers > n_envs:
            raise ValueError(
                f"--workers {workers}: more environment actors than the configuration's "
                f"n_envs {n_envs}"
            )

    def _prepare_new_run(self) -> None:
        self._check_workers()
        if self.latest.exists() or (self.out / "run.json").exists():
            raise ValueError(
                f"{self.out} already holds a training run; pass --resume to continue it or "
                "choose another --out"
            )
        if self.settings.init is not None:
            self._check_init(self.settings.init)
        self.out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self._run_record(), self.out / "run.json")

    def _check_init(self, path: Path) -> None:
        config, meta = load_agent_checkpoint(path)
        self._adopt_init_ranges(meta.get("ranges"))
        if meta.get("task") != self.spec.name:
            raise ValueError(
                f"--init {path}: a checkpoint of task {meta.get('task')!r}, not {self.spec.name!r}"
            )
        if config.policy != self.config.policy:
            theirs, ours = config.policy.to_flat(), self.config.policy.to_flat()
            differences = ", ".join(
                f"{key} {theirs[key]!r} (checkpoint) vs {ours[key]!r} (this run)"
                for key in ours
                if theirs[key] != ours[key]
            )
            raise ValueError(
                f"--init {path}: another policy architecture: {differences}; --init needs "
                "the same architecture"
            )
        self.init = str(checkpoint_zip(path))

    def _adopt_init_ranges(self, recorded: dict[str, list[float]] | None) -> None:
        """Adapting to a context reads it over the ranges the ``init`` policy trained on."""
        if self.context is None or self.ranges is not None or recorded is None:
            return
        from envs.cartpole_variants import ContextRanges

        self.ranges = ContextRanges.from_mapping(recorded)
        self.spec = physics_spec(self.settings.task, self.context, self.ranges)

    def _prepare_resume(self) -> None:
        if not self.latest.is_file():
            raise ValueError(f"--resume: {self.out} has no checkpoint {self.latest.name} to resume")
        config, meta = load_agent_checkpoint(self.latest)
        settings = self.settings
        if meta.get("task") != settings.task:
            raise ValueError(
                f"--resume: the run in {self.out} trains task {meta.get('task')!r}, "
                f"not {settings.task!r}"
            )
        if settings.config is not None and settings.config != config:
            raise ValueError(
                f"--resume: --config differs from the configuration of the run in {self.out}; "
                "a resumed run keeps its configuration"
            )
        recorded_seed = int(meta.get("seed", 0))
        if settings.seed is not None and settings.seed != recorded_seed:
            raise ValueError(
                f"--resume: the run in {self.out} uses --seed {recorded_seed}, not {settings.seed}"
            )
        self._resume_physics(meta.get("context"), meta.get("ranges"))
        self.config = config
        self._check_workers()
        self.seed = recorded_seed
        self.init = meta.get("init")
        self.budget.resume(int(meta.get("timesteps", 0)), float(meta.get("elapsed", 0.0)))
        self.episodes_before = _count_monitor_rows(self.out / MONITOR)
        self.timesteps = self.budget.timesteps_before

    def _resume_physics(
        self, context: dict[str, float] | None, ranges: dict[str, list[float]] | None
    ) -> None:
        """Train the resumed run's context and ranges; refuse different ones."""
        from envs.cartpole_variants import CartPoleContext, ContextRanges

        recorded = (
            None if context is None else CartPoleContext(**context),
            None if ranges is None else ContextRanges.from_mapping(ranges),
        )
        given = (self.settings.context, self.settings.ranges)
        for option, ours, theirs in zip(("--context", "--ranges"), given, recorded):
            if ours is not None and ours != theirs:
                raise ValueError(
                    f"--resume: the run in {self.out} was started with another {option} "
                    f"({'none' if theirs is None else theirs.as_dict()}); a resumed run keeps it"
                )
        self.context, self.ranges = recorded
        self.spec = physics_spec(self.settings.task, *recorded)

    def _run_record(self) -> dict[str, Any]:
        settings = self.settings
        return {
            "settings": {
                "task": settings.task,
                "timesteps": settings.timesteps,
                "time_limit": settings.time_limit,
                "device": settings.device,
                "checkpoint_every": settings.checkpoint_every,
                "workers": settings.workers,
                **settings.backend.record(),
            },
            "task": self.spec.name,
            "context": None if self.context is None else self.context.as_dict(),
            "ranges": None if self.ranges is None else ranges_record(self.ranges),
            "config": self.config.to_flat(),
            "seed": self.seed,
            "init": self.init,
            "versions": package_versions(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }

    # -- the run --------------------------------------------------------------
    def run(self) -> Path:
        """Train until the budget is spent or a stop signal arrives; write ``latest``.

        Returns:
            The latest checkpoint's zip.
        """
        with self.stop:  # a signal from here on ends in a checkpoint
            self._train()
        return self.latest

    def _environment(self, seed: int) -> VecEnv:
        """The training environment: local, or in Ray actors behind one monitor here."""
        path = str(self.out / MONITOR)
        n_envs = self.config.ppo.n_envs
        if not self.settings.backend.is_ray:
            return self.spec.make_env(n_envs, seed, path)
        from envs.ray_vec_env import RayVecEnv

        actors = RayVecEnv(
            functools.partial(self.spec.make_env, monitor_path=None),
            n_envs,
            self.settings.workers,
            seed=seed,
            num_cpus=self.settings.backend.cpus,
        )
        return monitor(actors, path)

    def _train(self) -> None:
        self.budget.start()
        seed = self.seed + self.budget.timesteps_before
        env = self._environment(seed)
        if hasattr(env, "t_start"):  # the VecMonitor: its ``t`` continues across sessions
            env.t_start = time.time() - self.budget.elapsed_before
        try:
            model = build_model(self.spec, self.config, env, seed, self.settings.device)
            if self.settings.backend.is_ray:
                from envs.ray_vec_env import with_rollout_redo

                with_rollout_redo(model)
            self._load_start_weights(model)
            # Linear schedules follow the budget (also a time budget, also across resumes).
            model._update_current_progress_remaining = self._set_progress(model)
            self._learn(model)
        finally:
            env.close()

    def _load_start_weights(self, model: BaseAlgorithm) -> None:
        """The latest weights and optimizer (resume) or the --init policy weights."""
        if self.settings.resume:
            _load_weights(model, self.latest, with_optimizer=True)
            model.num_timesteps = self.budget.timesteps_before
        elif self.init is not None:
            _load_weights(model, Path(self.init), with_optimizer=False)

    def _set_progress(self, model: BaseAlgorithm) -> Callable[[int, int], None]:
        def update(num_timesteps: int, total_timesteps: int) -> None:
            model._current_progress_remaining = 1.0 - self.budget_fraction(num_timesteps)

        return update

    def _learn(self, model: BaseAlgorithm) -> None:
        """Train within the budget (if any is left), then write ``latest``."""
        callback = _TrainCallback(self)
        remaining = self.budget.remaining_timesteps()
        if remaining > 0 and not self.budget.out_of_time() and self.stop.raised is None:
            model.set_logger(_configure_logger(session_log_folder(self.out)))
            model.learn(
                total_timesteps=remaining,
                callback=callback,
                reset_num_timesteps=not self.settings.resume,
                progress_bar=False,
            )
        self.timesteps = int(model.num_timesteps)
        self.interrupted = self.stop.raised is not None
        self.checkpoint(model)

    def elapsed(self) -> float:
        """Seconds of training in the whole run."""
        return self.budget.elapsed()

    def budget_fraction(self, timesteps: int) -> float:
        """The fraction of the run's budget spent (timesteps or training seconds)."""
        return self.budget.fraction(timesteps)

    def should_stop(self) -> bool:
        """Whether the time is up or a stop was requested."""
        return self.stop.raised is not None or self.budget.out_of_time()

    # -- checkpoints ----------------------------------------------------------
    def checkpoint(self, model: BaseAlgorithm) -> Path:
        """Write ``latest.zip`` and ``latest.json`` atomically (the JSON last)."""
        meta = {
            "agent": self.spec.name,
            "task": self.spec.name,
            "context": None if self.context is None else self.context.as_dict(),
            "ranges": None if self.ranges is None else ranges_record(self.ranges),
            "timesteps": int(model.num_timesteps),
            "elapsed": round(self.elapsed(), 3),
            "seed": self.seed,
            "init": self.init,
            "versions": package_versions(),
            "saved": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "interrupted": self.stop.raised is not None,
        }
        temporary = self.out / f".{LATEST}.{os.getpid()}.tmp.zip"
        try:
            # The progress override refers to this trainer: not part of the saved model.
            model.save(temporary, exclude=["_update_current_progress_remaining"])
            os.replace(temporary, self.latest)
        finally:
            temporary.unlink(missing_ok=True)
        write_json_atomic(
            {**self.config.to_flat(), "_meta": meta}, self.latest.with_suffix(".json")
        )
        return self.latest


def _configure_logger(folder: Path) -> Any:
    """SB3's logger writing progress.csv and TensorBoard events to ``folder``."""
    from stable_baselines3.common.logger import configure

    return configure(str(folder), ["csv", "tensorboard"])


def _load_weights(model: BaseAlgorithm, path: Path, with_optimizer: bool) -> None:
    """Load a checkpoint's policy (and optionally optimizer) state into ``model``.

    Raises:
        ValueError: The weights cannot be read or do not fit the model.
    """
    zip_path = checkpoint_zip(path)
    try:
        load_policy_weights(model, zip_path, with_optimizer)
    except WeightsMismatch as error:
        raise ValueError(f"{zip_path}: the weights do not fit this agent ({error})") from None


def _count_monitor_rows(path: Path) -> int:
    """Finished episodes in a monitor file (0 if there is none)."""
    if not path.is_file():
        return 0
    with open(path, encoding="utf-8") as file:
        lines = sum(1 for line in file if line.endswith("\n"))
    return max(0, lines - 2)  # the #{json} header and the column line


class _TrainCallback(BaseCallback):
    """Counts episodes, stops at the time budget or a signal, writes periodic checkpoints."""

    def __init__(self, trainer: PpoTrainer) -> None:
        super().__init__()
        self.trainer = trainer
        self.episodes = trainer.episodes_before
        self.recent: deque[float] = deque(maxlen=RECENT)
        self.last_checkpoint = time.monotonic()

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", ()):
            episode = info.get("episode")
            if episode is not None:
                self.episodes += 1
                self.recent.append(float(episode["r"]))
        return not self.trainer.should_stop()

    def _on_rollout_end(self) -> None:
        trainer = self.trainer
        timesteps = int(self.model.num_timesteps)
        trainer.timesteps = timesteps
        self.logger.record("train_run/episodes", self.episodes)
        self.logger.record("train_run/elapsed", trainer.elapsed())
        if trainer.on_progress is not None:
            mean = sum(self.recent) / len(self.recent) if self.recent else None
            trainer.on_progress(
                TrainStatus(
                    timesteps,
                    self.episodes,
                    mean,
                    trainer.elapsed(),
                    trainer.budget_fraction(timesteps),
                )
            )
        now = time.monotonic()
        if now - self.last_checkpoint >= trainer.settings.checkpoint_every:
            trainer.checkpoint(self.model)
            self.last_checkpoint = now
