"""Two benchmark runs side by side: which jobs only one solved, and whether that is chance.

``autorl benchmark compare A B`` pairs the jobs of two results directories by (target,
run) and counts, on the jobs both hold, the ones each solved (verified as in the report:
:func:`benchmarks.report.verify_row`). A single Eterna100 run of the same settings varies
by 3-4 puzzles from one seed to the next, so a difference of a few solves tells nothing
by itself. The jobs solved by one run only (``b`` and ``c``) decide: under the hypothesis
that both settings solve each job equally often, each such job is a fair coin, and the
exact McNemar test's two-sided p-value is the binomial probability of a split at least as
uneven as ``min(b, c)`` of ``b + c``. Jobs solved by both or neither say nothing about
the difference and do not enter it.

On the jobs both solved, speed is compared too: how many each solved sooner, the median
ratio of their times to solve (A's over B's), and the two-sided Wilcoxon signed-rank
test of the paired log times (a time below :data:`FLOOR_SECONDS` counts as it).

The two directories must hold one (dataset, method) group each, of the same dataset; the
methods and time limits may differ (comparing them is the point), and both are reported.
With several runs per target, each (target, run) pair is one paired job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.machine import read_calibrations
from benchmarks.report import latest_rows, verify_row
from benchmarks.results import read_results, row_marked_solved

#: The significance level the verdict line names.
ALPHA = 0.05
#: The early budget whose solves are counted too, when both time limits reach it.
EARLY_SECONDS = 10.0
#: Times to solve below this (s) count as it in the speed comparison (no log of 0).
FLOOR_SECONDS = 0.001


@dataclass(frozen=True)
class RunSide:
    """One results directory's part of a comparison.

    Attributes:
        path: The directory.
        method: Its method.
        time_limit: Its largest time limit (s).
        jobs: Its jobs (the last row of each).
        solved: Shared jobs it solved (verified).
        solved_early: Shared jobs it solved within :data:`EARLY_SECONDS` (None when a time
            limit is shorter).
        only: Shared jobs it alone solved, as ``"target"`` (``"target/run"`` with several
            runs), in the dataset's order.
        rejected: Its shared jobs marked solved that failed verification.
        folds_per_second: Its machine calibrations (``machine.jsonl``,
            :mod:`benchmarks.machine`), oldest first: time-bound figures compare only when
            these agree.
    """

    path: str
    method: str
    time_limit: float
    jobs: int
    solved: int
    solved_early: int | None
    only: list[str]
    rejected: int
    folds_per_second: list[float]


@dataclass(frozen=True)
class Speed:
    """Times to solve on the jobs both directories solved.

    Attributes:
        both: Jobs both solved.
        sooner_first: Of those, the jobs the first solved sooner.
        sooner_second: The jobs the second solved sooner.
        median_ratio: The median of the first's time over the second's (None without
            jobs both solved).
        p_value: The two-sided Wilcoxon signed-rank test's p-value on the paired log
            times (1.0 without a job solved sooner by one of them).
    """

    both: int
    sooner_first: int
    sooner_second: int
    median_ratio: float | None
    p_value: float


def compare_speed(pairs: list[tuple[float, float]]) -> Speed:
    """Compare paired times to solve (module docstring).

    Args:
        pairs: (first's time, second's time) of each job both solved, in seconds.

    Returns:
        The speed comparison.
    """
    import numpy as np
    from scipy.stats import wilcoxon

    logs = np.log(np.maximum(np.array(pairs, dtype=float).reshape(-1, 2), FLOOR_SECONDS))
    differences = logs[:, 0] - logs[:, 1]
    sooner_first, sooner_second = int(np.sum(differences < 0)), int(np.sum(differences > 0))
    p_value = 1.0
    if sooner_first + sooner_second:
        p_value = float(wilcoxon(differences[differences != 0]).pvalue)
    median = float(np.exp(np.median(differences))) if len(pairs) else None
    return Speed(len(pairs), sooner_first, sooner_second, median, p_value)


@dataclass(frozen=True)
class Comparison:
    """The outcome of :func:`compare_runs`.

    Attributes:
        dataset: The dataset both ran.
        shared: Jobs (target, run) both directories hold.
        first: The first directory's side.
        second: The second's.
        p_value: The exact McNemar test's two-sided p-value (1.0 without discordant jobs).
        significant: Whether ``p_value`` < :data:`ALPHA`.
        speed: The speed comparison on the jobs both solved.
    """

    dataset: str
    shared: int
    first: RunSide
    second: RunSide
    p_value: float
    significant: bool
    speed: Speed

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def _group(path: Path) -> list[dict[str, str]]:
    """The jobs (last rows) of a results directory's single (dataset, method) group.

    Raises:
        ValueError: no results.csv, no rows, or more than one group.
    """
    results = path / "results.csv"
    if not results.is_file():
        raise ValueError(f"{path}: no results.csv (a directory 'autorl benchmark --out' wrote)")
    rows = latest_rows(read_results(results))
    if not rows:
        raise ValueError(f"{results} has no results yet")
    groups = sorted({(row["dataset"], row["method"]) for row in rows})
    if len(groups) > 1:
        names = ", ".join(f"{dataset}/{method}" for dataset, method in groups)
        raise ValueError(
            f"{results} holds {len(groups)} (dataset, method) groups ({names}); "
            "compare directories of one group each"
        )
    return rows


def _side(
    path: Path,
    jobs: dict[tuple[str, str], dict[str, str]],
    shared: list[tuple[str, str]],
    verified: dict[tuple[str, str], bool],
    other: dict[tuple[str, str], bool],
    early: bool,
    label: Callable[[tuple[str, str]], str],
) -> RunSide:
    """One directory's figures on the shared jobs.

    ``verified`` holds its verified solves, ``other`` the other directory's.
    """
    return RunSide(
        path=str(path),
        method=jobs[shared[0]]["method"],
        time_limit=max(float(row["time_limit"]) for row in jobs.values()),
        jobs=len(jobs),
        solved=sum(verified[key] for key in shared),
        solved_early=(
            sum(
                verified[key] and float(jobs[key]["time_to_solve"]) <= EARLY_SECONDS
                for key in shared
            )
            if early
            else None
        ),
        only=[label(key) for key in shared if verified[key] and not other[key]],
        rejected=sum(row_marked_solved(jobs[key]) and not verified[key] for key in shared),
        folds_per_second=[float(entry["folds_per_second"]) for entry in read_calibrations(path)],
    )


def exact_mcnemar(only_first: int, only_second: int) -> float:
    """The exact McNemar test's two-sided p-value for the discordant counts.

    Args:
        only_first: Jobs the first run alone solved.
        only_second: Jobs the second run alone solved.

    Returns:
        The probability, with each discordant job a fair coin, of a split at least as
        uneven (1.0 when there is none).
    """
    from scipy.stats import binomtest

    total = only_first + only_second
    if total == 0:
        return 1.0
    return float(binomtest(min(only_first, only_second), total, 0.5).pvalue)


def compare_runs(first: str | Path, second: str | Path) -> Comparison:
    """Compare two results directories job by job (module docstring).

    Args:
        first: A results directory.
        second: Another, of the same dataset.

    Returns:
        The comparison.

    Raises:
        ValueError: a directory without results or with several groups, different
            datasets, or no job in common.
    """
    paths = (Path(first), Path(second))
    groups = [_group(path) for path in paths]
    datasets = [rows[0]["dataset"] for rows in groups]
    if datasets[0] != datasets[1]:
        raise ValueError(
            f"{paths[0]} ran {datasets[0]} and {paths[1]} ran {datasets[1]}: "
            "only runs of the same dataset compare"
        )
    jobs = [{(row["target_id"], row["run"]): row for row in rows} for rows in groups]
    shared = [key for key in jobs[0] if key in jobs[1]]
    if not shared:
        raise ValueError(f"{paths[0]} and {paths[1]} have no (target, run) job in common")
    shared.sort(key=lambda key: (len(key[0]), key[0], int(key[1])))
    verified = [
        {key: row_marked_solved(side[key]) and not verify_row(side[key]) for key in shared}
        for side in jobs
    ]
    several = any(run != "0" for _, run in shared)

    def label(key: tuple[str, str]) -> str:
        return f"{key[0]}/{key[1]}" if several else key[0]

    early = all(float(row["time_limit"]) >= EARLY_SECONDS for side in jobs for row in side.values())
    sides = [
        _side(paths[k], jobs[k], shared, verified[k], verified[1 - k], early, label) for k in (0, 1)
    ]
    p_value = exact_mcnemar(len(sides[0].only), len(sides[1].only))
    speed = compare_speed(
        [
            (float(jobs[0][key]["time_to_solve"]), float(jobs[1][key]["time_to_solve"]))
            for key in shared
            if verified[0][key] and verified[1][key]
        ]
    )
    return Comparison(datasets[0], len(shared), sides[0], sides[1], p_value, p_value < ALPHA, speed)


def format_comparison(comparison: Comparison) -> str:
    """The comparison as text: a line per directory, then the test and its verdict."""
    lines = [f"{comparison.dataset}: {comparison.shared} jobs (target, run) in both"]
    for name, side in (("A", comparison.first), ("B", comparison.second)):
        early = (
            f", {side.solved_early} within {EARLY_SECONDS:g} s"
            if side.solved_early is not None
            else ""
        )
        rejected = f", {side.rejected} marked solved but rejected" if side.rejected else ""
        only = ", ".join(side.only) if side.only else "none"
        rates = "/".join(f"{rate:g}" for rate in side.folds_per_second) or "not recorded"
        lines.append(
            f"{name} {side.path} ({side.method}, {side.time_limit:g} s): solved "
            f"{side.solved}/{comparison.shared}{early}{rejected}; only {name} solved: {only}; "
            f"machine folds/s: {rates}"
        )
    b, c = len(comparison.first.only), len(comparison.second.only)
    verdict = ("" if comparison.significant else "not ") + f"significant at the {ALPHA:g} level"
    lines.append(
        f"exact McNemar test on the {b + c} jobs one run alone solved ({b} against {c}): "
        f"p = {comparison.p_value:.3g}, {verdict}"
    )
    speed = comparison.speed
    if speed.both:
        lines.append(
            f"on the {speed.both} jobs both solved: A sooner in {speed.sooner_first}, B sooner "
            f"in {speed.sooner_second}; median time ratio A/B {speed.median_ratio:.3g}; "
            f"Wilcoxon signed-rank test on the log times p = {speed.p_value:.3g} (the "
            "machines' fold rates above must agree for this to be the methods')"
        )
    return "\n".join(lines)
