"""A meta-trained policy vs PPO from scratch on unseen contexts (``autorl benchmark-adaptation``).

The protocol (issue 9's meta-training goal), for a CartPole task and a checkpoint of
``autorl meta-train --task cartpole-variants`` (or ``autorl train``):

* **Contexts.** ``count`` physics contexts drawn with ``context_seed`` from
  :data:`envs.cartpole_variants.TEST_RANGES` (:func:`meta.contexts.unseen_contexts`): every
  training range widened to ``(low / 2, 1.5 * high)``, so most test contexts lie outside the
  box meta-training drew from in at least one feature, and none was trained on.
* **Two modes per context and seed**, with the checkpoint's configuration (architecture
  and PPO settings) for both, on the task of that one context
  (:func:`meta.contexts.context_spec`):

  - ``meta``: first a zero-shot test -- the checkpoint's policy, unchanged, plays
    :data:`ZERO_SHOT_EPISODES` episodes with deterministic actions; if their mean return
    reaches the threshold (475), the context is solved in 0 training episodes. Otherwise
    PPO trains from the checkpoint's policy weights (not its optimizer state).
  - ``scratch``: PPO from a fresh initialization.

  Both train until the mean return of the last 20 training episodes reaches the
  threshold, or the ``timesteps`` budget ends (:func:`meta.episodes.train_episodes`).
* **Metric**: episodes to threshold, the BOHB paper's loss (:mod:`benchmarks.learning`): a
  run that does not reach it scores the cap (3000) and counts as a failure; a zero-shot
  success scores 0. Timesteps to threshold are kept as well (0 for a zero-shot success).
* **Summary**: per mode, the mean +- standard error, median and failures over all
  (context, seed) runs, and zero-shot successes; the *speed-up* is the scratch mean over
  the meta mean (the goal: at least :data:`GOAL_SPEEDUP`), also given as the ratio of
  medians and per context.

Seeds are fresh (``10000 + i``, :data:`benchmarks.agent_runs.FIRST_SEED`); both modes of a
context use the same seeds, so a context's comparison shares environment noise.

Files in the output directory: ``runs.jsonl`` (one record per run, the format of
:mod:`benchmarks.agent_runs` with ``mode``, ``context_index``, ``context`` and
``zero_shot_return`` added; resume skips finished runs), ``summary.json`` (settings,
contexts, per-context rows, per-mode statistics, the speed-up, package versions),
``table.md`` and ``adaptation.png`` (episodes to threshold per context, both modes).

Runs are spread over worker processes by an executor the caller passes in (this package
does not import :mod:`autorl`); the objective is :class:`AdaptationObjective`.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.agent_runs import CAP, OK, WINDOW, EvaluationPlan, latest_runs, score_run
from envs.cartpole_variants import TEST_RANGES, TRAINING_RANGES, CartPoleContext, ContextRanges
from meta.agents import AgentConfig, agent_spec
from meta.contexts import (
    OBSERVES_CONTEXT,
    context_spec,
    context_text,
    ranges_record,
    unseen_contexts,
)
from meta.files import write_json_atomic, write_text_atomic
from meta.provenance import package_versions

#: The two ways each context is learned, in report order.
MODES = ("meta", "scratch")
#: Episodes of the zero-shot test (the window of the threshold's moving mean).
ZERO_SHOT_EPISODES = WINDOW
#: The goal: the meta-trained policy needs this many times fewer episodes.
GOAL_SPEEDUP = 5.0
#: Output files.
SUMMARY, TABLE, PLOT = "summary.json", "table.md", "adaptation.png"
#: Every file the benchmark writes.
FILES = ("runs.jsonl", SUMMARY, TABLE, PLOT)


def label(mode: str, index: int) -> str:
    """The run label of ``mode`` on context ``index`` (e.g. ``meta/3``)."""
    return f"{mode}/{index}"


def parse_label(text: str) -> tuple[str, int]:
    """``(mode, context index)`` of a label made by :func:`label`."""
    mode, _, index = text.partition("/")
    if mode not in MODES or not index.isdigit():
        raise ValueError(f"not an adaptation run label: {text!r}")
    return mode, int(index)


@dataclass(frozen=True)
class AdaptationPlan:
    """What to compare: both modes on every context and seed, with one configuration.

    Attributes:
        task: A CartPole task (:data:`meta.contexts.OBSERVES_CONTEXT`).
        checkpoint: The meta-trained checkpoint's zip.
        config: Its configuration (used by both modes).
        contexts: The evaluation contexts.
        context_seed: The seed they were drawn with.
        seeds: Fresh seeds, one run per (mode, context, seed).
        timesteps: The training budget of a run.
        cap: The episode cap.
        normalization: The ranges the checkpoint's policy reads contexts over (the ranges
            it was trained on: its ``_meta.ranges``, else the training ranges).
    """

    task: str
    checkpoint: Path
    config: AgentConfig
    contexts: Sequence[CartPoleContext]
    context_seed: int
    seeds: Sequence[int]
    timesteps: int
    cap: int = CAP
    normalization: ContextRanges = TRAINING_RANGES

    def __post_init__(self) -> None:
        if self.task not in OBSERVES_CONTEXT:
            raise ValueError(
                f"task {self.task!r} has no physics context; choose one of "
                f"{', '.join(OBSERVES_CONTEXT)}"
            )
        if not self.contexts:
            raise ValueError("no contexts to evaluate on")
        object.__setattr__(self, "contexts", list(self.contexts))
        self.evaluation  # noqa: B018 - checks seeds, budget and cap now

    @functools.cached_property
    def evaluation(self) -> EvaluationPlan:
        """The runs as an :class:`~benchmarks.agent_runs.EvaluationPlan` (label: mode/context)."""
        configs = {
            label(mode, index): self.config for index in range(len(self.contexts)) for mode in MODES
        }
        return EvaluationPlan(self.task, configs, self.seeds, self.timesteps, self.cap)

    @property
    def threshold(self) -> float:
        """The task's threshold."""
        return self.evaluation.threshold

    def settings(self) -> dict[str, Any]:
        """The settings as JSON values (for ``summary.json``)."""
        return {
            "task": self.task,
            "checkpoint": str(self.checkpoint),
            "config": self.config.to_flat(),
            "contexts": [context.as_dict() for context in self.contexts],
            "context_seed": self.context_seed,
            "context_ranges": ranges_record(TEST_RANGES),
            "normalization_ranges": ranges_record(self.normalization),
            "seeds": list(self.seeds),
            "timesteps": self.timesteps,
            "threshold": self.threshold,
            "window": WINDOW,
            "cap": self.cap,
            "zero_shot_episodes": ZERO_SHOT_EPISODES,
            "zero_shot_actions": "deterministic",
        }


def make_plan(
    task: str,
    checkpoint: str | Path,
    count: int,
    context_seed: int,
    seeds: Sequence[int],
    timesteps: int,
) -> AdaptationPlan:
    """The plan for ``checkpoint`` (a zip or its JSON) on ``count`` unseen contexts.

    Raises:
        ValueError: The checkpoint is unreadable or of another task, or a bad setting.
    """
    from meta.ppo_training import checkpoint_zip, load_agent_checkpoint

    config, meta = load_agent_checkpoint(checkpoint)
    if meta.get("task") != task:
        raise ValueError(
            f"--init {checkpoint}: a checkpoint of task {meta.get('task')!r}, not {task!r}"
        )
    contexts = unseen_contexts(count, context_seed)
    recorded = meta.get("ranges")
    normalization = TRAINING_RANGES if recorded is None else ContextRanges.from_mapping(recorded)
    return AdaptationPlan(
        task,
        checkpoint_zip(checkpoint),
        config,
        contexts,
        context_seed,
        seeds,
        timesteps,
        normalization=normalization,
    )


def job_config(plan: AdaptationPlan, trial_id: str, flat: Mapping[str, Any]) -> dict[str, Any]:
    """What :class:`AdaptationObjective` receives for the run ``trial_id`` (``label@seed``)."""
    mode, index = parse_label(trial_id.rpartition("@")[0])
    return {
        "mode": mode,
        "context_index": index,
        "context": plan.contexts[index].as_dict(),
        "agent": dict(flat),
    }


def zero_shot_return(
    task: str,
    context: CartPoleContext,
    config: AgentConfig,
    checkpoint: str | Path,
    seed: int,
    device: str = "cpu",
    normalization: ContextRanges = TRAINING_RANGES,
) -> float:
    """Mean return of ``checkpoint``'s policy, unchanged, over :data:`ZERO_SHOT_EPISODES`.

    Deterministic actions in ``context``, the environment seeded with ``seed``
    (:class:`meta.contexts.PolicyEvaluation`).
    """
    from meta.agents import build_model
    from meta.contexts import PolicyEvaluation
    from meta.weights import load_policy_weights

    spec = context_spec(agent_spec(task), context, normalization)
    env = spec.make_env(config.ppo.n_envs, seed, None)
    try:
        model = build_model(spec, config, env, seed, device)
        load_policy_weights(model, checkpoint, with_optimizer=False)
    finally:
        env.close()
    assert spec.threshold is not None
    evaluation = PolicyEvaluation(
        task, ZERO_SHOT_EPISODES, seed, spec.threshold, normalization=normalization
    )
    return evaluation.mean_return(context, model)


class AdaptationObjective:
    """One run of the protocol: a mode on a context with a seed (picklable).

    Called as ``objective(job_config, timesteps, seed)`` (an executor's ``(config, budget,
    seed)``, with :func:`job_config`'s dictionary), it returns ``{"loss": episodes to
    threshold, "info": {...}}``.

    Args:
        task: The CartPole task.
        checkpoint: The meta-trained checkpoint's zip.
        cap: The episode cap.
        device: Torch device of the policy.
        threads: Torch CPU threads (None: torch's default).
        normalization: The ranges the checkpoint's policy reads contexts over.
    """

    def __init__(
        self,
        task: str,
        checkpoint: str | Path,
        cap: int = CAP,
        device: str = "cpu",
        threads: int | None = 1,
        normalization: ContextRanges = TRAINING_RANGES,
    ) -> None:
        self.task = task
        self.checkpoint = str(checkpoint)
        self.cap = cap
        self.device = device
        self.threads = threads
        self.normalization = normalization

    def __call__(self, job: dict[str, Any], budget: float, seed: int) -> dict[str, Any]:
        """Run and score one (mode, context, seed)."""
        from meta.episodes import train_episodes

        if self.threads is not None:
            import torch

            torch.set_num_threads(self.threads)
        base = agent_spec(self.task)
        assert base.threshold is not None
        context = CartPoleContext(**job["context"])
        spec = context_spec(base, context, self.normalization)
        config = AgentConfig.from_flat(job["agent"])
        extra: dict[str, Any] = {
            "mode": job["mode"],
            "context_index": int(job["context_index"]),
            "context": dict(job["context"]),
            "zero_shot_return": None,
        }
        init = None
        if job["mode"] == "meta":
            init = self.checkpoint
            zero_shot = zero_shot_return(
                self.task, context, config, init, int(seed), self.device, self.normalization
            )
            extra["zero_shot_return"] = zero_shot
            if zero_shot >= base.threshold:
                info = score_run([], [], base.threshold, self.cap)
                info.update(extra, episodes_to_threshold=0, timesteps_to_threshold=0)
                info.update(timesteps=0, seconds=0.0)
                return {"loss": 0.0, "info": info}
        log = train_episodes(
            spec,
            config,
            int(seed),
            int(budget),
            stop_at_threshold=True,
            device=self.device,
            init=init,
        )
        info = score_run(log.returns, log.lengths, base.threshold, self.cap)
        info.update(extra, timesteps=int(log.timesteps), seconds=float(log.seconds))
        return {"loss": float(info["episodes_to_threshold"]), "info": info}


# --------------------------------------------------------------------------- the summary


def _mode_stats(values: Sequence[int], cap: int) -> dict[str, Any]:
    n = len(values)
    return {
        "n": n,
        "mean": statistics.fmean(values) if values else None,
        "sem": statistics.stdev(values) / math.sqrt(n) if n >= 2 else None,
        "median": statistics.median(values) if values else None,
        "failures": sum(value >= cap for value in values),
    }


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None:
        return None
    if denominator == 0:
        return math.inf if numerator > 0 else None
    return numerator / denominator


def summarize(plan: AdaptationPlan, records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per-context rows, per-mode statistics and the speed-up (latest ok record per run)."""
    latest = latest_runs(records)
    contexts = []
    episodes: dict[str, list[int]] = {mode: [] for mode in MODES}
    zero_shot_solved = 0
    for index, context in enumerate(plan.contexts):
        row: dict[str, Any] = {"context": context.as_dict(), "text": context_text(context)}
        for mode in MODES:
            runs = [latest.get((label(mode, index), seed)) for seed in plan.seeds]
            ok = [run for run in runs if run is not None and run["status"] == OK]
            values = [int(run["episodes_to_threshold"]) for run in ok]
            episodes[mode] += values
            row[mode] = {
                "episodes_to_threshold": values,
                "mean": statistics.fmean(values) if values else None,
                "missing": len(runs) - len(ok),
            }
            if mode == "meta":
                returns = [run.get("zero_shot_return") for run in ok]
                row["zero_shot_return"] = [r for r in returns if r is not None]
                zero_shot_solved += sum(int(run["episodes_to_threshold"]) == 0 for run in ok)
        contexts.append(row)
    modes = {mode: _mode_stats(values, plan.cap) for mode, values in episodes.items()}
    speedup = _ratio(modes["scratch"]["mean"], modes["meta"]["mean"])
    # Contexts that neither mode solves score the cap on both sides and pull the ratio of
    # means towards 1; the ratio over the runs where at least one mode solved is reported
    # beside it (not instead of it).
    pairs = []
    for index in range(len(plan.contexts)):
        for seed in plan.seeds:
            runs = [latest.get((label(mode, index), seed)) for mode in MODES]
            if all(run is not None and run["status"] == OK for run in runs):
                pair = tuple(int(run["episodes_to_threshold"]) for run in runs)  # type: ignore[index]
                if min(pair) < plan.cap:
                    pairs.append(pair)
    solvable = {
        mode: _mode_stats([pair[i] for pair in pairs], plan.cap) for i, mode in enumerate(MODES)
    }
    complete = all(modes[mode]["n"] == len(plan.contexts) * len(plan.seeds) for mode in MODES)
    return {
        "contexts": contexts,
        "modes": modes,
        "zero_shot_solved": zero_shot_solved,
        "speedup_mean": speedup,
        "speedup_median": _ratio(modes["scratch"]["median"], modes["meta"]["median"]),
        "solved_by_either": solvable,
        "speedup_mean_solved_by_either": _ratio(
            solvable["scratch"]["mean"], solvable["meta"]["mean"]
        ),
        "goal_speedup": GOAL_SPEEDUP,
        "goal_met": None if not complete or speedup is None else bool(speedup >= GOAL_SPEEDUP),
        "complete": complete,
    }


def _cell(value: float | None, digits: str = ".1f") -> str:
    if value is None:
        return "-"
    return "inf" if math.isinf(value) else format(value, digits)


def markdown_table(plan: AdaptationPlan, summary: Mapping[str, Any]) -> str:
    """Per-context rows, then the per-mode statistics and the speed-up."""
    lines = [
        f"Task `{plan.task}`, {len(plan.contexts)} contexts from the test ranges (seed "
        f"{plan.context_seed}), seeds {', '.join(map(str, plan.seeds))}, at most "
        f"{plan.timesteps} timesteps per run; episodes until the mean return of the last "
        f"{WINDOW} training episodes reaches {plan.threshold:g} (cap {plan.cap} = failure; "
        "0 = solved zero-shot).",
        "",
        "| context | zero-shot return | meta: episodes | scratch: episodes |",
        "|---|---:|---:|---:|",
    ]
    for index, row in enumerate(summary["contexts"]):
        zero = ", ".join(f"{value:.1f}" for value in row["zero_shot_return"]) or "-"
        cells = [", ".join(map(str, row[mode]["episodes_to_threshold"])) or "-" for mode in MODES]
        lines.append(f"| {index}: {row['text']} | {zero} | {cells[0]} | {cells[1]} |")
    lines += ["", "| mode | runs | mean ± s.e. | median | failures |", "|---|---:|---:|---:|---:|"]
    for mode, stats in summary["modes"].items():
        sem = "" if stats["sem"] is None else f" ± {stats['sem']:.1f}"
        lines.append(
            f"| {mode} | {stats['n']} | {_cell(stats['mean'])}{sem} | "
            f"{_cell(stats['median'], 'g')} | {stats['failures']}/{stats['n']} |"
        )
    goal = {True: "met", False: "missed", None: "not judged (runs missing)"}[summary["goal_met"]]
    lines += [
        "",
        f"Zero-shot solved: {summary['zero_shot_solved']} runs. Speed-up (scratch mean / "
        f"meta mean): {_cell(summary['speedup_mean'], '.2f')}x; medians: "
        f"{_cell(summary['speedup_median'], '.2f')}x. Goal >= {GOAL_SPEEDUP:g}x: {goal}.",
        f"Over the {summary['solved_by_either']['meta']['n']} runs that at least one mode "
        "solved (a context neither solves scores the cap on both sides): speed-up "
        f"{_cell(summary['speedup_mean_solved_by_either'], '.2f')}x.",
    ]
    return "\n".join(lines) + "\n"


def plot(plan: AdaptationPlan, summary: Mapping[str, Any], path: str | Path) -> None:
    """Episodes to threshold per context, meta against scratch (mean over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    count = len(summary["contexts"])
    figure, axes = plt.subplots(figsize=(max(6.0, 0.7 * count + 2), 3.6))
    width = 0.4
    for offset, mode in ((-width / 2, "meta"), (width / 2, "scratch")):
        means = [row[mode]["mean"] for row in summary["contexts"]]
        axes.bar(
            [i + offset for i in range(count)],
            [0 if m is None else m for m in means],
            width,
            label=mode,
        )
    axes.axhline(plan.cap, color="grey", linestyle=":", linewidth=1, label=f"cap {plan.cap}")
    axes.set_xticks(range(count))
    axes.set_xlabel("unseen context")
    axes.set_ylabel(f"episodes to {plan.threshold:g}")
    axes.set_title(
        f"{plan.task}: meta-trained (speed-up {_cell(summary['speedup_mean'], '.1f')}x) vs scratch"
    )
    axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_reports(
    plan: AdaptationPlan, out: str | Path, records: Sequence[Mapping[str, Any]]
) -> tuple[dict[str, Any], str]:
    """Write ``summary.json``, ``table.md`` and ``adaptation.png``; return summary and table."""
    out = Path(out)
    result = summarize(plan, records)
    summary = {"settings": plan.settings(), **result, "versions": package_versions()}
    write_json_atomic(summary, out / SUMMARY)
    table = markdown_table(plan, result)
    write_text_atomic(table, out / TABLE)
    plot(plan, result, out / PLOT)
    return summary, table


__all__ = [
    "FILES",
    "GOAL_SPEEDUP",
    "MODES",
    "ZERO_SHOT_EPISODES",
    "AdaptationObjective",
    "AdaptationPlan",
    "job_config",
    "label",
    "make_plan",
    "markdown_table",
    "parse_label",
    "summarize",
    "write_reports",
    "zero_shot_return",
]
