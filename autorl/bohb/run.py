"""A logged, resumable optimization run: optimizer + executor + run log.

:func:`run` keeps every worker busy: it asks the optimizer for trials while workers are idle
(trials already in the log of an interrupted run are replayed, not run), hands them to the
executor, appends each outcome to ``trials.jsonl`` the moment it arrives and tells the
optimizer, until all iterations are done.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ConfigSpace import ConfigurationSpace

from autorl.bohb.encoding import config_key
from autorl.bohb.executor import (
    Job,
    Objective,
    Outcome,
    ProcessExecutor,
    SerialExecutor,
    TrialExecutor,
)
from autorl.bohb.hyperband import Trial
from autorl.bohb.optimizer import METHODS, BOHBConfig, Incumbent, Optimizer, Proposal, trial_seed
from autorl.bohb.ray_executor import RayExecutor
from autorl.bohb.runlog import (
    FORMAT,
    RUN_FILE,
    ResumeState,
    RunLog,
    command_line,
    load_trials,
    open_run,
    trajectory,
)
from autorl.progress import Progress
from envs.execution import Executor
from meta.cluster import Backend
from meta.provenance import package_versions

log = logging.getLogger(__name__)


class Searcher(Protocol):
    """What the run loop needs of an optimizer (:class:`Optimizer` or an external one)."""

    config: BOHBConfig
    incumbent: Incumbent
    on_propose: Callable[[Proposal], None] | None

    def ask(self) -> Trial | None: ...  # noqa: D102
    def tell(self, trial: Trial, loss: float) -> None: ...  # noqa: D102
    def preload(self, proposals: Mapping[tuple[int, int], Mapping[str, Any]]) -> None: ...  # noqa: D102
    def warm_start(self, results: Sequence[tuple[Mapping[str, Any], float, float]]) -> int: ...  # noqa: D102
    def close(self) -> None: ...  # noqa: D102

    @property
    def progress_label(self) -> str: ...  # noqa: D102


class RunLogMismatch(ValueError):
    """A resumed run's log does not match the schedule rebuilt from it."""


def make_optimizer(
    method: str, space: ConfigurationSpace, config: BOHBConfig, iterations: int
) -> Any:
    """The searcher for ``method``: autorl's own (:data:`METHODS`) or an external one.

    Raises:
        ValueError: unknown method, or an external one that is not installed.
    """
    if method in METHODS:
        return Optimizer(space, config, method=method, iterations=iterations)
    from autorl.bohb.external import make_searcher

    return make_searcher(method, space, config, iterations)


def load_warm_start(
    directories: Sequence[str | Path], space: ConfigurationSpace
) -> tuple[list[tuple[dict[str, Any], float, float]], list[dict[str, Any]]]:
    """The finished trials of earlier runs, for :meth:`Optimizer.warm_start`.

    Returns:
        (config, budget, loss) triples (a failed trial's loss is +inf) and one record per
        directory (its path and trial count) for the run header.

    Raises:
        ValueError: a directory holds no run, or its search space differs (the message
            names the differing parameters).
    """
    results: list[tuple[dict[str, Any], float, float]] = []
    sources = []
    for directory in directories:
        path = Path(directory)
        run_file = path / RUN_FILE
        if not run_file.exists():
            raise ValueError(f"--warm-start {path}: no {RUN_FILE}; not a run directory")
        header = json.loads(run_file.read_text(encoding="utf-8"))
        differ = space_difference(header.get("space", {}), space)
        if differ:
            raise ValueError(
                f"--warm-start {path}: its search space differs in {', '.join(differ)}"
            )
        records = load_trials(path)
        for record in records:
            loss = record.get("loss")
            value = math.inf if loss is None else float(loss)
            results.append((dict(record["config"]), float(record["budget"]), value))
        sources.append({"run": str(path.resolve()), "trials": len(records)})
    return results, sources


def space_difference(serialized: Mapping[str, Any], space: ConfigurationSpace) -> list[str]:
    """Names of the parameters (or conditions/forbiddens) that differ between two spaces."""
    mine = json.loads(json.dumps(space.to_serialized_dict(), default=str))
    theirs = json.loads(json.dumps(dict(serialized), default=str))

    def by_name(entry: Mapping[str, Any]) -> dict[str, Any]:
        return {h["name"]: h for h in entry.get("hyperparameters", [])}

    a, b = by_name(mine), by_name(theirs)
    differ = sorted(name for name in a.keys() | b.keys() if a.get(name) != b.get(name))
    for key in ("conditions", "forbiddens"):
        if mine.get(key, []) != theirs.get(key, []):
            differ.append(key)
    return differ


@dataclass(frozen=True)
class RunSummary:
    """The end of a run.

    Attributes:
        incumbent: The best configuration (None if every trial failed).
        incumbent_loss: Its loss.
        incumbent_budget: The budget of that loss.
        trials: Trials finished in total (including those of earlier, resumed sessions).
        failed: Failed trials among them.
        replayed: Trials taken from the log of an interrupted session.
        budget_used: Sum of the budgets of all finished trials.
        out_dir: The run directory.
        stopped: ``time limit`` when the run's wall-clock limit ended it early (trials
            still running then were stopped and not logged: ``--resume`` runs them again);
            None when the schedule finished.
    """

    incumbent: dict[str, Any] | None
    incumbent_loss: float
    incumbent_budget: float
    trials: int
    failed: int
    replayed: int
    budget_used: float
    out_dir: Path
    stopped: str | None = None


def run(
    objective: Objective,
    space: ConfigurationSpace,
    config: BOHBConfig,
    *,
    out_dir: str | Path,
    iterations: int,
    method: str = "bohb",
    workers: int = 1,
    resume: bool = False,
    timeout: Callable[[float], float | None] | None = None,
    task: str = "custom",
    task_options: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
    common_random_numbers: bool = False,
    warm_start: Sequence[str | Path] = (),
    max_total_budget: float | None = None,
    backend: Backend | None = None,
    time_limit: float | None = None,
    executor: Executor | None = None,
) -> RunSummary:
    """Optimize ``objective`` over ``space`` and log everything to ``out_dir``.

    Args:
        objective: ``objective(config, budget, seed) -> loss`` (picklable when workers > 0).
        space: The search space.
        config: Budgets, model settings and seed.
        out_dir: The run directory (see :mod:`autorl.bohb.runlog`).
        iterations: Hyperband iterations (brackets).
        method: ``bohb``, ``hyperband``, ``random``, or an external searcher
            (``smac``, ``optuna``, ``hpbandster``; see :mod:`autorl.bohb.external`).
        workers: Parallel worker processes; 0 runs trials in this process (no timeouts).
        resume: Continue the run logged in ``out_dir``.
        timeout: Seconds a trial on a given budget may take (None: no limit).
        task: Name recorded in the header.
        task_options: Task settings recorded in the header (must match on resume).
        progress: Status line on stderr.
        common_random_numbers: Give a configuration the same seed on every rung (see
            :func:`autorl.bohb.optimizer.trial_seed`); by default each rung draws anew.
        warm_start: Earlier run directories whose trials seed BOHB's model.
        max_total_budget: Stop starting trials once this much budget is committed
            (None: the iterations decide); the optimizer benchmark gives every method the
            same total this way.
        backend: Where trials run: local processes (None or ``local``) or Ray tasks
            (``ray``: Ray must be initialized, see :func:`meta.cluster.ray_session`; each
            trial declares the backend's CPUs and GPUs). The backend is not part of the
            run's identity: a run started locally resumes on Ray and back.
        time_limit: Wall-clock seconds of this session: no trial starts after them, and
            trials still running then are stopped (killed, not logged; with ``workers=0``
            the running trial finishes first). None: no limit.
        executor: Where trials run instead of the executor made from ``workers`` and
            ``backend``: any executor of :mod:`envs.execution` (local processes, Ray, or
            one shared with other work). Each trial is a unit named by its trial id that
            declares the backend's CPUs and GPUs; the caller owns the executor (trials
            still running at the end are cancelled, the executor is not shut down). The
            header records its slots as ``workers``.

    Raises:
        ValueError: bad arguments, or a resume that does not match the logged run.
        RuntimeError: an internal error in the run loop (the run log stays resumable).
    """
    if workers < 0:
        raise ValueError(f"workers must be >= 0, got {workers}")
    backend = backend or Backend()
    if backend.is_ray and workers < 1 and executor is None:
        raise ValueError("--workers 0 runs trials in this process; with --backend ray use >= 1")
    if max_total_budget is not None and not max_total_budget > 0:
        raise ValueError(f"max_total_budget must be > 0, got {max_total_budget}")
    if time_limit is not None and not (math.isfinite(time_limit) and time_limit > 0):
        raise ValueError(f"--time-limit must be > 0 seconds, got {time_limit}")
    warm_results, warm_sources = load_warm_start(warm_start, space)
    optimizer = make_optimizer(method, space, config, iterations)
    try:
        return _run(
            optimizer,
            objective,
            space,
            config,
            out_dir=Path(out_dir),
            iterations=iterations,
            method=method,
            workers=workers,
            resume=resume,
            timeout=timeout,
            task=task,
            task_options=task_options,
            progress=progress,
            common_random_numbers=common_random_numbers,
            warm=(warm_results, warm_sources),
            max_total_budget=max_total_budget,
            backend=backend,
            time_limit=time_limit,
            executor=executor,
        )
    finally:
        optimizer.close()


def _run(
    optimizer: Any,
    objective: Objective,
    space: ConfigurationSpace,
    config: BOHBConfig,
    *,
    out_dir: Path,
    iterations: int,
    method: str,
    workers: int,
    resume: bool,
    timeout: Callable[[float], float | None] | None,
    task: str,
    task_options: Mapping[str, Any] | None,
    progress: Progress | None,
    common_random_numbers: bool,
    warm: tuple[list[tuple[dict[str, Any], float, float]], list[dict[str, Any]]],
    max_total_budget: float | None,
    backend: Backend,
    time_limit: float | None,
    executor: Executor | None,
) -> RunSummary:
    warm_results, warm_sources = warm
    if warm_results:
        optimizer.warm_start(warm_results)
    header = {
        "format": FORMAT,
        "task": task,
        "task_options": dict(task_options or {}),
        "method": method,
        "bohb": dataclasses.asdict(config),
        "budgets": list(config.budgets),
        "iterations": iterations,
        "workers": workers if executor is None else executor.slots,
        **backend.record(),
        "seed": config.seed,
        "seeding": "common" if common_random_numbers else "per-rung",
        "warm_start": warm_sources,
        "max_total_budget": max_total_budget,
        "space": space.to_serialized_dict(),
        "versions": package_versions(),
        "command": command_line(),
    }
    runlog, state = open_run(out_dir, header, resume)
    optimizer.preload(state.proposals)
    optimizer.on_propose = lambda p: runlog.append_proposal(_proposal_record(p))
    trials = _executor(objective, workers, backend, executor)
    driver = _Driver(
        optimizer,
        trials,
        runlog,
        state,
        timeout,
        progress or Progress(True),
        common_random_numbers,
        max_total_budget,
    )
    if time_limit is not None:
        driver.deadline = time.perf_counter() + time_limit
    # Timestamps continue across sessions, so a resumed run's trials stay in order.
    earlier = [float(r.get("finished", 0.0)) for r in state.trials.values()]
    driver.clock -= max(earlier, default=0.0)
    try:
        with runlog, trials:
            driver.loop()
    except RunLogMismatch:
        raise
    except ValueError as error:  # a bug, not bad input: never reported as exit 2
        raise RuntimeError(
            f"internal error during the run ({error}); the log in {out_dir} is intact, "
            "--resume continues it"
        ) from error
    finally:
        driver.progress.clear()
    if state.trials:
        log.warning("%d logged trials were not part of this run's schedule", len(state.trials))
    inc = optimizer.incumbent
    stats = optimizer.stats
    return RunSummary(
        inc.config,
        inc.loss,
        inc.budget,
        stats.trials,
        stats.failed,
        driver.replayed,
        stats.budget_used,
        Path(out_dir),
        "time limit" if driver.out_of_time else None,
    )


def _executor(
    objective: Objective, workers: int, backend: Backend, injected: Executor | None = None
) -> TrialExecutor:
    if injected is not None:
        return TrialExecutor(objective, injected, cpus=backend.cpus, gpus=backend.gpus, owns=False)
    if backend.is_ray:
        return RayExecutor(objective, workers, backend.cpus, backend.gpus)
    return ProcessExecutor(objective, workers) if workers else SerialExecutor(objective)


@dataclass
class _Driver:
    """Keeps the workers busy: ask, replay or submit, wait, log, tell."""

    optimizer: Any
    executor: TrialExecutor
    runlog: RunLog
    state: ResumeState
    timeout: Callable[[float], float | None] | None
    progress: Progress
    common_random_numbers: bool = False
    max_total_budget: float | None = None
    replayed: int = 0
    committed: float = 0.0
    running: dict[str, Trial] = field(default_factory=dict)
    started: dict[str, float] = field(default_factory=dict)
    clock: float = field(default_factory=time.perf_counter)
    #: ``time.perf_counter()`` after which no trial runs (None: no limit).
    deadline: float | None = None
    #: Whether the deadline ended the run before its schedule did.
    out_of_time: bool = False
    #: Trials whose timeout is the run's deadline (an outcome then is not a result).
    cut: set[str] = field(default_factory=set)

    def loop(self) -> None:
        """Run until the optimizer has nothing left to ask for and no trial is running."""
        while True:
            self.fill()
            if not self.running:
                return
            for outcome in self.executor.wait():
                trial = self.running.pop(outcome.trial_id)
                if self._stopped_at_deadline(trial, outcome):
                    continue
                record = _trial_record(trial, outcome, self.seed(trial))
                record["started"] = round(self.started.pop(trial.id), 6)
                record["finished"] = round(time.perf_counter() - self.clock, 6)
                self.runlog.append_trial(record)
                self.optimizer.tell(trial, outcome.loss)
                _show(self.progress, self.optimizer, trial, outcome)

    def _stopped_at_deadline(self, trial: Trial, outcome: Outcome) -> bool:
        """Whether ``outcome`` is a trial killed at the run's deadline (then forget it)."""
        cut = trial.id in self.cut
        self.cut.discard(trial.id)
        if cut and outcome.status != "ok" and self._past_deadline():
            self.started.pop(trial.id, None)
            self.out_of_time = True
            return True
        return False

    def _past_deadline(self) -> bool:
        return self.deadline is not None and time.perf_counter() >= self.deadline

    def seed(self, trial: Trial) -> int:
        """The objective's seed for ``trial``."""
        return trial_seed(self.optimizer.config.seed, trial, self.common_random_numbers)

    def fill(self) -> None:
        """Start trials while workers are idle; trials already logged are replayed instead."""
        while self.executor.idle:
            if self._past_deadline():
                finished = getattr(self.optimizer, "finished", False) and not self.running
                self.out_of_time = self.out_of_time or not finished
                return
            cap = self.max_total_budget
            if cap is not None and self.committed >= cap - 1e-9:
                return
            trial = self.optimizer.ask()
            if trial is None:
                return
            self.committed += trial.budget
            record = self._logged(trial)
            if record is not None:
                _replay(self.optimizer, trial, record)
                self.replayed += 1
                continue
            self.running[trial.id] = trial
            self.started[trial.id] = time.perf_counter() - self.clock
            limit = self._limit(trial)
            job = Job(trial.id, dict(trial.config), trial.budget, self.seed(trial), limit)
            self.executor.submit(job)

    def _limit(self, trial: Trial) -> float | None:
        """The trial's timeout: its own, or the time left to the run's deadline if sooner."""
        own = self.timeout(trial.budget) if self.timeout else None
        if self.deadline is None:
            return own
        left = max(0.01, self.deadline - time.perf_counter())
        if own is not None and own <= left:
            return own
        self.cut.add(trial.id)
        return left

    def _logged(self, trial: Trial) -> dict[str, Any] | None:
        """The logged record of ``trial`` on resume (by id, or by content for searchers).

        Searchers that do not reproduce trial ids (see :mod:`autorl.bohb.external`) get the
        logged result of the same configuration on the same budget.
        """
        trials = self.state.trials
        if not getattr(self.optimizer, "replay_by_content", False):
            return trials.pop(trial.id, None)
        record = trials.get(trial.id)
        if record is not None and _same(record, trial):
            return trials.pop(trial.id)
        for trial_id, record in trials.items():
            if _same(record, trial):
                return trials.pop(trial_id)
        return None


def _same(record: Mapping[str, Any], trial: Trial) -> bool:
    return float(record["budget"]) == trial.budget and config_key(record["config"]) == config_key(
        trial.config
    )


def _replay(optimizer: Any, trial: Trial, record: Mapping[str, Any]) -> None:
    if config_key(record["config"]) != config_key(trial.config):
        raise RunLogMismatch(
            f"--resume: logged trial {trial.id} has a different configuration than the "
            "schedule rebuilt from the log; the run log does not belong to this run"
        )
    loss = record.get("loss")
    optimizer.tell(trial, math.inf if loss is None else float(loss))


def _proposal_record(proposal: Proposal) -> dict[str, Any]:
    return {
        "bracket": proposal.bracket,
        "config_id": proposal.config_id,
        "config": proposal.config,
        "model_based": proposal.model_based,
        "model_budget": proposal.model_budget,
    }


def _trial_record(trial: Trial, outcome: Outcome, seed: int) -> dict[str, Any]:
    record = {
        "trial": trial.id,
        "bracket": trial.bracket,
        "config_id": trial.config_id,
        "rung": trial.rung,
        "budget": trial.budget,
        "config": dict(trial.config),
        "loss": outcome.loss,
        "status": outcome.status,
        "seconds": round(outcome.seconds, 6),
        "worker": outcome.worker,
        "error": outcome.error,
        "seed": seed,
        "info": outcome.info,
    }
    if outcome.traceback:
        record["traceback"] = outcome.traceback
    return record


def _show(progress: Progress, optimizer: Any, trial: Trial, outcome: Outcome) -> None:
    inc = optimizer.incumbent
    stats = optimizer.stats
    best = f"{inc.loss:.4g} on budget {inc.budget:g}" if inc.config is not None else "none yet"
    if outcome.status != "ok":
        progress.message(f"trial {trial.id} failed: {outcome.error}")
    if inc.trial_id == trial.id:
        progress.message(
            f"new incumbent {inc.loss:.4g} on budget {inc.budget:g} (trial {trial.id})"
        )
    progress.update(
        f"{optimizer.progress_label} | {stats.trials} trials "
        f"({stats.failed} failed) | incumbent {best}"
    )


def plot_trajectory(out_dir: str | Path, path: str | Path | None = None, title: str = "") -> Path:
    """Draw the incumbent's loss over cumulative budget to ``trajectory.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = load_trials(out_dir)
    rows = trajectory(records)
    path = Path(path or Path(out_dir) / "trajectory.png")
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    if rows:
        used = sum(float(r["budget"]) for r in records)
        xs = [r[0] for r in rows] + [used]
        ys = [r[1] for r in rows] + [rows[-1][1]]
        ax.step(xs, ys, where="post", color="tab:blue")
        previous = None
        for x, y, budget in rows:  # label the incumbent's budget where it changes
            if budget != previous:
                ax.annotate(f"{budget:g}", (x, y), fontsize=7, color="gray")
            previous = budget
        ax.set_xscale("log")
    else:
        ax.text(0.5, 0.5, "no successful trial", ha="center", transform=ax.transAxes)
    ax.set_xlabel("cumulative budget")
    ax.set_ylabel("incumbent loss (labels: its budget)")
    ax.set_title(title or "incumbent trajectory")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
