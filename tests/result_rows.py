"""A test helper shared by the report and comparison tests: hand-made results rows."""

from __future__ import annotations

from typing import Any

HAIRPIN = ("((((....))))", "GGGGAAAACCCC")
DOUBLE = ("((((....))))..((((....))))", "GGGGAAAACCCCAAGGGGAAAACCCC")
STEM6 = ("((((((....))))))", "GCGCGCAAAAGCGCGC")
VERSIONS = {"autorl": "0.1.0", "viennarna": "2.7.2", "torch": "2.13.0", "python": "3.11.7"}


def result_row(
    target_id: str,
    target: tuple[str, str],
    method: str,
    run: int,
    seconds: float | None = None,
    sequence: str | None = None,
    limit: float = 7200,
    status: str | None = None,
    dataset: str = "rfam-taneda",
) -> dict[str, Any]:
    """A results row: solved in ``seconds`` with the target's design, else unsolved."""
    structure, design = target
    solved = seconds is not None
    return {
        "dataset": dataset,
        "target_id": target_id,
        "length": len(structure),
        "method": method,
        "run": run,
        "seed": 1,
        "time_limit": limit,
        "solved": int(solved),
        "time_to_solve": seconds if solved else "",
        "best_distance": 0 if solved else 4,
        "sequence": sequence or (design if solved else "A" * len(structure)),
        "target": structure,
        "status": status or ("finished" if solved else "timeout"),
        "elapsed": seconds if solved else limit,
        "error": "",
        "stable_baselines3": "2.9.2",
        **VERSIONS,
    }
