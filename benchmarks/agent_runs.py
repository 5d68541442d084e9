"""Evaluating agent configurations: train each on fresh seeds and measure how fast it learns.

The protocol behind ``autorl evaluate`` (:mod:`autorl.commands.evaluate`), for a vector task
with a threshold (CartPole: 475):

* **Configurations.** An :class:`EvaluationPlan` maps labels to complete agent
  configurations (:class:`meta.agents.AgentConfig`): configuration files such as a BOHB
  incumbent, and the references :data:`REFERENCES` -- ``sb3-default`` (SB3's ``PPO``
  defaults) and ``zoo`` (the RL Baselines3 Zoo's tuned CartPole-v1 PPO, CartPole only; the
  Zoo reports 500 +- 0 after 100k steps).
* **Fresh seeds.** Every label is trained once per seed. The default seeds are
  ``10_000 + i`` for ``i = 0 .. n-1`` (:data:`FIRST_SEED`; ``--first-seed S`` gives
  ``S + i``). They are not the seeds a configuration was selected on: ``autorl optimize``
  seeds each trial with a 32-bit hash of (run seed, bracket, configuration, rung)
  (:func:`autorl.bohb.optimizer.trial_seed`), spread over ``[0, 2**32)``, so a seed in a
  small block such as ``10000..10009`` is hit by a trial with probability about
  ``10 / 2**32``; ``autorl train`` defaults to seed 0. The rule: *evaluate on a block of
  consecutive seeds starting at 10 000 that no optimization or training run picked.*
  (With ``n_envs > 1`` environment ``k`` of a run is seeded ``seed + k``, so neighbouring
  runs share environment seed streams, as in SB3; the agents' seeds all differ.)
* **Full budget.** Each run trains the whole ``timesteps`` budget with
  :func:`meta.episodes.train_episodes` (``stop_at_threshold=False``), recording the return
  and length of every training episode, so all learning curves are comparable and the
  final return is known.
* **Metrics** (:mod:`benchmarks.learning`), per run: *episodes to threshold*, the BOHB
  paper's loss -- the first episode count after which the mean return of the last 20
  episodes reaches the threshold, or the cap (3000) on failure (also when the budget ends
  before 3000 episodes without success); *timesteps to threshold*, the environment steps
  up to the end of that episode, ``None`` on failure; and the *final return*, the mean
  return of the last 20 training episodes.
* **Summary**, per label (:func:`summarize_runs`): episodes to threshold as median, mean
  +- standard error and failures (failures count at the cap, as in BOHB); timesteps to
  threshold as the median over successful runs and failures; the mean final return; and
  runs that raised an error (*errors*), which are left out of every statistic.

Files in the output directory:

* ``runs.jsonl`` -- one JSON object per finished run, appended as each run ends
  (:func:`run_plan`): ``label``, ``seed``, ``status`` (``ok`` or ``failed``), ``task``,
  ``budget`` (timesteps asked), ``cap``, ``config`` (flat), ``returns``, ``lengths``,
  ``timesteps`` (steps trained), ``seconds``, ``episodes``, ``episodes_to_threshold``,
  ``timesteps_to_threshold``, ``final_return``, ``versions``; a failed run has ``error`` and
  ``traceback`` instead of the results. Resuming skips the (label, seed) pairs recorded
  ``ok``; failed runs are run again (the latest record of a pair counts). A directory whose
  runs were trained on another task or budget, or with another configuration under the
  same label, is refused (:func:`check_resume`).
* ``summary.json`` -- the settings, seeds, per-label statistics and package versions.
* ``table.md`` -- the summary as a markdown table (:func:`markdown_table`): per label the
  runs, errors, episodes to threshold (median, mean +- s.e., failures), timesteps to
  threshold (median of the successes, failures) and the mean final return.
* ``learning_curves.png`` -- the moving-mean return of every run and each label's median
  (:func:`benchmarks.learning.plot_learning_curves`).

The summary covers the plan's labels and seeds only; other records in ``runs.jsonl`` (e.g.
more seeds from an earlier invocation) are kept but not summarized.

Runs are spread over worker processes by an executor that the caller passes in (``autorl
evaluate`` uses :class:`autorl.bohb.executor.ProcessExecutor`; this package does not import
:mod:`autorl`). The objective it runs is :class:`RunObjective`, a picklable class.
"""

from __future__ import annotations

import json
import math
import os
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from meta.agents import ZOO_CARTPOLE, AgentConfig, agent_spec
from meta.files import cut_partial_line, write_json_atomic, write_text_atomic
from meta.provenance import package_versions

#: The first of the default evaluation seeds (``FIRST_SEED + i``).
FIRST_SEED = 10_000
#: Episodes after which a run that has not reached the threshold is a failure (the BOHB
#: paper's cap; :data:`benchmarks.learning.CAP`).
CAP = 3000
#: Episodes in the moving mean and in the final return (:data:`benchmarks.learning.WINDOW`).
WINDOW = 20
#: The largest seed + 1 (SB3 and numpy take 32-bit seeds).
SEED_LIMIT = 2**32

RUNS = "runs.jsonl"
SUMMARY = "summary.json"
TABLE = "table.md"
CURVES = "learning_curves.png"
#: Every file an evaluation writes in its output directory.
FILES = (RUNS, SUMMARY, TABLE, CURVES)

OK = "ok"
FAILED = "failed"


def reference_config(name: str, task: str) -> AgentConfig:
    """The configuration of the reference ``name`` for ``task``.

    Args:
        name: ``sb3-default`` or ``zoo``.
        task: The task's name (``zoo`` is tuned for CartPole-v1: ``cartpole`` only).

    Raises:
        ValueError: An unknown reference, or ``zoo`` for another task.
    """
    if name not in REFERENCES:
        raise ValueError(f"unknown reference {name!r}; known references: {', '.join(REFERENCES)}")
    if name == "zoo" and task != "cartpole":
        raise ValueError(
            f"reference 'zoo' is the RL Baselines3 Zoo's PPO tuned for CartPole-v1 and "
            f"applies to --task cartpole only, not {task!r}"
        )
    return REFERENCES[name]


#: The built-in reference configurations, by label.
REFERENCES: dict[str, AgentConfig] = {"sb3-default": AgentConfig(), "zoo": ZOO_CARTPOLE}


def default_seeds(count: int, first: int = FIRST_SEED) -> list[int]:
    """The evaluation seeds ``first, first + 1, ..., first + count - 1``.

    Raises:
        ValueError: ``count`` < 1, ``first`` < 0, or a seed >= ``2**32``.
    """
    if count < 1:
        raise ValueError(f"--seeds must be >= 1, got {count}")
    if first < 0 or first + count > SEED_LIMIT:
        raise ValueError(f"seeds must be in [0, 2**32), got {first}..{first + count - 1}")
    return list(range(first, first + count))


@dataclass(frozen=True)
class EvaluationPlan:
    """What to evaluate: every configuration on every seed, for the same budget.

    Attributes:
        task: A vector task with a threshold (:data:`meta.agents.AGENTS`).
        configs: Label -> complete configuration, in report order.
        seeds: The seeds, distinct, in ``[0, 2**32)``.
        timesteps: Environment steps per run (>= 1), trained in full.
        cap: The episode cap of episodes to threshold (>= :data:`WINDOW`).

    Raises:
        ValueError: An unknown task or one without a threshold, no configurations, an
            empty label, no or repeated or out-of-range seeds, or a bad budget or cap.
    """

    task: str
    configs: Mapping[str, AgentConfig]
    seeds: Sequence[int]
    timesteps: int
    cap: int = CAP

    def __post_init__(self) -> None:
        spec = agent_spec(self.task)
        if spec.threshold is None:
            raise ValueError(f"task {self.task!r} has no threshold to evaluate against")
        if not self.configs:
            raise ValueError("nothing to evaluate: give a configuration or a reference")
        if any(not label for label in self.configs):
            raise ValueError("a label must not be empty")
        seeds = [int(seed) for seed in self.seeds]
        if not seeds:
            raise ValueError("no seeds")
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"repeated seeds in {seeds}")
        if min(seeds) < 0 or max(seeds) >= SEED_LIMIT:
            raise ValueError("seeds must be in [0, 2**32)")
        if self.timesteps < 1:
            raise ValueError(f"--timesteps must be >= 1, got {self.timesteps}")
        if self.cap < WINDOW:
            raise ValueError(f"cap must be >= {WINDOW}, got {self.cap}")
        object.__setattr__(self, "configs", dict(self.configs))
        object.__setattr__(self, "seeds", seeds)

    @property
    def threshold(self) -> float:
        """The task's threshold of the moving mean return."""
        threshold = agent_spec(self.task).threshold
        assert threshold is not None  # checked in __post_init__
        return threshold

    @property
    def runs(self) -> list[tuple[str, int]]:
        """Every (label, seed) pair, label by label."""
        return [(label, seed) for label in self.configs for seed in self.seeds]

    def flat_config(self, label: str) -> dict[str, Any]:
        """The configuration of ``label`` as flat JSON values (as ``runs.jsonl`` holds it)."""
        return json.loads(json.dumps(self.configs[label].to_flat()))

    def settings(self) -> dict[str, Any]:
        """The settings as JSON values (for ``summary.json``)."""
        return {
            "task": self.task,
            "threshold": self.threshold,
            "window": WINDOW,
            "cap": self.cap,
            "timesteps": self.timesteps,
            "seeds": list(self.seeds),
            "seed_rule": f"fresh seeds: {FIRST_SEED} + i by default, never chosen by "
            "autorl optimize (32-bit hashed trial seeds) or autorl train (seed 0)",
            "stop_at_threshold": False,
        }


# --------------------------------------------------------------------------- one run


class RunObjective:
    """Train one configuration on one seed for the whole budget and score the run.

    Picklable (a module-level class with plain attributes), so that worker processes of
    an executor can run it. Called as ``objective(flat_config, timesteps, seed)`` (the
    executor's ``(config, budget, seed)``), it returns ``{"loss": episodes to threshold,
    "info": {...}}`` with the run's episodes and metrics (:func:`score_run`).

    Args:
        task: The task's name.
        cap: The episode cap.
        device: Torch device of the policy.
        threads: Torch CPU threads of the run (``None``: torch's default). Small policies
            train fastest on one thread, and parallel runs should not share cores.
    """

    def __init__(
        self, task: str, cap: int = CAP, device: str = "cpu", threads: int | None = 1
    ) -> None:
        self.task = task
        self.cap = cap
        self.device = device
        self.threads = threads

    def __call__(self, config: dict[str, Any], budget: float, seed: int) -> dict[str, Any]:
        """Train and score one run."""
        from meta.episodes import train_episodes

        if self.threads is not None:
            import torch

            torch.set_num_threads(self.threads)

        spec = agent_spec(self.task)
        assert spec.threshold is not None
        log = train_episodes(
            spec,
            AgentConfig.from_flat(config),
            int(seed),
            int(budget),
            max_episodes=None,
            stop_at_threshold=False,
            device=self.device,
        )
        info = score_run(log.returns, log.lengths, spec.threshold, self.cap)
        info.update(timesteps=int(log.timesteps), seconds=float(log.seconds))
        return {"loss": float(info["episodes_to_threshold"]), "info": info}


def score_run(
    returns: Sequence[float], lengths: Sequence[int], threshold: float, cap: int = CAP
) -> dict[str, Any]:
    """The metrics of one run's training episodes.

    Args:
        returns: The return of every training episode, in order.
        lengths: Its length.
        threshold: The moving mean return that counts as solved.
        cap: The episode cap.

    Returns:
        ``returns``, ``lengths``, ``episodes``, ``episodes_to_threshold`` (``cap`` on
        failure), ``timesteps_to_threshold`` (``None`` on failure) and ``final_return``
        (mean of the last :data:`WINDOW` returns; ``None`` without episodes).
    """
    from benchmarks.learning import episodes_to_threshold, timesteps_to_threshold

    returns = [float(value) for value in returns]
    lengths = [int(value) for value in lengths]
    recent = returns[-WINDOW:]
    return {
        "returns": returns,
        "lengths": lengths,
        "episodes": len(returns),
        "episodes_to_threshold": episodes_to_threshold(returns, threshold, WINDOW, cap),
        "timesteps_to_threshold": timesteps_to_threshold(returns, lengths, threshold, WINDOW, cap),
        "final_return": sum(recent) / len(recent) if recent else None,
    }


# --------------------------------------------------------------------------- the records


def load_runs(out: str | Path) -> list[dict[str, Any]]:
    """The records of ``OUT/runs.jsonl`` in file order (none when the file is absent).

    A last line without a line end (a record being written when the process died) is
    ignored.

    Raises:
        ValueError: A line that is not a JSON object with ``label``, ``seed`` and
            ``status`` (the message names the file and the line).
    """
    path = Path(out) / RUNS
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")[:-1]  # the part after the last line end is unfinished
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}, line {number}: not JSON ({error})") from None
        if not isinstance(record, dict) or not {"label", "seed", "status"} <= record.keys():
            raise ValueError(f"{path}, line {number}: not a run record")
        records.append(record)
    return records


def latest_runs(records: Sequence[Mapping[str, Any]]) -> dict[tuple[str, int], dict[str, Any]]:
    """The last record of every (label, seed) pair."""
    return {(record["label"], int(record["seed"])): dict(record) for record in records}


def check_resume(plan: EvaluationPlan, records: Sequence[Mapping[str, Any]]) -> None:
    """Refuse to continue an evaluation whose recorded runs differ from ``plan``.

    Raises:
        ValueError: A record of another task, budget or cap, or one of a label of the plan
            with another configuration (the message names the first differing key).
    """
    for record in records:
        for key, value in (("task", plan.task), ("budget", plan.timesteps), ("cap", plan.cap)):
            if record.get(key) != value:
                raise ValueError(
                    f"the output directory holds runs with {key} {record.get(key)!r}, not "
                    f"{value!r}; use another --out"
                )
        label = record["label"]
        if label not in plan.configs:
            continue
        config = plan.flat_config(label)
        recorded = record.get("config") or {}
        if recorded != config:
            keys = sorted(set(config) | set(recorded))
            key = next(k for k in keys if config.get(k) != recorded.get(k))
            raise ValueError(
                f"label {label!r} was evaluated with another configuration ({key} "
                f"{recorded.get(key)!r}, now {config.get(key)!r}); give it another --label "
                "or use another --out"
            )


def prepare(plan: EvaluationPlan, out: str | Path, resume: bool) -> list[dict[str, Any]]:
    """Check that ``out`` can take the evaluation; return its earlier records. Writes nothing.

    Args:
        plan: The evaluation.
        out: The output directory.
        resume: Continue the evaluation in ``out``; otherwise ``out`` must not exist or be
            empty.

    Raises:
        ValueError: ``out`` is a file, is not empty without ``resume``, or holds runs that
            differ from ``plan`` (:func:`check_resume`).
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file")
    if not resume:
        if out.is_dir() and any(out.iterdir()):
            raise ValueError(f"{out} is not empty; pass --resume to continue its evaluation")
        return []
    records = load_runs(out)
    check_resume(plan, records)
    return records


def pending_runs(
    plan: EvaluationPlan, records: Sequence[Mapping[str, Any]]
) -> list[tuple[str, int]]:
    """The (label, seed) pairs of ``plan`` without an ``ok`` record (failed runs run again)."""
    latest = latest_runs(records)
    return [pair for pair in plan.runs if latest.get(pair, {}).get("status") != OK]


class Executor(Protocol):
    """What :func:`run_plan` needs of an executor (e.g. autorl.bohb.executor.ProcessExecutor)."""

    @property
    def idle(self) -> int:
        """Free workers."""

    def submit(self, job: Any) -> int:
        """Start a job on a free worker."""

    def wait(self) -> list[Any]:
        """Block until a job finishes; its outcomes (``trial_id``, ``status``, ``error``...)."""


#: ``make_job(trial_id, flat_config, timesteps, seed)``: the executor's job.
MakeJob = Callable[[str, dict[str, Any], float, int], Any]


@dataclass
class RunProgress:
    """Where an evaluation stands (handed to ``on_run`` after every finished run).

    Attributes:
        total: Runs of this invocation.
        done: Runs finished so far.
        failed: Of those, runs that raised.
        last: The record of the run that just finished.
    """

    total: int
    done: int = 0
    failed: int = 0
    last: dict[str, Any] = field(default_factory=dict)


def run_plan(
    plan: EvaluationPlan,
    out: str | Path,
    executor: Executor,
    make_job: MakeJob,
    records: Sequence[Mapping[str, Any]] = (),
    on_run: Callable[[RunProgress], None] | None = None,
) -> list[dict[str, Any]]:
    """Run the pending runs of ``plan`` on ``executor``; append each record to ``runs.jsonl``.

    The executor must run :class:`RunObjective` (or a stand-in with its contract). A run
    that raises, or whose worker dies, is recorded as ``failed`` with its error; the others
    go on. Every record is written (one line, flushed and fsynced) as soon as its run ends,
    so an interruption (``KeyboardInterrupt`` propagates) loses only the runs in progress.

    Args:
        plan: The evaluation.
        out: The output directory (created if missing).
        executor: Runs the jobs; the caller owns (and shuts down) it.
        make_job: Builds the executor's job (e.g. :class:`autorl.bohb.executor.Job`).
        records: The records already in ``out`` (:func:`prepare`): their ``ok`` pairs are
            skipped.
        on_run: Called after every finished run.

    Returns:
        The records of the runs of this call, in the order they finished.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / RUNS
    cut_partial_line(path)
    queue = pending_runs(plan, records)
    queue.reverse()  # pop() from the end: label by label, seed by seed
    progress = RunProgress(total=len(queue))
    running: dict[str, tuple[str, int]] = {}
    new: list[dict[str, Any]] = []
    versions = package_versions()
    with open(path, "a", encoding="utf-8") as file:
        while queue or running:
            while queue and executor.idle > 0:
                label, seed = queue.pop()
                trial_id = f"{label}@{seed}"
                executor.submit(make_job(trial_id, plan.flat_config(label), plan.timesteps, seed))
                running[trial_id] = (label, seed)
            for outcome in executor.wait():
                label, seed = running.pop(outcome.trial_id)
                record = _record(plan, label, seed, outcome, versions)
                file.write(json.dumps(record, allow_nan=False) + "\n")
                file.flush()
                os.fsync(file.fileno())
                new.append(record)
                progress.done += 1
                progress.failed += record["status"] != OK
                progress.last = record
                if on_run is not None:
                    on_run(progress)
    return new


def _record(
    plan: EvaluationPlan, label: str, seed: int, outcome: Any, versions: dict[str, str]
) -> dict[str, Any]:
    """The ``runs.jsonl`` record of one executor outcome."""
    record: dict[str, Any] = {
        "label": label,
        "seed": seed,
        "status": OK if outcome.status == OK else FAILED,
        "task": plan.task,
        "budget": plan.timesteps,
        "cap": plan.cap,
        "config": plan.flat_config(label),
    }
    info = dict(outcome.info or {})
    if record["status"] == OK and "returns" in info:
        record.update(info)
    else:
        record["status"] = FAILED
        record["error"] = outcome.error or "the objective returned no episodes"
        record["traceback"] = getattr(outcome, "traceback", None)
        record["seconds"] = float(outcome.seconds)
    record["versions"] = versions
    return record


def summarize_runs(
    plan: EvaluationPlan, records: Sequence[Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The statistics of every label of ``plan`` over its seeds (latest record per run).

    Returns:
        Label -> ``runs`` (recorded), ``ok``, ``errors`` (runs that raised), ``missing``
        (not recorded), ``episodes_to_threshold`` and ``timesteps_to_threshold``
        (:class:`benchmarks.learning.ThresholdSummary` as a dict, ``None`` without an ok
        run), ``final_return_mean`` and ``final_return_sem`` (over the ok runs with
        episodes), ``failed_seeds`` (seeds whose run raised).
    """
    from benchmarks.learning import summarize

    latest = latest_runs(records)
    result: dict[str, dict[str, Any]] = {}
    for label in plan.configs:
        runs = [latest[(label, seed)] for seed in plan.seeds if (label, seed) in latest]
        ok = [run for run in runs if run["status"] == OK]
        episodes = [int(run["episodes_to_threshold"]) for run in ok]
        steps = [run["timesteps_to_threshold"] for run in ok]
        finals = [float(run["final_return"]) for run in ok if run.get("final_return") is not None]
        result[label] = {
            "runs": len(runs),
            "ok": len(ok),
            "errors": len(runs) - len(ok),
            "missing": len(plan.seeds) - len(runs),
            "episodes_to_threshold": asdict(summarize(episodes, plan.cap)) if ok else None,
            "timesteps_to_threshold": asdict(summarize(steps, None)) if ok else None,
            "final_return_mean": statistics.fmean(finals) if finals else None,
            "final_return_sem": (
                statistics.stdev(finals) / math.sqrt(len(finals)) if len(finals) >= 2 else None
            ),
            "failed_seeds": [run["seed"] for run in runs if run["status"] != OK],
        }
    return result


def _number(value: float | None, digits: str = ".1f") -> str:
    return "-" if value is None else format(value, digits)


def markdown_table(plan: EvaluationPlan, summary: Mapping[str, Mapping[str, Any]]) -> str:
    """The per-label summary as a markdown table (with a header line and a legend)."""
    threshold = f"{plan.threshold:g}"
    lines = [
        f"Task `{plan.task}`, {plan.timesteps} timesteps per run, seeds "
        f"{_seed_text(plan.seeds)}; threshold: mean return of the last {WINDOW} episodes "
        f">= {threshold}.",
        "",
        f"| label | runs | errors | episodes to {threshold}: median | mean ± s.e. | "
        f"failures (cap {plan.cap}) | timesteps to {threshold}: median | failures | "
        f"final return (last {WINDOW}) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, row in summary.items():
        episodes, steps = row["episodes_to_threshold"], row["timesteps_to_threshold"]
        runs = f"{row['runs']}" + (f" (+{row['missing']} missing)" if row["missing"] else "")
        if episodes is None:
            cells = ["-"] * 5
        else:
            sem = "" if episodes["sem"] is None else f" ± {episodes['sem']:.1f}"
            cells = [
                _number(episodes["median"], "g"),
                f"{episodes['mean']:.1f}{sem}",
                f"{episodes['failures']}/{episodes['n']}",
                _number(steps["median"], ".0f"),
                f"{steps['failures']}/{steps['n']}",
            ]
        final = _number(row["final_return_mean"])
        if row["final_return_sem"] is not None:
            final += f" ± {row['final_return_sem']:.1f}"
        name = label.replace("|", "\\|")
        lines.append(f"| {name} | {runs} | {row['errors']} | " + " | ".join([*cells, final]) + " |")
    lines += [
        "",
        f"Episodes to threshold: the BOHB paper's loss; a run that does not reach it within "
        f"{plan.cap} episodes (or its budget) scores {plan.cap} and counts as a failure. "
        "Timesteps to threshold: median over the successful runs. Errors: runs that raised "
        "(left out of the statistics).",
    ]
    return "\n".join(lines) + "\n"


def _seed_text(seeds: Sequence[int]) -> str:
    seeds = list(seeds)
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}..{seeds[-1]}"
    return ", ".join(str(seed) for seed in seeds)


def write_reports(
    plan: EvaluationPlan, out: str | Path, records: Sequence[Mapping[str, Any]]
) -> tuple[dict[str, Any], str]:
    """Write ``summary.json``, ``table.md`` and ``learning_curves.png`` of ``plan``.

    Args:
        plan: The evaluation.
        out: The output directory.
        records: All records of ``out`` (:func:`load_runs`).

    Returns:
        The summary (as written) and the markdown table.
    """
    from benchmarks.learning import LearningCurve, plot_learning_curves

    out = Path(out)
    labels = summarize_runs(plan, records)
    summary = {
        "settings": plan.settings(),
        "labels": {
            label: {"config": plan.flat_config(label), **row} for label, row in labels.items()
        },
        "versions": package_versions(),
    }
    write_json_atomic(summary, out / SUMMARY)
    table = markdown_table(plan, labels)
    write_text_atomic(table, out / TABLE)
    latest = latest_runs(records)
    curves = {
        label: [
            LearningCurve(latest[(label, seed)]["returns"], latest[(label, seed)]["lengths"])
            for seed in plan.seeds
            if latest.get((label, seed), {}).get("status") == OK
        ]
        for label in plan.configs
    }
    plot_learning_curves(
        curves,
        out / CURVES,
        threshold=plan.threshold,
        window=WINDOW,
        title=f"autorl evaluate --task {plan.task}: {plan.timesteps} timesteps per run",
    )
    return summary, table
