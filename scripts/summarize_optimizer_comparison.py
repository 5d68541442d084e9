"""Summarize compare_cartpole_optimizers.sh: optimizers by their incumbents' fresh-seed loss.

Usage: ``python scripts/summarize_optimizer_comparison.py OUT`` (the script's output folder).

For every optimizer run ``OUT/<optimizer>-seed<k>`` it reads the number of trials, the
incumbent's search loss and budget, and the incumbent's fresh-seed evaluation
(``OUT/evaluation/summary.json``: the mean episodes to threshold over the fresh seeds, the
BOHB paper's loss, failures at the cap). Per optimizer it prints the mean +- standard error
over the optimizer seeds of that fresh-seed loss, and writes the table to
``OUT/comparison.md`` and the numbers to ``OUT/comparison.json``.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from pathlib import Path


def _runs(out: Path) -> dict[str, list[dict]]:
    evaluation = json.loads((out / "evaluation" / "summary.json").read_text())["labels"]
    result: dict[str, list[dict]] = {}
    for run in sorted(p for p in out.iterdir() if (p / "incumbent.json").is_file()):
        optimizer, _, seed = run.name.rpartition("-seed")
        meta = json.loads((run / "incumbent.json").read_text())["_meta"]
        trials = sum(1 for line in (run / "trials.jsonl").read_text().splitlines() if line)
        fresh = evaluation.get(run.name, {}).get("episodes_to_threshold") or {}
        result.setdefault(optimizer, []).append(
            {
                "run": run.name,
                "seed": int(seed),
                "trials": trials,
                "search_loss": meta["loss"],
                "search_budget": meta["budget"],
                "fresh_loss": fresh.get("mean"),
                "fresh_median": fresh.get("median"),
                "fresh_failures": fresh.get("failures"),
                "fresh_runs": fresh.get("n"),
            }
        )
    return result


def _stats(values: list[float]) -> dict[str, float | None]:
    mean = statistics.fmean(values) if values else None
    sem = statistics.stdev(values) / math.sqrt(len(values)) if len(values) >= 2 else None
    return {"mean": mean, "sem": sem, "n": len(values)}


def main(out: Path) -> str:
    """Write ``comparison.md`` / ``.json`` in ``out`` and return the table."""
    runs = _runs(out)
    lines = [
        "| optimizer | runs | trials per run | fresh-seed loss per run | mean ± s.e. |",
        "|---|---:|---:|---|---:|",
    ]
    summary = {}
    for optimizer, rows in runs.items():
        losses = [row["fresh_loss"] for row in rows if row["fresh_loss"] is not None]
        stats = _stats(losses)
        summary[optimizer] = {"runs": rows, "fresh_loss": stats}
        per_run = ", ".join(f"{row['fresh_loss']:.0f}" for row in rows if row["fresh_loss"])
        sem = "" if stats["sem"] is None else f" ± {stats['sem']:.0f}"
        mean = "-" if stats["mean"] is None else f"{stats['mean']:.0f}{sem}"
        trials = ", ".join(str(row["trials"]) for row in rows)
        lines.append(f"| {optimizer} | {len(rows)} | {trials} | {per_run} | {mean} |")
    table = "\n".join(lines) + "\n"
    (out / "comparison.md").write_text(table, encoding="utf-8")
    (out / "comparison.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return table


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print(main(Path(sys.argv[1])), end="")
