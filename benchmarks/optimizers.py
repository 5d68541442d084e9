"""Judging hyperparameter optimizers side by side on the synthetic problems.

The runs themselves go through ``autorl optimize`` (see ``autorl benchmark-optimizers``);
this module reads what every run logged, the same way for every optimizer:

- the incumbent after each evaluation: the lowest observed loss on the largest budget
  observed so far (so a random search and a multi-fidelity method are judged alike);
- its *noise-free* regret (``problem.regret``) as a curve over the budget spent (anytime
  regret), and at 10 %, 30 % and 100 % of the total budget;
- the optimizer's own time between evaluations (its overhead), in total and per new
  configuration around the 200th observation.

Every evaluation costs its budget, also when the same configuration was evaluated on a
smaller budget before (no warm starting, as in BOHB's experiments).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.synthetic import SyntheticProblem

#: Fractions of the total budget at which the anytime regret is tabulated.
ANYTIME = (0.1, 0.3, 0.5, 1.0)
#: Fractions of the total budget at which the regret curve is sampled (log-spaced).
CURVE = tuple(float(x) for x in np.geomspace(0.01, 1.0, 41))
#: Observations around which the per-proposal overhead is measured (a shorter run: its
#: second half).
OVERHEAD_WINDOW = (150, 250)


@dataclass
class Observation:
    """One evaluation as a run log recorded it.

    Attributes:
        used: Budget spent up to and including this evaluation.
        budget: Its budget.
        loss: Its loss (inf when it failed).
        config: The configuration.
        overhead: Seconds the optimizer took before it (since the previous evaluation ended).
        new_config: Whether the configuration was evaluated here for the first time.
    """

    used: float
    budget: float
    loss: float
    config: dict[str, Any]
    overhead: float
    new_config: bool


def observations(records: Sequence[Mapping[str, Any]]) -> list[Observation]:
    """Observations from run-log trial records (``trials.jsonl``), in the order they ran."""
    out: list[Observation] = []
    used, previous_end = 0.0, 0.0
    seen: set[str] = set()
    for record in sorted(records, key=lambda r: r.get("started", 0.0)):
        used += float(record["budget"])
        loss = record.get("loss")
        key = repr(sorted(record["config"].items()))
        started = float(record.get("started", previous_end))
        out.append(
            Observation(
                used,
                float(record["budget"]),
                math.inf if loss is None else float(loss),
                dict(record["config"]),
                max(0.0, started - previous_end),
                key not in seen,
            )
        )
        seen.add(key)
        previous_end = float(record.get("finished", started))
    return out


@dataclass
class RunRecord:
    """One optimizer on one problem with one seed."""

    problem: str
    optimizer: str
    seed: int
    regrets: dict[float, float]
    curve: list[float]
    evaluations: int
    budget_used: float
    overhead_ms: float
    proposal_ms_at_200: float
    seconds: float
    error: str | None = None


def regret_curve(
    problem: SyntheticProblem,
    obs: Sequence[Observation],
    total: float,
    fractions: Sequence[float],
) -> list[float]:
    """Noise-free regret of the incumbent when the budget spent first reaches each fraction.

    Fractions the run never reached (it stopped early) get the final incumbent's regret.
    """
    regrets: list[float] = []
    best: Observation | None = None
    marks = list(fractions)
    for o in obs:
        if math.isfinite(o.loss) and (
            best is None
            or o.budget > best.budget
            or (o.budget == best.budget and o.loss < best.loss)
        ):
            best = o
        while marks and o.used >= marks[0] * total - 1e-9:
            marks.pop(0)
            regrets.append(problem.regret(best.config) if best else math.nan)
    final = problem.regret(best.config) if best else math.nan
    return regrets + [final] * len(marks)


def _overheads(obs: Sequence[Observation]) -> tuple[float, float]:
    if not obs:
        return math.nan, math.nan
    mean = 1000 * statistics.fmean(o.overhead for o in obs)
    low, high = OVERHEAD_WINDOW
    if len(obs) < high:  # a short run: its second half
        low, high = len(obs) // 2, len(obs)
    window = [o.overhead for o in obs[low:high] if o.new_config]
    return mean, (1000 * statistics.fmean(window) if window else math.nan)


def record_run(
    problem: SyntheticProblem,
    optimizer: str,
    seed: int,
    records: Sequence[Mapping[str, Any]],
    total: float,
    seconds: float,
    error: str | None = None,
) -> RunRecord:
    """Judge one logged run."""
    obs = observations(records)
    overhead, at_200 = _overheads(obs)
    anytime = regret_curve(problem, obs, total, ANYTIME)
    return RunRecord(
        problem.name,
        optimizer,
        seed,
        dict(zip(ANYTIME, anytime, strict=True)),
        regret_curve(problem, obs, total, CURVE),
        len(obs),
        obs[-1].used if obs else 0.0,
        overhead,
        at_200,
        seconds,
        error,
    )


@dataclass
class Summary:
    """Mean results of one optimizer on one problem over the seeds."""

    problem: str
    optimizer: str
    runs: int
    regrets: dict[float, float]
    final_sem: float
    curve: list[float]
    curve_sem: list[float]
    evaluations: float
    overhead_ms: float
    proposal_ms_at_200: float
    seconds: float
    failures: list[str] = field(default_factory=list)


def summarize(records: Sequence[RunRecord]) -> list[Summary]:
    """Average the runs of each (problem, optimizer) pair, in first-seen order."""
    groups: dict[tuple[str, str], list[RunRecord]] = {}
    for record in records:
        groups.setdefault((record.problem, record.optimizer), []).append(record)
    rows = []
    for (problem, optimizer), runs in groups.items():
        finals = [r.regrets[1.0] for r in runs]
        points = list(zip(*(r.curve for r in runs), strict=True))
        rows.append(
            Summary(
                problem,
                optimizer,
                len(runs),
                {m: _nanmean([r.regrets[m] for r in runs]) for m in ANYTIME},
                _sem(finals),
                [_nanmean(list(p)) for p in points],
                [_sem(list(p)) for p in points],
                statistics.fmean(r.evaluations for r in runs),
                _nanmean([r.overhead_ms for r in runs]),
                _nanmean([r.proposal_ms_at_200 for r in runs]),
                statistics.fmean(r.seconds for r in runs),
                [f"seed {r.seed}: {r.error}" for r in runs if r.error],
            )
        )
    return rows


def _nanmean(values: Sequence[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return statistics.fmean(finite) if finite else math.nan


def _sem(values: Sequence[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return statistics.stdev(finite) / math.sqrt(len(finite)) if len(finite) > 1 else math.nan


def format_table(rows: Sequence[Summary]) -> str:
    """A Markdown table of the summaries."""
    head = (
        "| problem | optimizer | runs | final regret (mean ± s.e.) | regret @10% | @30% | @50% "
        "| evals | overhead ms/eval | ms/new config @200 obs | s/run |"
    )
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        lines.append(
            f"| {r.problem} | {r.optimizer} | {r.runs} | {r.regrets[1.0]:.4f} ± {r.final_sem:.4f} "
            f"| {r.regrets[0.1]:.4f} | {r.regrets[0.3]:.4f} | {r.regrets[0.5]:.4f} "
            f"| {r.evaluations:.0f} | {r.overhead_ms:.2f} | {r.proposal_ms_at_200:.2f} "
            f"| {r.seconds:.1f} |"
        )
    notes = [f"- {r.optimizer} on {r.problem}: {f}" for r in rows for f in r.failures]
    return "\n".join(lines + ([""] + notes if notes else []))


@dataclass(frozen=True)
class Goals:
    """What the subject optimizer must achieve.

    Attributes:
        subject: The optimizer under test.
        beat: Problem-name prefix -> optimizers whose mean final regret the subject must be
            strictly below.
        within_se: Problem-name prefix -> optimizers the subject must not be worse than by
            more than one standard error of the difference of the means.
        max_regret: Problem name -> an upper bound of the subject's mean final regret.
        max_overhead_ms: Limit of the subject's overhead per new configuration at 200 obs.
        warm_start: Problem-name prefix -> (warm, cold) optimizers: the warm-started one's
            mean regret at half the budget must reach the cold one's mean final regret.
    """

    subject: str
    beat: Mapping[str, Sequence[str]] = field(default_factory=dict)
    within_se: Mapping[str, Sequence[str]] = field(default_factory=dict)
    max_regret: Mapping[str, float] = field(default_factory=dict)
    max_overhead_ms: float = 50.0
    warm_start: Mapping[str, tuple[str, str]] = field(default_factory=dict)


def check_goals(rows: Sequence[Summary], goals: Goals) -> list[tuple[bool, str]]:
    """(met, statement) for every goal whose rows are present."""
    table = {(r.problem, r.optimizer): r for r in rows}
    out: list[tuple[bool, str]] = []
    for problem in dict.fromkeys(r.problem for r in rows):
        mine = table.get((problem, goals.subject))
        if mine is None:
            continue
        a, se_a = mine.regrets[1.0], mine.final_sem
        if problem in goals.max_regret:
            bound = goals.max_regret[problem]
            out.append((a <= bound, f"{problem}: {goals.subject} {a:.4f} <= {bound:g}"))
        for other, theirs in _rivals(table, problem, goals.beat):
            b = theirs.regrets[1.0]
            out.append((a < b, f"{problem}: {goals.subject} {a:.4f} < {other} {b:.4f}"))
        for other, theirs in _rivals(table, problem, goals.within_se):
            b = theirs.regrets[1.0]
            se = math.hypot(_zero(se_a), _zero(theirs.final_sem))
            out.append(
                (
                    a <= b + se,
                    f"{problem}: {goals.subject} {a:.4f} <= {other} {b:.4f} + 1 s.e. {se:.4f}",
                )
            )
        for prefix, (warm, cold) in goals.warm_start.items():
            w, c = table.get((problem, warm)), table.get((problem, cold))
            if problem.startswith(prefix) and w is not None and c is not None:
                a_half, c_final = w.regrets[0.5], c.regrets[1.0]
                out.append(
                    (
                        a_half <= c_final,
                        f"{problem}: {warm} at half the budget {a_half:.4f} <= {cold} at the "
                        f"full budget {c_final:.4f}",
                    )
                )
        overhead = mine.proposal_ms_at_200
        out.append(
            (
                overhead < goals.max_overhead_ms,  # not measured (nan): missed
                f"{problem}: {goals.subject} overhead per new config @200 obs {overhead:.2f} ms "
                f"< {goals.max_overhead_ms:g} ms",
            )
        )
    return out


def _rivals(
    table: Mapping[tuple[str, str], Summary],
    problem: str,
    spec: Mapping[str, Sequence[str]],
) -> list[tuple[str, Summary]]:
    """The optimizers ``spec`` names for ``problem`` (by name prefix) that have results."""
    named = [o for prefix, others in spec.items() if problem.startswith(prefix) for o in others]
    return [(o, table[(problem, o)]) for o in named if (problem, o) in table]


def _zero(value: float) -> float:
    return 0.0 if math.isnan(value) else value


def plot_curves(rows: Sequence[Summary], path: str | Path, total_label: str = "") -> Path:
    """Anytime regret (mean ± 1 s.e. over seeds) against the fraction of the total budget."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    problems = list(dict.fromkeys(r.problem for r in rows))
    fig, axes = plt.subplots(
        1, len(problems), figsize=(4.6 * len(problems), 3.8), dpi=120, squeeze=False
    )
    for ax, problem in zip(axes[0], problems, strict=True):
        for row in (r for r in rows if r.problem == problem):
            mean = np.array(row.curve)
            sem = np.nan_to_num(np.array(row.curve_sem))
            ax.plot(CURVE, mean, label=f"{row.optimizer} ({row.runs})")
            ax.fill_between(CURVE, np.maximum(mean - sem, 1e-6), mean + sem, alpha=0.2)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(problem)
        ax.set_xlabel(f"fraction of the total budget {total_label}".strip())
        ax.set_ylabel("noise-free regret of the incumbent")
        ax.grid(alpha=0.3, which="both")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
