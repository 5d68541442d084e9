"""Benchmark reports: solved counts, solved-vs-time curves and the published figures.

A report is computed from ``results.csv`` alone, so it works on any results directory
(the machine's calibrations, :mod:`benchmarks.machine`, are added when there are some).
Rows are grouped by (dataset, method); when a job appears more than once (an error that
was run again), its last row counts. A row counts as solved only if the report step itself
refolds its sequence with ViennaRNA (under the row's energy model) into the row's target
structure, the sequence satisfies the row's constraints, and its time to solve is within
the time limit; a row marked solved that fails this check is reported as rejected.

Every reported design (solved or not) is also checked against its row's constraints
(IUPAC codes, GC range, forbidden motifs); the report prints how many break one, a figure
that must be 0.

Figures per group, as LEARNA's tables give them: targets solved by any run, the mean (and
standard deviation) over runs of the targets solved in that run, targets solved (by any
run) within 10 s, 60 s, 10 min, 1 h and 24 h where within the time limit, and the median
over solved targets of the earliest time any run solved it. Targets no run solved are
checked for a proof that no sequence folds into them (:mod:`envs.designability`, with the
rows' MFE structures as extra competitors): the group's ``undesignable`` targets and its
``ceiling``, the most any designer can solve. ``solved_by_stage`` counts the solved rows
by the stage of the design loop that made their design (the ``found_by`` column: the
policy, local improvement, the refinement walk, the ensemble stage or a targeted start;
rows that do not record it are left out).
"""

from __future__ import annotations

import math
import os
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.machine import describe, read_calibrations
from benchmarks.results import (
    read_results,
    row_constraints,
    row_energy,
    row_evaluation,
    row_marked_solved,
    row_target,
)
from envs.constraints import violations
from envs.designability import check_designability
from envs.dot_bracket import parse_structure
from meta.files import write_json_atomic

#: Time points (seconds) of the solved-within columns, and their labels.
THRESHOLDS = ((10.0, "10s"), (60.0, "60s"), (600.0, "10min"), (3600.0, "1h"), (86400.0, "24h"))


@dataclass(frozen=True)
class PublishedResult:
    """A published figure, shown for reference beside ours (never computed here).

    Attributes:
        dataset: Our dataset name.
        method: The method as the source names it.
        solved: Targets solved.
        total: Targets in the set.
        time_limit: Seconds per target, or None when the source's setting is not recorded here.
        source: Where the figure comes from.
    """

    dataset: str
    method: str
    solved: int
    total: int
    time_limit: float | None
    source: str


_ICLR = "Runge et al., LEARNA, ICLR 2019"
_ETERNA = "Koodli et al. 2021, eterna100-benchmarking (ViennaRNA 2)"


def _published() -> tuple[PublishedResult, ...]:
    methods = ("LEARNA", "Meta-LEARNA", "Meta-LEARNA-Adapt")
    rows = [
        *(
            PublishedResult("eterna100-v1", m, s, 100, 86400.0, _ICLR)
            for m, s in zip(methods, (67, 68, 68), strict=True)
        ),
        *(
            PublishedResult("rfam-taneda", m, s, 29, 600.0, _ICLR)
            for m, s in zip(methods, (23, 24, 24), strict=True)
        ),
        *(
            PublishedResult("rfam-learn-test", m, s, 100, 3600.0, _ICLR)
            for m, s in zip(methods, (97, 100, 99), strict=True)
        ),
    ]
    for method, v1, v2 in (
        ("NEMO", 77, 86),
        ("LEARNA", 66, 69),
        ("SentRNA", 63, 68),
        ("RNAinverse", 20, 20),
    ):
        rows.append(PublishedResult("eterna100-v1", method, v1, 100, None, _ETERNA))
        rows.append(PublishedResult("eterna100-v2", method, v2, 100, None, _ETERNA))
    return tuple(rows)


#: Published figures, by our dataset names.
PUBLISHED: tuple[PublishedResult, ...] = _published()


# ----------------------------------------------------------------------------- figures


def verify_row(row: dict[str, str]) -> str:
    """Check a row marked solved; return "" if it holds, else why it is rejected.

    The sequence must be RNA, as long as the target, found within the time limit, satisfy
    the row's constraints, and its ViennaRNA MFE structure (under the row's energy model)
    must be the target: RNA design's evaluation protocol verifies it with a fresh fold
    (:meth:`envs.rna_instances.RnaDesignEvaluation.verify`).
    """
    sequence, structure = row["sequence"].strip().upper(), row["target"].strip()
    if not sequence or set(sequence) - set("ACGU"):
        return "the sequence is not an ACGU sequence"
    if len(sequence) != len(structure):
        return f"the sequence has {len(sequence)} nt, the target {len(structure)}"
    try:
        seconds, limit = float(row["time_to_solve"]), float(row["time_limit"])
    except ValueError:
        return "no valid time to solve"
    if not seconds <= limit:
        return f"solved after {seconds:g} s, beyond the {limit:g} s limit"
    broken = constraint_violations(row)
    if broken:
        return f"the sequence breaks its constraints: {'; '.join(broken)}"
    try:
        target = row_target(row)
    except ValueError as error:
        return f"the row's target is malformed: {error}"
    if not row_evaluation(row).verify(target, sequence):
        return "the sequence does not fold into the target (ViennaRNA MFE)"
    return ""


def constraint_violations(row: dict[str, str]) -> list[str]:
    """What a row's reported design violates of the row's constraints (empty: nothing)."""
    sequence = row["sequence"].strip().upper()
    if not sequence:
        return []
    return violations(sequence, row_constraints(row))


def _competitors(rows: Sequence[dict[str, str]], length: int) -> list[str]:
    """The rows' MFE structures that are well formed and as long as the target."""
    found = []
    for row in rows:
        text = row.get("mfe_structure", "").strip()
        try:
            if len(text) == length and parse_structure(text) not in found:
                found.append(text)
        except ValueError:
            continue
    return found


def undesignable_targets(rows: Sequence[dict[str, str]], solved: Iterable[str]) -> dict[str, str]:
    """The targets no run solved that are proved undesignable, with the proof's reason.

    Args:
        rows: One group's rows.
        solved: The ids of the targets some run solved (not checked).

    Returns:
        ``{target_id: reason}`` in the rows' order.
    """
    by_target: dict[str, list[dict[str, str]]] = defaultdict(list)
    skip = set(solved)
    for row in rows:
        if row["target_id"] not in skip:
            by_target[row["target_id"]].append(row)
    found = {}
    for target_id, target_rows in by_target.items():
        try:
            target = row_target(target_rows[0])
            parse_structure(target.structure)
            energy = row_energy(target_rows[0])
        except ValueError:
            continue  # a malformed row proves nothing
        proof = check_designability(
            target.structure,
            energy,
            target.constraint,
            competitors=_competitors(target_rows, len(target.structure)),
            first_only=True,
        )
        if proof.undesignable:
            found[target_id] = proof.obstacles[0].message
    return found


def latest_rows(rows: Iterable[dict[str, str]]) -> list[dict[str, str]]:
    """The last row of every job (dataset, target, method, run), in first-seen order."""
    latest: dict[tuple[str, str, str, str], dict[str, str]] = {}
    for row in rows:
        latest[(row["dataset"], row["target_id"], row["method"], row["run"])] = row
    return list(latest.values())


def summarize_group(rows: Sequence[dict[str, str]]) -> dict[str, Any]:
    """The figures of one (dataset, method) group; rows marked solved are verified.

    Args:
        rows: The group's rows (one per job).

    Returns:
        A JSON-ready dict (see the module docstring for the figures).
    """
    limit = max(float(row["time_limit"]) for row in rows)
    targets = sorted({row["target_id"] for row in rows}, key=lambda x: (len(x), x))
    runs = sorted({int(row["run"]) for row in rows})
    first_solve: dict[str, float] = {}
    solved_per_run = dict.fromkeys(runs, 0)
    by_stage: Counter[str] = Counter()
    rejected = []
    for row in rows:
        if not row_marked_solved(row):
            continue
        problem = verify_row(row)
        if problem:
            rejected.append(
                {"target_id": row["target_id"], "run": int(row["run"]), "reason": problem}
            )
            continue
        seconds = float(row["time_to_solve"])
        solved_per_run[int(row["run"])] += 1
        if row.get("found_by"):
            by_stage[row["found_by"]] += 1
        first_solve[row["target_id"]] = min(seconds, first_solve.get(row["target_id"], math.inf))
    counts = [solved_per_run[run] for run in runs]
    times = sorted(first_solve.values())
    constrained = [row for row in rows if not row_constraints(row).empty]
    broken = [row for row in constrained if constraint_violations(row)]
    undesignable = undesignable_targets(rows, first_solve)
    return {
        "dataset": rows[0]["dataset"],
        "method": rows[0]["method"],
        "time_limit": limit,
        "targets": len(targets),
        "runs": len(runs),
        "jobs": len(rows),
        "complete": len(rows) == len(targets) * len(runs),
        "solved_any": len(first_solve),
        "mean_solved": statistics.fmean(counts),
        "std_solved": statistics.pstdev(counts),
        "solved_per_run": counts,
        "solved_within": {
            label: sum(t <= s for t in times) for s, label in THRESHOLDS if s <= limit
        },
        "median_time_to_solve": statistics.median(times) if times else None,
        "first_solve_times": {
            tid: first_solve[tid] for tid in sorted(first_solve, key=lambda x: (len(x), x))
        },
        "timeouts": sum(row["status"] == "timeout" for row in rows),
        "errors": sum(row["status"] == "error" for row in rows),
        "rejected": rejected,
        "undesignable": undesignable,
        "ceiling": len(targets) - len(undesignable),
        "constrained_jobs": len(constrained),
        "constraint_violations": len(broken),
        "solved_by_stage": dict(by_stage.most_common()),
        "versions": _versions(rows),
    }


def _versions(rows: Sequence[dict[str, str]]) -> dict[str, list[str]]:
    columns = ("autorl", "viennarna", "torch", "stable_baselines3", "python")
    return {column: sorted({row[column] for row in rows}) for column in columns}


def summarize(rows: Iterable[dict[str, str]]) -> dict[str, Any]:
    """Summarize every (dataset, method) group of a results file.

    Args:
        rows: The rows of results.csv.

    Returns:
        ``{"groups": [...], "published": [...]}``; the published figures are those of the
        datasets present, each marked ``"published": true``.
    """
    groups: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    for row in latest_rows(rows):
        groups[(row["dataset"], row["method"])].append(row)
    summaries = [summarize_group(groups[key]) for key in sorted(groups)]
    datasets = {summary["dataset"] for summary in summaries}
    published = [
        {**asdict(figure), "published": True} for figure in PUBLISHED if figure.dataset in datasets
    ]
    return {"groups": summaries, "published": published}


# ----------------------------------------------------------------------------- output


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 3600 and value % 3600 == 0:
        return f"{value / 3600:g}h"
    if value >= 600 and value % 60 == 0:
        return f"{value / 60:g}min"
    return f"{value:.3g}s" if value < 100 else f"{value:.0f}s"


def _table(header: Sequence[str], lines: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *lines, strict=True)]
    render = [
        "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()
        for cells in (header, *lines)
    ]
    return "\n".join(render)


def format_report(summary: dict[str, Any]) -> str:
    """The report as text: our table, rejected designs, then the published figures."""
    labels = [label for _, label in THRESHOLDS]
    header = [
        "dataset",
        "method",
        "limit",
        "targets",
        "runs",
        "solved",
        "mean(sd)",
        *(f"<={x}" for x in labels),
        "median",
    ]
    lines = []
    for group in summary["groups"]:
        within = group["solved_within"]
        lines.append(
            [
                group["dataset"],
                group["method"],
                _seconds(group["time_limit"]),
                str(group["targets"]),
                str(group["runs"]),
                f"{group['solved_any']}/{group['targets']}",
                f"{group['mean_solved']:.1f}({group['std_solved']:.1f})",
                *(str(within.get(label, "-")) for label in labels),
                _seconds(group["median_time_to_solve"]),
            ]
        )
    parts = [
        "Measured (this results directory; solved = refolded into the target by ViennaRNA, "
        "within the limit; 'solved' = by any run):",
        _table(header, lines),
    ]
    notes = []
    for group in summary["groups"]:
        name = f"{group['dataset']}/{group['method']}"
        if not group["complete"]:
            notes.append(
                f"{name}: incomplete ({group['jobs']} of {group['targets'] * group['runs']} jobs)"
            )
        if group["errors"]:
            notes.append(f"{name}: {group['errors']} jobs ended in an error (counted unsolved)")
        if group.get("constrained_jobs"):
            notes.append(
                f"{name}: {group['constrained_jobs']} jobs under constraints; reported designs "
                f"that break a constraint: {group['constraint_violations']}"
            )
        if group.get("undesignable"):
            ids = ", ".join(group["undesignable"])
            notes.append(
                f"{name}: {len(group['undesignable'])} unsolved targets are proved undesignable "
                f"({ids}): at most {group['ceiling']}/{group['targets']} can be solved "
                "(autorl data designable says why)"
            )
        if group.get("solved_by_stage"):
            stages = ", ".join(f"{k} {v}" for k, v in group["solved_by_stage"].items())
            notes.append(f"{name}: solved designs by the stage that made them: {stages}")
        for item in group["rejected"]:
            notes.append(
                f"{name}: target {item['target_id']} run {item['run']} is marked solved "
                f"but not counted: {item['reason']}"
            )
    if notes:
        parts += ["", "Notes:", *(f"  {note}" for note in notes)]
    if summary.get("machine"):
        parts += ["", "Machine (the budgets are wall-clock time):"]
        parts += [f"  {describe(entry)}" for entry in summary["machine"]]
    if summary["published"]:
        published = [
            [
                f["dataset"],
                f["method"],
                _seconds(f["time_limit"]) if f["time_limit"] else "n/a",
                f"{f['solved']}/{f['total']}",
                f["source"],
            ]
            for f in summary["published"]
        ]
        parts += [
            "",
            "Published figures (NOT ours; for reference only):",
            _table(["dataset", "method", "limit", "solved", "source"], published),
        ]
    return "\n".join(parts)


def _plot_dataset(axis: Any, groups: list[dict], published: list[dict]) -> None:
    """Draw one dataset's curves (times below 1 ms are drawn at 1 ms)."""
    from matplotlib.ticker import MaxNLocator

    floor = 1e-3
    for group in groups:
        times = sorted(group["first_solve_times"].values())
        xs = [floor, *(max(t, floor) for t in times), max(group["time_limit"], floor)]
        ys = [0, *range(1, len(times) + 1), len(times)]
        label = f"{group['method']} ({group['solved_any']}/{group['targets']})"
        axis.step(xs, ys, where="post", label=label)
    for item in published:
        source = item["source"].split(",")[0]
        axis.plot(
            item["time_limit"],
            item["solved"],
            "o",
            fillstyle="none",
            label=f"published: {item['method']} ({source})",
        )
    axis.axhline(max(group["targets"] for group in groups), color="grey", lw=0.5, ls="--")
    right = max([group["time_limit"] for group in groups] + [f["time_limit"] for f in published])
    axis.set_xscale("log")
    axis.set_xlim(floor, right * 1.5)
    axis.set_xlabel("time per target (s, log scale)")
    axis.set_ylabel("targets solved")
    axis.yaxis.set_major_locator(MaxNLocator(integer=True))
    axis.legend(loc="best", fontsize="small")


def plot_solved_vs_time(summary: dict[str, Any], path: str | Path) -> None:
    """Plot cumulative targets solved against time (log axis), one panel per dataset.

    Every method's curve counts a target when any run first solved it. When a dataset was run
    in full, its published figures appear as hollow markers at their time limit, labelled
    "published".
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    datasets = sorted({group["dataset"] for group in summary["groups"]})
    targets = {
        d: max(g["targets"] for g in summary["groups"] if g["dataset"] == d) for d in datasets
    }
    panels = max(1, len(datasets))
    figure, axes = plt.subplots(1, panels, figsize=(6.4 * panels, 4.8), squeeze=False)
    for axis, dataset in zip(axes[0], datasets, strict=False):
        _plot_dataset(
            axis,
            [group for group in summary["groups"] if group["dataset"] == dataset],
            [
                f
                for f in summary["published"]
                if f["dataset"] == dataset and f["time_limit"] and f["total"] == targets[dataset]
            ],
        )
        axis.set_title(dataset)
    figure.tight_layout()
    path = Path(path)
    temporary = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        figure.savefig(temporary, dpi=120)
        os.replace(temporary, path)
    finally:
        plt.close(figure)
        temporary.unlink(missing_ok=True)


def report(out_dir: str | Path) -> str:
    """Compute the report of a results directory and write its files.

    Writes ``summary.json`` (atomically; with the machine calibrations of
    ``machine.jsonl`` under ``"machine"``, :mod:`benchmarks.machine`) and
    ``solved_vs_time.png`` into ``out_dir``.

    Args:
        out_dir: A directory with ``results.csv``.

    Returns:
        The report text.

    Raises:
        ValueError: no results.csv, or it has no rows.
    """
    out = Path(out_dir)
    results = out / "results.csv"
    if not results.is_file():
        raise ValueError(f"{out}: no results.csv (run 'autorl benchmark ... --out {out}' first)")
    rows = read_results(results)
    if not rows:
        raise ValueError(f"{results} has no results yet")
    summary = summarize(rows)
    summary["machine"] = read_calibrations(out)
    write_json_atomic(summary, out / "summary.json")
    plot_solved_vs_time(summary, out / "solved_vs_time.png")
    return format_report(summary)
