"""``results.csv``: the benchmark runner's append-only record of finished jobs.

Every row is written whole, in one write, flushed and fsynced, so a run killed at any
moment leaves only complete rows (a cut-off last line is ended before the next append).
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

from envs.constraints import DesignConstraints
from envs.dot_bracket import Target
from envs.folding import EnergyModel
from envs.rna_instances import RnaDesignEvaluation
from meta.provenance import package_versions

#: The job and its outcome: the first columns of every version's results.csv.
_JOB = (
    "dataset",
    "target_id",
    "length",
    "method",
    "run",
    "seed",
    "time_limit",
    "solved",
    "time_to_solve",
    "best_distance",
    "sequence",
)

#: Status, settings and versions: the last columns of every version's results.csv.
_STATUS = (
    "status",
    "elapsed",
    "error",
    "config",
    "model",
    "autorl",
    "viennarna",
    "torch",
    "stable_baselines3",
    "python",
)

#: The design's quality, then the constraints and the energy model the job ran under.
_PROBLEM = (
    "target",
    "mfe_structure",
    "mfe_energy",
    "probability",
    "ensemble_defect",
    "gc_content",
    "constraints_ok",
    "sequence_constraint",
    "gc",
    "forbid",
    "temperature",
    "energy_params",
    "dangles",
    "no_lonely_pairs",
)

#: Columns of results.csv, in order. ``target`` is the target structure; the design's own
#: MFE structure and quality follow it, then the constraints and the energy model the job
#: ran under (empty = none / ViennaRNA's default). ``backend`` is where the job ran:
#: ``local`` or ``ray:<node address>`` (empty in rows of earlier versions: local).
#: ``found_by`` is the stage of the design loop that made the reported design
#: (:data:`envs.evaluation.STAGES`; empty for RNAinverse, for a job without a design and
#: in rows of earlier versions).
RESULT_FIELDS = (*_JOB, *_PROBLEM, *_STATUS, "backend", "found_by")

#: The columns of files written before the ``found_by`` column.
_BEFORE_FOUND_BY = (*_JOB, *_PROBLEM, *_STATUS, "backend")

#: The columns of files written before the ``backend`` column.
_BEFORE_BACKEND = (*_JOB, *_PROBLEM, *_STATUS)

#: The columns of files written before the constraints and quality columns (read, and
#: rewritten in the current layout before a resume appends to them). ``structure`` there
#: was the target structure.
_OLD_FIELDS = (*_JOB, "structure", *_STATUS)

#: The columns of autorl 0.1 files written before the ``model`` column.
_BEFORE_MODEL = tuple(name for name in _OLD_FIELDS if name != "model")

#: results.csv column -> package whose version it records.
VERSION_COLUMNS = {
    "autorl": "autorl",
    "viennarna": "viennarna",
    "torch": "torch",
    "stable_baselines3": "stable-baselines3",
    "python": "python",
}


def version_columns() -> dict[str, str]:
    """The package versions recorded in every row."""
    versions = package_versions()
    return {column: versions[name] for column, name in VERSION_COLUMNS.items()}


def read_results(path: str | Path) -> list[dict[str, str]]:
    """Read results.csv (an absent file has no rows), in the current column layout.

    Files of earlier versions are read too: their ``structure`` column becomes ``target``
    and the columns they lack are empty (``backend``: they ran locally; ``found_by``: not
    recorded).

    Raises:
        ValueError: the file's header is none that autorl wrote.
    """
    rows, _ = _read(Path(path))
    return rows


def _read(path: Path) -> tuple[list[dict[str, str]], tuple[str, ...]]:
    if not path.is_file() or path.stat().st_size == 0:
        return [], RESULT_FIELDS
    with open(path, encoding="utf-8", newline="") as file:
        reader = csv.DictReader(file)
        columns = tuple(reader.fieldnames or ())
        if columns not in (
            RESULT_FIELDS,
            _BEFORE_FOUND_BY,
            _BEFORE_BACKEND,
            _OLD_FIELDS,
            _BEFORE_MODEL,
        ):
            raise ValueError(
                f"{path}: unexpected columns {reader.fieldnames}; expected {list(RESULT_FIELDS)}"
            )
        rows = [row for row in reader if None not in row.values()]
    if columns != RESULT_FIELDS:
        for index, row in enumerate(rows):
            if "structure" in row:
                row["target"] = row.pop("structure")
            rows[index] = {name: row.get(name, "") for name in RESULT_FIELDS}
    return rows, columns


def upgrade_results(path: str | Path) -> bool:
    """Rewrite a results.csv of an earlier version in the current layout (atomically).

    Returns:
        Whether the file was rewritten.
    """
    path = Path(path)
    rows, columns = _read(path)
    if columns == RESULT_FIELDS:
        return False
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=RESULT_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    temporary = path.with_name(path.name + ".upgrade")
    with open(temporary, "w", encoding="utf-8", newline="") as file:
        file.write(buffer.getvalue())
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    return True


def append_result(path: str | Path, row: dict[str, Any]) -> None:
    """Append one row (and the header to a new file) in a single write, flushed to disk.

    A last line cut off by a crash is ended first, so it cannot swallow the new row.
    """
    path = Path(path)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=RESULT_FIELDS, lineterminator="\n")
    size = path.stat().st_size if path.exists() else 0
    if size == 0:
        writer.writeheader()
    else:
        with open(path, "rb") as file:
            file.seek(size - 1)
            if file.read(1) != b"\n":
                buffer.write("\n")
    writer.writerow(row)
    with open(path, "a", encoding="utf-8", newline="") as file:
        file.write(buffer.getvalue())
        file.flush()
        os.fsync(file.fileno())


def problem_columns(
    sequence_constraint: str | None, constraints: DesignConstraints, energy: EnergyModel
) -> dict[str, str]:
    """The columns that record what a job designed under (constraints, energy model)."""
    return {
        "sequence_constraint": sequence_constraint or "",
        "gc": f"{constraints.gc[0]:g}:{constraints.gc[1]:g}" if constraints.gc else "",
        "forbid": ",".join(constraints.forbid),
        "temperature": f"{energy.temperature:g}",
        "energy_params": energy.params,
        "dangles": str(energy.dangles),
        "no_lonely_pairs": str(int(energy.no_lonely_pairs)),
    }


def row_marked_solved(row: dict[str, str]) -> bool:
    """Whether a row says its job solved the target.

    Unverified: :func:`benchmarks.report.verify_row` checks the claim.
    """
    return row["solved"].strip() in ("1", "True", "true")


def row_constraints(row: dict[str, str]) -> DesignConstraints:
    """The constraints a row's job ran under (none for rows of earlier versions)."""
    gc = row.get("gc", "")
    low, _, high = gc.partition(":")
    return DesignConstraints(
        sequence=row.get("sequence_constraint") or None,
        gc=(float(low), float(high)) if gc else None,
        forbid=tuple(m for m in row.get("forbid", "").split(",") if m),
    )


def row_energy(row: dict[str, str]) -> EnergyModel:
    """The energy model a row's job ran under (ViennaRNA's default for earlier versions)."""
    default = EnergyModel()
    return EnergyModel(
        temperature=float(row.get("temperature") or default.temperature),
        params=row.get("energy_params") or default.params,
        dangles=int(row.get("dangles") or default.dangles),
        no_lonely_pairs=row.get("no_lonely_pairs", "") in ("1", "True", "true"),
    )


def row_target(row: dict[str, str]) -> Target:
    """The target a row's job designed for: its id, structure and IUPAC constraint.

    Raises:
        InvalidStructureError: the row's target structure or constraint is malformed.
    """
    return Target(row["target_id"], row["target"].strip(), row.get("sequence_constraint") or None)


def row_evaluation(row: dict[str, str]) -> RnaDesignEvaluation:
    """The evaluation protocol a row's design is judged by (its energy model, GC and motifs).

    The row's IUPAC constraint belongs to its target (:func:`row_target`).
    """
    return RnaDesignEvaluation(row_energy(row), row_constraints(row).with_sequence(None))
