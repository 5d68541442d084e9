"""The PPO controller vs random search at the same number of child evaluations, several seeds.

Lindauer & Hutter (2019, "Best practices for scientific research on NAS") ask for exactly
this: the same search space, the same evaluation budget and training pipeline, random
search as the baseline, several seeds, and the final test accuracy of every run's best
architecture. :func:`run_comparison` runs :func:`meta.nas_search.run_search` once per
(method, seed), one run at a time (each uses ``settings.workers`` child workers), in
``out/<method>-seed<S>/``; a finished run is read back (``resume``), an interrupted one
continues. Every run has its own cache (``settings.cache`` is ignored), so no run pays
less for a child because another trained it, and the runs' wall-clock times compare.

Reports in ``out``: ``summary.json`` (per method: best validation accuracy after the
budget, mean ± standard error over seeds; the test accuracy of each run's best
architecture after the final retraining, mean ± s.e.; search minutes; the difference of
the means, PPO minus random, with its standard error ``sqrt(se_a^2 + se_b^2)``; the
mean validation accuracy of each run's last :data:`LATE` evaluations, where a learning
controller samples better children than at its start; every run's row), ``table.md``
and ``comparison.png`` (best validation accuracy so far vs evaluations, mean ± s.e. per
method).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from meta.files import read_json_lines, write_json_atomic, write_text_atomic
from meta.nas_controller import ControllerConfig
from meta.nas_search import SearchSettings, final_done, plot_best_so_far, run_search
from meta.provenance import package_versions

FILES = ("summary.json", "table.md", "comparison.png")
#: The last evaluations whose mean validation accuracy shows where a method samples at
#: the end of its budget (a learning controller's mean rises; random search's does not).
LATE = 100


def run_folder(out: Path, method: str, seed: int) -> Path:
    """The folder of one run."""
    return out / f"{method}-seed{seed}"


def run_comparison(
    settings: SearchSettings,
    methods: Sequence[str],
    seeds: Sequence[int],
    out: str | Path,
    *,
    config: ControllerConfig | None = None,
    resume: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run every (method, seed) search not finished yet, then write the reports.

    Args:
        settings: The search settings (``method``, ``seed`` and ``cache`` are set per run).
        methods: The methods to compare (e.g. ``("ppo", "random")``).
        seeds: The seeds each method runs with.
        out: The comparison's folder.
        config: The PPO controller's configuration.
        resume: Continue the comparison in ``out``.
        progress: Status lines.

    Raises:
        ValueError: no methods or seeds, or ``out`` holds runs and ``resume`` is False.
    """
    if not methods or not seeds:
        raise ValueError("a comparison needs at least one method and one seed")
    out = Path(out)
    folders = [run_folder(out, m, s) for m in methods for s in seeds]
    if not resume and any(folder.exists() for folder in folders):
        raise ValueError(f"{out} holds comparison runs; pass --resume or another --out")
    for seed in seeds:  # seed-major: an interrupted comparison has both methods per seed
        for method in methods:
            folder = run_folder(out, method, seed)
            run = dataclasses.replace(settings, method=method, seed=seed, cache=None)
            if _finished(folder, run):
                continue
            run_search(run, config, folder, resume=folder.exists(), progress=progress)
    return write_reports(settings, methods, seeds, out)


def _finished(folder: Path, settings: SearchSettings) -> bool:
    """Whether the run is done, its final retraining included (with the current recipe)."""
    best = folder / "best.json"
    return best.is_file() and final_done(json.loads(best.read_text()), settings)


def load_run(folder: Path) -> dict[str, Any]:
    """One finished run: its best.json and its best-so-far curve."""
    best = json.loads((folder / "best.json").read_text())
    entries = sorted(read_json_lines(folder / "evaluations.jsonl"), key=lambda e: e["evaluation"])
    accuracies = [e["val_accuracy"] for e in entries]
    curve = list(np.maximum.accumulate(accuracies))
    late = accuracies[-LATE:]
    return {"best": best, "curve": curve, "late_mean": float(np.mean(late))}


def _mean_se(values: Sequence[float]) -> tuple[float, float]:
    array = np.asarray(values, dtype=float)
    if len(array) < 2:
        return float(array.mean()), math.nan
    return float(array.mean()), float(array.std(ddof=1) / math.sqrt(len(array)))


def summarize(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per-method means and standard errors, and the difference of the first two methods."""
    methods: dict[str, Any] = {}
    for method, rows in runs.items():
        val = [row["best"]["val_accuracy"] for row in rows]
        final = [row["best"]["final"] for row in rows if row["best"].get("final")]
        test = [f["test_accuracy"] for f in final]
        minutes = [row["best"]["search_seconds"] / 60 for row in rows]
        late = [row["late_mean"] for row in rows]
        methods[method] = {
            "runs": len(rows),
            "best_val_accuracy": _mean_se(val),
            "final_test_accuracy": _mean_se(test) if test else None,
            "late_mean_val_accuracy": _mean_se(late),
            "search_minutes": _mean_se(minutes),
            "max_search_minutes": max(minutes),
        }
    summary: dict[str, Any] = {"methods": methods}
    names = list(runs)
    if len(names) >= 2:
        (a_mean, a_se), (b_mean, b_se) = (methods[n]["best_val_accuracy"] for n in names[:2])
        summary["difference"] = {
            "of": f"{names[0]} - {names[1]}",
            "best_val_accuracy": a_mean - b_mean,
            "standard_error": math.sqrt(a_se**2 + b_se**2) if len(runs[names[0]]) > 1 else None,
        }
    return summary


def write_reports(
    settings: SearchSettings, methods: Sequence[str], seeds: Sequence[int], out: Path
) -> dict[str, Any]:
    """Write summary.json, table.md and comparison.png from the finished runs."""
    runs = {m: [load_run(run_folder(out, m, s)) for s in seeds] for m in methods}
    summary = summarize(runs)
    summary["settings"] = {**settings.problem(), "workers": settings.workers}
    summary["seeds"] = list(seeds)
    summary["runs"] = [
        {
            "method": method,
            "seed": row["best"]["seed"],
            "best_val_accuracy": row["best"]["val_accuracy"],
            "found_at": row["best"]["evaluation"],
            "final_val_accuracy": (row["best"].get("final") or {}).get("val_accuracy"),
            "final_test_accuracy": (row["best"].get("final") or {}).get("test_accuracy"),
            "late_mean_val_accuracy": row["late_mean"],
            "search_minutes": row["best"]["search_seconds"] / 60,
            "architecture": row["best"]["architecture"],
        }
        for method in methods
        for row in runs[method]
    ]
    summary["versions"] = package_versions()
    write_json_atomic(summary, out / "summary.json")
    write_text_atomic(table(summary), out / "table.md")
    plot_best_so_far({m: [row["curve"] for row in runs[m]] for m in methods}, out / FILES[2])
    return summary


def _pct(pair: Sequence[float] | None) -> str:
    if pair is None:
        return "-"
    mean, se = pair
    return f"{100 * mean:.2f}" if math.isnan(se) else f"{100 * mean:.2f} ± {100 * se:.2f}"


def table(summary: dict[str, Any]) -> str:
    """The summary as a Markdown table (accuracies in %, mean ± standard error)."""
    evaluations = summary["settings"]["evaluations"]
    lines = [
        f"| method | runs | best validation accuracy after {evaluations} evaluations | "
        "test accuracy of the best (retrained) | mean validation accuracy of the last "
        f"{LATE} evaluations | search minutes (max) |",
        "|---|---|---|---|---|---|",
    ]
    for method, row in summary["methods"].items():
        minutes, _ = row["search_minutes"]
        longest = row["max_search_minutes"]
        lines.append(
            f"| {method} | {row['runs']} | {_pct(row['best_val_accuracy'])} | "
            f"{_pct(row['final_test_accuracy'])} | {_pct(row['late_mean_val_accuracy'])} | "
            f"{minutes:.1f} ({longest:.1f}) |"
        )
    difference = summary.get("difference")
    if difference:
        se = difference["standard_error"]
        error = "" if se is None else f" ± {100 * se:.2f}"
        lines.append("")
        lines.append(
            f"Difference of the mean best validation accuracies ({difference['of']}): "
            f"{100 * difference['best_val_accuracy']:+.2f}{error} percentage points "
            "(standard error of the difference)."
        )
    return "\n".join(lines) + "\n"


__all__ = [
    "FILES",
    "load_run",
    "run_comparison",
    "run_folder",
    "summarize",
    "table",
    "write_reports",
]
