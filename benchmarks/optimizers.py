"""Side-by-side comparison of hyperparameter optimizers on the synthetic problems.

The harness knows nothing about any optimizer: it receives a registry of callables
``optimizer(problem, evaluate, seed)`` that call ``evaluate(config, budget)`` until
``evaluate.exhausted`` is true. :class:`Evaluator` counts the budget spent, measures the
optimizer's own time between evaluations (its overhead) and records every observation, and
the harness derives from those records, identically for every optimizer:

- the incumbent after each evaluation: the lowest observed loss on the largest budget
  observed so far (so a random search and a multi-fidelity method are judged alike);
- its *noise-free* regret (``problem.regret``) at 10 %, 30 % and 100 % of the total budget;
- the overhead per evaluation, and per new configuration around the 200th observation.

Every evaluation costs its budget, also when the same configuration was evaluated on a
smaller budget before (no warm starting, as in BOHB's experiments).
"""

from __future__ import annotations

import math
import statistics
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchmarks.synthetic import SyntheticProblem

#: Fractions of the total budget at which the anytime regret is reported.
ANYTIME = (0.1, 0.3, 1.0)
#: Observations around which the per-proposal overhead is measured.
OVERHEAD_WINDOW = (150, 250)


class BudgetExhausted(RuntimeError):
    """Raised by :class:`Evaluator` when called after the budget is used up."""


@dataclass
class Observation:
    """One evaluation as the harness saw it."""

    used: float
    budget: float
    loss: float
    config: dict[str, Any]
    overhead: float
    new_config: bool


class Evaluator:
    """The objective handed to an optimizer: evaluates, counts budget, times the optimizer.

    Args:
        problem: The problem.
        total_budget: Budget after which :attr:`exhausted` turns true.
        seed: Seed of the evaluation noise.
        max_seconds: Also exhausted after this much wall time (None: no limit).
    """

    def __init__(
        self,
        problem: SyntheticProblem,
        total_budget: float,
        seed: int,
        max_seconds: float | None = None,
    ):
        self.problem = problem
        self.total_budget = total_budget
        self.max_seconds = max_seconds
        self.used = 0.0
        self.observations: list[Observation] = []
        self._noise = np.random.default_rng(seed)
        self._seen: set[tuple[tuple[str, Any], ...]] = set()
        self.start = time.perf_counter()
        self._last_end = self.start
        self.timed_out = False

    @property
    def exhausted(self) -> bool:
        """Whether the budget (or the wall-time limit) is used up."""
        if self.max_seconds is not None and time.perf_counter() - self.start > self.max_seconds:
            self.timed_out = True
        return self.used >= self.total_budget or self.timed_out

    def __call__(self, config: Mapping[str, Any], budget: float) -> float:
        """Evaluate ``config`` on ``budget`` (noisy loss, lower is better)."""
        begin = time.perf_counter()
        if self.exhausted:
            raise BudgetExhausted("the benchmark budget is used up")
        config = {str(k): (v.item() if isinstance(v, np.generic) else v) for k, v in config.items()}
        key = tuple(sorted((k, repr(v)) for k, v in config.items()))
        new = key not in self._seen
        self._seen.add(key)
        loss = self.problem.evaluate(config, float(budget), int(self._noise.integers(2**31)))
        self.used += float(budget)
        overhead = begin - self._last_end
        self.observations.append(Observation(self.used, float(budget), loss, config, overhead, new))
        self._last_end = time.perf_counter()
        return loss


OptimizerFn = Callable[[SyntheticProblem, Evaluator, int], None]


@dataclass
class RunRecord:
    """One optimizer on one problem with one seed."""

    problem: str
    optimizer: str
    seed: int
    regrets: dict[float, float]
    evaluations: int
    budget_used: float
    overhead_ms: float
    proposal_ms_at_200: float
    seconds: float
    error: str | None = None
    timed_out: bool = False


def incumbent_regrets(
    problem: SyntheticProblem, observations: Sequence[Observation], total: float
) -> dict[float, float]:
    """Noise-free regret of the incumbent when the budget first reaches each of :data:`ANYTIME`."""
    regrets: dict[float, float] = {}
    best: Observation | None = None
    marks = list(ANYTIME)
    for obs in observations:
        if math.isfinite(obs.loss) and (
            best is None
            or obs.budget > best.budget
            or (obs.budget == best.budget and obs.loss < best.loss)
        ):
            best = obs
        while marks and obs.used >= marks[0] * total:
            regrets[marks.pop(0)] = problem.regret(best.config) if best else math.nan
    for mark in marks:  # budget not reached (time limit or optimizer stopped)
        regrets[mark] = problem.regret(best.config) if best else math.nan
    return regrets


def _overheads(observations: Sequence[Observation]) -> tuple[float, float]:
    if not observations:
        return math.nan, math.nan
    mean = 1000 * statistics.fmean(o.overhead for o in observations)
    low, high = OVERHEAD_WINDOW
    window = [o.overhead for o in observations[low:high] if o.new_config]
    return mean, (1000 * statistics.fmean(window) if window else math.nan)


def run_one(
    problem: SyntheticProblem,
    name: str,
    optimizer: OptimizerFn,
    seed: int,
    total: float,
    max_seconds: float | None = None,
) -> RunRecord:
    """Run one optimizer once; an exception inside it is recorded, not raised."""
    evaluator = Evaluator(problem, total, seed=10_000 + seed, max_seconds=max_seconds)
    error = None
    try:
        optimizer(problem, evaluator, seed)
    except BudgetExhausted:
        pass
    except Exception as exc:  # noqa: BLE001 - one broken optimizer must not end the benchmark
        error = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    seconds = time.perf_counter() - evaluator.start
    overhead, at_200 = _overheads(evaluator.observations)
    return RunRecord(
        problem.name,
        name,
        seed,
        incumbent_regrets(problem, evaluator.observations, total),
        len(evaluator.observations),
        evaluator.used,
        overhead,
        at_200,
        seconds,
        error,
        evaluator.timed_out,
    )


def compare(
    problems: Sequence[SyntheticProblem],
    optimizers: Mapping[str, OptimizerFn],
    *,
    seeds: Sequence[int],
    budget: float,
    max_seconds: float | None = None,
    report: Callable[[RunRecord], None] | None = None,
) -> list[RunRecord]:
    """Run every optimizer on every problem with every seed, interleaved.

    Args:
        problems: The problems.
        optimizers: Name -> optimizer callable.
        seeds: The seeds (each optimizer gets the same ones).
        budget: Total budget per run, in evaluations on the largest budget.
        max_seconds: Wall-time limit per run (None: none).
        report: Called after each run (e.g. to print progress).
    """
    if budget <= 0 or not seeds or not optimizers or not problems:
        raise ValueError("need a positive budget and at least one problem, optimizer and seed")
    records = []
    for problem in problems:
        for seed in seeds:
            for name, optimizer in optimizers.items():
                total = budget * problem.max_budget
                record = run_one(problem, name, optimizer, seed, total, max_seconds)
                records.append(record)
                if report:
                    report(record)
    return records


@dataclass
class Summary:
    """Mean results of one optimizer on one problem over the seeds."""

    problem: str
    optimizer: str
    runs: int
    regrets: dict[float, float]
    final_sem: float
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
        failures = [f"seed {r.seed}: {r.error}" for r in runs if r.error]
        failures += [f"seed {r.seed}: wall-time limit" for r in runs if r.timed_out]
        rows.append(
            Summary(
                problem,
                optimizer,
                len(runs),
                {m: _nanmean([r.regrets[m] for r in runs]) for m in ANYTIME},
                _sem(finals),
                statistics.fmean(r.evaluations for r in runs),
                _nanmean([r.overhead_ms for r in runs]),
                _nanmean([r.proposal_ms_at_200 for r in runs]),
                statistics.fmean(r.seconds for r in runs),
                failures,
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
        "| problem | optimizer | runs | final regret (mean ± s.e.) | regret @10% | @30% | @100% "
        "| evals | overhead ms/eval | ms/new config @200 obs | s/run |"
    )
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        lines.append(
            f"| {r.problem} | {r.optimizer} | {r.runs} | {r.regrets[1.0]:.4f} ± {r.final_sem:.4f} "
            f"| {r.regrets[0.1]:.4f} | {r.regrets[0.3]:.4f} | {r.regrets[1.0]:.4f} "
            f"| {r.evaluations:.0f} | {r.overhead_ms:.2f} | {r.proposal_ms_at_200:.2f} "
            f"| {r.seconds:.1f} |"
        )
    notes = [f"- {r.optimizer} on {r.problem}: {f}" for r in rows for f in r.failures]
    return "\n".join(lines + ([""] + notes if notes else []))


def check_goals(
    rows: Sequence[Summary],
    subject: str,
    beat: Sequence[str],
    match: Mapping[str, str],
    max_overhead_ms: float,
) -> list[tuple[bool, str]]:
    """Check the subject's goals: (met, statement) pairs.

    Args:
        rows: The summaries.
        subject: The optimizer under test.
        beat: Optimizers whose mean final regret the subject must be below on every problem.
        match: Optimizer -> problem-name prefix where the subject must be no worse.
        max_overhead_ms: Limit of the subject's overhead per new configuration at 200 obs.
    """
    table = {(r.problem, r.optimizer): r for r in rows}
    problems = list(dict.fromkeys(r.problem for r in rows))
    goals = []
    for problem in problems:
        mine = table.get((problem, subject))
        if mine is None:
            continue
        for other, prefix in [(o, "") for o in beat] + list(match.items()):
            theirs = table.get((problem, other))
            if theirs is None or not problem.startswith(prefix):
                continue
            a, b = mine.regrets[1.0], theirs.regrets[1.0]
            strict = other in beat
            met = a < b if strict else a <= b
            relation = "<" if strict else "<="
            goals.append((met, f"{problem}: {subject} {a:.4f} {relation} {other} {b:.4f}"))
        overhead = mine.proposal_ms_at_200
        goals.append(
            (
                overhead < max_overhead_ms,
                f"{problem}: {subject} overhead per new config @200 obs {overhead:.2f} ms "
                f"< {max_overhead_ms:g} ms",
            )
        )
    return goals
