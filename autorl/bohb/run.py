"""A logged, resumable optimization run: optimizer + executor + run log.

:func:`run` keeps every worker busy: it asks the optimizer for trials while workers are idle
(trials already in the log of an interrupted run are replayed, not run), hands them to the
executor, appends each outcome to ``trials.jsonl`` the moment it arrives and tells the
optimizer, until all iterations are done.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ConfigSpace import ConfigurationSpace

from autorl.bohb.encoding import config_key
from autorl.bohb.executor import Job, Objective, Outcome, ProcessExecutor, SerialExecutor
from autorl.bohb.hyperband import Trial
from autorl.bohb.optimizer import BOHBConfig, Optimizer, Proposal, trial_seed
from autorl.bohb.runlog import (
    FORMAT,
    ResumeState,
    RunLog,
    command_line,
    load_trials,
    open_run,
    trajectory,
)
from autorl.progress import Progress
from meta.provenance import package_versions

log = logging.getLogger(__name__)


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
    """

    incumbent: dict[str, Any] | None
    incumbent_loss: float
    incumbent_budget: float
    trials: int
    failed: int
    replayed: int
    budget_used: float
    out_dir: Path


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
) -> RunSummary:
    """Optimize ``objective`` over ``space`` and log everything to ``out_dir``.

    Args:
        objective: ``objective(config, budget, seed) -> loss`` (picklable when workers > 0).
        space: The search space.
        config: Budgets, model settings and seed.
        out_dir: The run directory (see :mod:`autorl.bohb.runlog`).
        iterations: Hyperband iterations (brackets).
        method: ``bohb``, ``hyperband`` or ``random``.
        workers: Parallel worker processes; 0 runs trials in this process (no timeouts).
        resume: Continue the run logged in ``out_dir``.
        timeout: Seconds a trial on a given budget may take (None: no limit).
        task: Name recorded in the header.
        task_options: Task settings recorded in the header (must match on resume).
        progress: Status line on stderr.

    Raises:
        ValueError: bad arguments, or a resume that does not match the logged run.
    """
    if workers < 0:
        raise ValueError(f"workers must be >= 0, got {workers}")
    optimizer = Optimizer(space, config, method=method, iterations=iterations)
    header = {
        "format": FORMAT,
        "task": task,
        "task_options": dict(task_options or {}),
        "method": method,
        "bohb": dataclasses.asdict(config),
        "budgets": list(config.budgets),
        "iterations": iterations,
        "workers": workers,
        "seed": config.seed,
        "space": space.to_serialized_dict(),
        "versions": package_versions(),
        "command": command_line(),
    }
    runlog, state = open_run(out_dir, header, resume)
    optimizer.preload(state.proposals)
    optimizer.on_propose = lambda p: runlog.append_proposal(_proposal_record(p))
    executor = ProcessExecutor(objective, workers) if workers else SerialExecutor(objective)
    driver = _Driver(optimizer, executor, runlog, state, timeout, progress or Progress(True))
    try:
        with runlog, executor:
            driver.loop()
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
    )


@dataclass
class _Driver:
    """Keeps the workers busy: ask, replay or submit, wait, log, tell."""

    optimizer: Optimizer
    executor: ProcessExecutor | SerialExecutor
    runlog: RunLog
    state: ResumeState
    timeout: Callable[[float], float | None] | None
    progress: Progress
    replayed: int = 0
    running: dict[str, Trial] = field(default_factory=dict)

    def loop(self) -> None:
        """Run until the optimizer has nothing left to ask for and no trial is running."""
        while True:
            self.fill()
            if not self.running:
                return
            for outcome in self.executor.wait():
                trial = self.running.pop(outcome.trial_id)
                seed = self.optimizer.config.seed
                self.runlog.append_trial(_trial_record(trial, outcome, seed))
                self.optimizer.tell(trial, outcome.loss)
                _show(self.progress, self.optimizer, trial, outcome)

    def fill(self) -> None:
        """Start trials while workers are idle; trials already logged are replayed instead."""
        while self.executor.idle:
            trial = self.optimizer.ask()
            if trial is None:
                return
            record = self.state.trials.pop(trial.id, None)
            if record is not None:
                _replay(self.optimizer, trial, record)
                self.replayed += 1
                continue
            self.running[trial.id] = trial
            limit = self.timeout(trial.budget) if self.timeout else None
            seed = trial_seed(self.optimizer.config.seed, trial)
            self.executor.submit(Job(trial.id, dict(trial.config), trial.budget, seed, limit))


def _replay(optimizer: Optimizer, trial: Trial, record: Mapping[str, Any]) -> None:
    if config_key(record["config"]) != config_key(trial.config):
        raise ValueError(
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


def _trial_record(trial: Trial, outcome: Outcome, run_seed: int) -> dict[str, Any]:
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
        "seed": trial_seed(run_seed, trial),
        "info": outcome.info,
    }
    if outcome.traceback:
        record["traceback"] = outcome.traceback
    return record


def _show(progress: Progress, optimizer: Optimizer, trial: Trial, outcome: Outcome) -> None:
    inc = optimizer.incumbent
    stats = optimizer.stats
    total = optimizer.iterations or "?"
    best = f"{inc.loss:.4g} on budget {inc.budget:g}" if inc.config is not None else "none yet"
    if outcome.status != "ok":
        progress.message(f"trial {trial.id} failed: {outcome.error}")
    if inc.trial_id == trial.id:
        progress.message(
            f"new incumbent {inc.loss:.4g} on budget {inc.budget:g} (trial {trial.id})"
        )
    progress.update(
        f"iteration {len(optimizer.brackets)}/{total} | {stats.trials} trials "
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
