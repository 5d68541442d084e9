"""The run log: a run directory that survives being killed at any moment.

Files in the output directory:

- ``run.json``: the header, written once (and rewritten on resume): task, method, BOHB
  settings, iterations, the search space, seed and package versions.
- ``proposals.jsonl``: every new configuration, appended *before* its first trial starts
  (bracket, config id, config, whether the model proposed it).
- ``trials.jsonl``: every finished trial, appended the moment it finishes (trial id, config,
  budget, loss, status, seconds, worker, error, seed, info).

Each record is one ``write`` of one line, flushed and fsynced. A SIGKILL can at worst cut
the last line short; :func:`open_run` drops such a tail. On resume the finished trials are
replayed into the optimizer (never run again) and the proposals of trials that were running
are run again with the same configuration and seed.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from meta.files import write_json_atomic

RUN_FILE = "run.json"
TRIALS_FILE = "trials.jsonl"
PROPOSALS_FILE = "proposals.jsonl"
FORMAT = 1

#: Header keys that must match for ``--resume`` (iterations may grow).
RESUME_KEYS = (
    "format",
    "task",
    "task_options",
    "method",
    "bohb",
    "space",
    "seeding",
    "warm_start",
    "max_total_budget",
)
#: What headers written before a key existed meant by its absence.
_OLD_DEFAULTS = {"seeding": "common", "warm_start": [], "max_total_budget": None}

log = logging.getLogger(__name__)


def _dump(record: Mapping[str, Any]) -> str:
    def fix(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: fix(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [fix(v) for v in value]
        return value

    return json.dumps(fix(dict(record)), default=str, allow_nan=False, sort_keys=False)


@dataclass
class ResumeState:
    """What an interrupted run left behind.

    Attributes:
        trials: Finished trial records by trial id, in log order.
        proposals: Proposed configurations by (bracket, config id).
        dropped_tail: Whether a cut-off last line was removed.
    """

    trials: dict[str, dict[str, Any]] = field(default_factory=dict)
    proposals: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    dropped_tail: bool = False


class RunLog:
    """Appends records to the run directory's JSON-lines files.

    Use :func:`open_run` to create or resume one.
    """

    def __init__(self, directory: Path):
        self.directory = directory
        self._trials: IO[str] = open(directory / TRIALS_FILE, "a", encoding="utf-8")  # noqa: SIM115
        self._proposals: IO[str] = open(directory / PROPOSALS_FILE, "a", encoding="utf-8")  # noqa: SIM115

    def append_trial(self, record: Mapping[str, Any]) -> None:
        """Append one finished trial (durable when this returns)."""
        self._append(self._trials, record)

    def append_proposal(self, record: Mapping[str, Any]) -> None:
        """Append one proposed configuration."""
        self._append(self._proposals, record)

    @staticmethod
    def _append(stream: IO[str], record: Mapping[str, Any]) -> None:
        stream.write(_dump(record) + "\n")
        stream.flush()
        os.fsync(stream.fileno())

    def close(self) -> None:
        """Close the files."""
        self._trials.close()
        self._proposals.close()

    def __enter__(self) -> RunLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_jsonl(path: Path, repair: bool = False) -> tuple[list[dict[str, Any]], bool]:
    """Read a JSON-lines file; with ``repair``, cut a partial last line off the file.

    Returns:
        The records and whether a partial tail was found.

    Raises:
        ValueError: a line other than the last is not valid JSON.
    """
    if not path.exists():
        return [], False
    data = path.read_bytes()
    partial = bool(data) and not data.endswith(b"\n")
    if partial:
        keep = data.rfind(b"\n") + 1
        if repair:
            with open(path, "r+b") as stream:
                stream.truncate(keep)
        data = data[:keep]
    records = []
    for number, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{number}: corrupt run log line ({error.msg})") from None
    return records, partial


def open_run(
    directory: str | Path, header: Mapping[str, Any], resume: bool
) -> tuple[RunLog, ResumeState]:
    """Create a run directory, or reopen one with ``resume``.

    Args:
        directory: The output directory.
        header: The run's header (see :data:`RESUME_KEYS` for what must match on resume).
        resume: Continue the run logged in ``directory``.

    Raises:
        ValueError: a new run would overwrite a logged one, ``--resume`` finds no run, or the
            logged run differs from this one in a key of :data:`RESUME_KEYS`.
    """
    path = Path(directory)
    run_file = path / RUN_FILE
    state = ResumeState()
    if resume:
        if not run_file.exists():
            raise ValueError(
                f"--resume: {path} has no {RUN_FILE}; start a new run without --resume"
            )
        old = json.loads(run_file.read_text(encoding="utf-8"))
        _check_compatible(old, header, path)
        state = _load_state(path)
        header = {**dict(header), "resumed": [*old.get("resumed", []), _now()]}
        header["started"] = old.get("started", header.get("started"))
    else:
        if (path / TRIALS_FILE).exists() or run_file.exists():
            raise ValueError(
                f"{path} already holds a run; pass --resume to continue it or choose another --out"
            )
        path.mkdir(parents=True, exist_ok=True)
        header = {**dict(header), "started": _now()}
    write_json_atomic(header, run_file)
    return RunLog(path), state


def _check_compatible(old: Mapping[str, Any], new: Mapping[str, Any], path: Path) -> None:
    normalized = json.loads(json.dumps({k: new.get(k) for k in RESUME_KEYS}, default=str))
    old = {**_OLD_DEFAULTS, **old}
    if isinstance(old.get("bohb"), dict):  # logs from before the bracket rule was a setting
        old["bohb"] = {"brackets": "paper", **old["bohb"]}
    differ = [key for key in RESUME_KEYS if old.get(key) != normalized.get(key)]
    if differ:
        raise ValueError(
            f"--resume: the run in {path} was started with different {', '.join(differ)}; "
            "use the same task, method, budgets, eta, brackets, seed and warm start "
            "(only --iterations may change)"
        )


def _load_state(path: Path) -> ResumeState:
    trials, cut_trials = read_jsonl(path / TRIALS_FILE, repair=True)
    proposals, cut_proposals = read_jsonl(path / PROPOSALS_FILE, repair=True)
    state = ResumeState(dropped_tail=cut_trials or cut_proposals)
    if state.dropped_tail:
        log.warning("%s: dropped a partly written last line (the run was killed mid-write)", path)
    for record in proposals:
        state.proposals[(int(record["bracket"]), int(record["config_id"]))] = record["config"]
    for record in trials:
        state.trials[record["trial"]] = record
        if record.get("rung") == 0:
            key = (int(record["bracket"]), int(record["config_id"]))
            state.proposals.setdefault(key, record["config"])
    return state


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def load_trials(directory: str | Path) -> list[dict[str, Any]]:
    """The finished trial records of a run directory, in the order they finished."""
    records, _ = read_jsonl(Path(directory) / TRIALS_FILE)
    return records


def trajectory(records: Iterable[Mapping[str, Any]]) -> list[tuple[float, float, float]]:
    """The incumbent over time: (cumulative budget, incumbent loss, incumbent budget) rows.

    The incumbent is the lowest loss on the largest budget that has a finite loss, so its
    loss may rise when a larger budget is reached; a row is added whenever it changes.
    """
    rows: list[tuple[float, float, float]] = []
    used, best_loss, best_budget = 0.0, math.inf, -math.inf
    for record in records:
        used += float(record["budget"])
        loss = record.get("loss")
        if loss is None or not math.isfinite(loss):
            continue
        budget = float(record["budget"])
        if budget > best_budget or (budget == best_budget and loss < best_loss):
            best_loss, best_budget = float(loss), budget
            rows.append((used, best_loss, best_budget))
    return rows


def command_line() -> str:
    """The command line of this process (recorded in the header)."""
    return " ".join(sys.argv)
