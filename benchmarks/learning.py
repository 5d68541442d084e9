"""Learning speed on CartPole: episodes (and timesteps) until a moving mean reaches a threshold.

This is the loss of the CartPole experiment of the BOHB paper (Falkner, Klein and Hutter,
"BOHB: Robust and Efficient Hyperparameter Optimization at Scale", ICML 2018): the number
of training episodes an agent needs until the mean return of its last 20 episodes reaches
475 (CartPole-v1's reward threshold), averaged over seeds, with a cap that counts as
failure, so lower is better and a failed run still gets a finite loss.

Definition (:func:`episodes_to_threshold`), for the per-episode returns ``r_1, r_2, ...``
of one training run in the order the episodes ended, a ``threshold``, a ``window`` ``w``
and a ``cap`` ``C``:

* The *moving mean* after episode ``n`` is ``m_n = (r_{n-w+1} + ... + r_n) / w``, the
  mean of the last ``w`` returns (:func:`moving_mean`, float64 arithmetic). It exists only
  from episode ``w`` on: **before ``w`` episodes there is no moving mean and hence no
  success** -- a mean over fewer than ``w`` episodes does not count, however high, so the
  fastest possible result is ``w`` (every one of the first ``w`` episodes good enough).
* The run *reaches the threshold* at the first episode ``n`` with ``w <= n <= C`` and
  ``m_n >= threshold`` (reaching it exactly counts). :func:`threshold_episode` returns
  that ``n`` (a 1-based episode count: "after n episodes"), or ``None`` when there is none.
* :func:`episodes_to_threshold` returns that ``n``, or ``C`` when there is none: the
  failure score is the cap itself, finite. Episodes after the first ``C`` are ignored
  (success at episode ``C + 1`` is a failure), and a log *shorter* than ``C`` that never
  reaches the threshold is a failure as well (the run stopped or crashed early: it is
  scored as if it had been trained to the cap without success). A success at exactly
  episode ``C`` scores ``C`` too, the same as a failure -- inherent in "the cap counts as
  failure"; :func:`summarize` counts it among the failures, while
  :func:`threshold_episode` and :func:`timesteps_to_threshold` still tell it apart.
* :func:`timesteps_to_threshold` returns the environment steps consumed until the end of
  the success episode, ``l_1 + ... + l_n`` for episode lengths ``l_i``, or ``None`` on
  failure (there is no natural cap in timesteps: failures are counted, not scored).

Defaults: threshold 475, window 20, cap 3000 episodes (:data:`THRESHOLD`, :data:`WINDOW`,
:data:`CAP`).

Also here: :class:`LearningCurve`, one run's per-episode record, read from a
stable-baselines3 ``Monitor`` CSV and written as a tidy CSV; :class:`ThresholdSummary` and
:func:`summarize`, the median / mean / standard error / failures of many runs; and
:func:`plot_learning_curves`, the moving mean against episodes of many runs in one PNG.
"""

from __future__ import annotations

import csv
import io
import json
import math
import operator
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from meta.files import write_text_atomic

#: CartPole-v1's reward threshold: the BOHB paper's target for the moving mean.
THRESHOLD = 475.0
#: Episodes in the moving mean.
WINDOW = 20
#: Episodes after which a run that has not reached the threshold is a failure.
CAP = 3000

#: The columns of :meth:`LearningCurve.to_csv`.
CSV_COLUMNS = ("episode", "return", "length", "timesteps", "seconds", "moving_mean")
#: The columns of a stable-baselines3 ``Monitor`` file that :class:`LearningCurve` reads.
_MONITOR_COLUMNS = ("r", "l", "t")


# --------------------------------------------------------------------------- validation


def _positive_int(name: str, value: Any) -> int:
    """``value`` as an int >= 1; a ``ValueError`` naming ``name`` otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}") from None
    if number < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {number}")
    return number


def _check_threshold(threshold: Any) -> float:
    """``threshold`` as a finite float."""
    value = float(threshold)
    if not math.isfinite(value):
        raise ValueError(f"threshold must be finite, got {threshold!r}")
    return value


def _check_window_cap(window: Any, cap: Any) -> tuple[int, int]:
    """Validate ``window`` >= 1 and ``cap`` >= ``window`` (else no run could ever succeed)."""
    window = _positive_int("window", window)
    cap = _positive_int("cap", cap)
    if cap < window:
        raise ValueError(
            f"cap {cap} < window {window}: no run could reach the threshold "
            f"(the moving mean needs {window} episodes)"
        )
    return window, cap


def _float_array(values: Sequence[float], name: str) -> np.ndarray:
    """``values`` as a 1-D float64 array whose every element is finite."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        index = int(bad[0])
        raise ValueError(f"{name}[{index}] is {float(array[index])!r}: every value must be finite")
    return array


def _length_array(lengths: Sequence[int], name: str = "lengths") -> np.ndarray:
    """``lengths`` as a 1-D int64 array of whole numbers >= 1 (episode lengths)."""
    array = _float_array(lengths, name)
    bad = np.flatnonzero((array < 1) | (array != np.round(array)))
    if bad.size:
        index = int(bad[0])
        raise ValueError(
            f"{name}[{index}] is {float(array[index])!r}: an episode length is a whole number >= 1"
        )
    return array.astype(np.int64)


# --------------------------------------------------------------------------- the metric


def moving_mean(returns: Sequence[float], window: int = WINDOW) -> np.ndarray:
    """The mean of the last ``window`` returns after every episode.

    Args:
        returns: Per-episode returns in the order the episodes ended.
        window: Episodes in the mean (>= 1).

    Returns:
        A float64 array as long as ``returns``: element ``i`` is the mean of
        ``returns[i - window + 1 : i + 1]``; the first ``window - 1`` elements are NaN (no
        moving mean before ``window`` episodes).

    Raises:
        ValueError: ``window`` < 1, or a return is not finite (the message names its index).
    """
    window = _positive_int("window", window)
    values = _float_array(returns, "returns")
    means = np.full(values.shape, np.nan)
    if values.size >= window:
        means[window - 1 :] = sliding_window_view(values, window).mean(axis=-1)
    return means


def threshold_episode(
    returns: Sequence[float],
    threshold: float = THRESHOLD,
    window: int = WINDOW,
    cap: int = CAP,
) -> int | None:
    """The first episode count after which the moving mean reaches ``threshold``.

    See the module docstring for the definition. Every return is validated, also those
    after the first ``cap`` (which are otherwise ignored).

    Args:
        returns: Per-episode returns of one run, in the order the episodes ended.
        threshold: The moving mean must be ``>=`` this (finite).
        window: Episodes in the moving mean (>= 1); no success before ``window`` episodes.
        cap: Only the first ``cap`` episodes count (an integer >= ``window``).

    Returns:
        The 1-based episode ``n`` (``window <= n <= cap``), or ``None`` if the moving mean
        does not reach ``threshold`` within the first ``cap`` episodes of the log.

    Raises:
        ValueError: ``window`` < 1, ``cap`` < 1 or ``cap`` < ``window``, a non-finite
            ``threshold``, or a non-finite return (the message names its index).
    """
    threshold = _check_threshold(threshold)
    window, cap = _check_window_cap(window, cap)
    values = _float_array(returns, "returns")[:cap]
    hits = np.flatnonzero(moving_mean(values, window) >= threshold)  # NaN compares False
    return int(hits[0]) + 1 if hits.size else None


def episodes_to_threshold(
    returns: Sequence[float],
    threshold: float = THRESHOLD,
    window: int = WINDOW,
    cap: int = CAP,
) -> int:
    """Episodes until the mean return of the last ``window`` episodes reaches ``threshold``.

    The BOHB paper's CartPole loss of one run (module docstring): the first episode count
    ``n >= window`` whose moving mean is ``>= threshold``, or ``cap`` when that does not
    happen within the first ``cap`` episodes -- also when the log has fewer than ``cap``
    episodes. Lower is better; failure is the finite ``cap``.

    Args:
        returns: Per-episode returns of one run, in the order the episodes ended.
        threshold: The moving mean must be ``>=`` this (finite).
        window: Episodes in the moving mean (>= 1); no success before ``window`` episodes.
        cap: The failure score; only the first ``cap`` episodes count (>= ``window``).

    Returns:
        An int in ``[window, cap]``.

    Raises:
        ValueError: As :func:`threshold_episode`.
    """
    episode = threshold_episode(returns, threshold, window, cap)
    return cap if episode is None else episode


def timesteps_to_threshold(
    returns: Sequence[float],
    lengths: Sequence[int],
    threshold: float = THRESHOLD,
    window: int = WINDOW,
    cap: int = CAP,
) -> int | None:
    """Environment steps consumed until the end of the episode that reached the threshold.

    Args:
        returns: Per-episode returns of one run.
        lengths: The steps of each of those episodes (whole numbers >= 1), as many as
            ``returns``.
        threshold: As :func:`episodes_to_threshold`.
        window: As :func:`episodes_to_threshold`.
        cap: As :func:`episodes_to_threshold`.

    Returns:
        ``sum(lengths[:n])`` for the episode ``n`` of :func:`threshold_episode`, or
        ``None`` when the run fails (there is no cap in timesteps: count failures apart).

    Raises:
        ValueError: As :func:`threshold_episode`; ``lengths`` and ``returns`` differ in
            length; or a length is not a whole number >= 1 (the message names its index).
    """
    steps = _length_array(lengths)
    if len(steps) != len(returns):
        raise ValueError(f"{len(returns)} returns but {len(steps)} lengths")
    episode = threshold_episode(returns, threshold, window, cap)
    return None if episode is None else int(steps[:episode].sum())


# --------------------------------------------------------------------------- one run


@dataclass(frozen=True)
class LearningCurve:
    """One training run, episode by episode.

    The constructor accepts any sequences (lists, numpy arrays) and stores tuples of
    Python numbers; it validates that they are equally long, that returns (and seconds)
    are finite and that lengths are whole numbers >= 1.

    Attributes:
        returns: The return of every episode, in the order the episodes ended.
        lengths: The steps of every episode.
        seconds: Wall-clock seconds from the start of the run to the end of every episode
            (``Monitor``'s ``t``), or ``None`` when unknown.
    """

    returns: tuple[float, ...]
    lengths: tuple[int, ...]
    seconds: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        returns = _float_array(self.returns, "returns")
        lengths = _length_array(self.lengths)
        if len(lengths) != len(returns):
            raise ValueError(f"{len(returns)} returns but {len(lengths)} lengths")
        object.__setattr__(self, "returns", tuple(float(value) for value in returns))
        object.__setattr__(self, "lengths", tuple(int(value) for value in lengths))
        if self.seconds is not None:
            seconds = _float_array(self.seconds, "seconds")
            if len(seconds) != len(returns):
                raise ValueError(f"{len(returns)} returns but {len(seconds)} seconds")
            object.__setattr__(self, "seconds", tuple(float(value) for value in seconds))

    @property
    def episodes(self) -> int:
        """The number of episodes."""
        return len(self.returns)

    @property
    def timesteps(self) -> tuple[int, ...]:
        """Cumulative environment steps at the end of every episode (sums of ``lengths``).

        For a ``VecMonitor`` file (the episodes of several environments in the order they
        ended) these are the steps of the finished episodes only; the steps of episodes
        still running in the other environments are not included.
        """
        return tuple(int(value) for value in np.cumsum(self.lengths, dtype=np.int64))

    def moving_mean(self, window: int = WINDOW) -> np.ndarray:
        """:func:`moving_mean` of the returns (NaN for the first ``window - 1`` episodes)."""
        return moving_mean(self.returns, window)

    def threshold_episode(
        self, threshold: float = THRESHOLD, window: int = WINDOW, cap: int = CAP
    ) -> int | None:
        """:func:`threshold_episode` of this run."""
        return threshold_episode(self.returns, threshold, window, cap)

    def episodes_to_threshold(
        self, threshold: float = THRESHOLD, window: int = WINDOW, cap: int = CAP
    ) -> int:
        """:func:`episodes_to_threshold` of this run."""
        return episodes_to_threshold(self.returns, threshold, window, cap)

    def timesteps_to_threshold(
        self, threshold: float = THRESHOLD, window: int = WINDOW, cap: int = CAP
    ) -> int | None:
        """:func:`timesteps_to_threshold` of this run."""
        return timesteps_to_threshold(self.returns, self.lengths, threshold, window, cap)

    @classmethod
    def from_monitor_csv(cls, path: str | Path) -> LearningCurve:
        """Read the file a stable-baselines3 ``Monitor`` (or ``VecMonitor``) wrote.

        The format: a first line ``#`` followed by a JSON header (``t_start``, ``env_id``),
        then a CSV with the columns ``r`` (return), ``l`` (length), ``t`` (seconds since
        ``t_start``) and possibly more (``info_keywords``; ignored), one row per finished
        episode. A last line without a line end is a row still being written (the file of
        a running training) and is skipped.

        Args:
            path: The file itself (``Monitor(env, "x")`` writes ``x.monitor.csv``).

        Returns:
            The curve, with ``seconds`` from ``t``; no episodes if the file has no rows.

        Raises:
            ValueError: Not a Monitor file (no ``#{json}`` first line, missing columns) or
                a bad row; the message names the file and the line.
        """
        path = Path(path)
        with open(path, encoding="utf-8", newline="") as file:
            text = file.read()
        lines = text.splitlines(keepends=True)
        if lines and not lines[-1].endswith(("\n", "\r")):
            lines.pop()  # a row still being written
        if not lines or not lines[0].startswith("#"):
            raise ValueError(f"{path}: not a Monitor file (the first line must be '#{{json}}')")
        try:
            header = json.loads(lines[0][1:])
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}, line 1: bad Monitor header: {error}") from None
        if not isinstance(header, dict):
            raise ValueError(f"{path}, line 1: the Monitor header is not a JSON object")
        if len(lines) < 2:
            raise ValueError(f"{path}: no column line after the Monitor header")
        reader = csv.reader(lines[1:])
        columns = next(reader)
        missing = [name for name in _MONITOR_COLUMNS if name not in columns]
        if missing:
            raise ValueError(f"{path}, line 2: no column {', '.join(missing)} in {columns}")
        at_return, at_length, at_time = (columns.index(name) for name in _MONITOR_COLUMNS)
        returns: list[float] = []
        lengths: list[float] = []
        seconds: list[float] = []
        for number, row in enumerate(reader, start=3):
            if not row:
                continue
            try:
                returns.append(float(row[at_return]))
                lengths.append(float(row[at_length]))
                seconds.append(float(row[at_time]))
            except (IndexError, ValueError):
                raise ValueError(f"{path}, line {number}: bad Monitor row {row}") from None
        try:
            return cls(tuple(returns), tuple(lengths), tuple(seconds))  # type: ignore[arg-type]
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None

    def to_csv(self, path: str | Path, window: int = WINDOW) -> Path:
        """Write the tidy CSV of this run atomically (temporary file, fsync, rename).

        Columns (:data:`CSV_COLUMNS`): ``episode`` (1-based), ``return``, ``length``,
        ``timesteps`` (cumulative), ``seconds`` (empty when unknown) and ``moving_mean``
        (of the last ``window`` returns; empty before ``window`` episodes). Floats are
        written in Python's shortest round-trip form, so :meth:`from_csv` gives back an
        equal curve.

        Args:
            path: The file to write.
            window: Episodes in the ``moving_mean`` column.

        Returns:
            ``path`` as a :class:`~pathlib.Path`.
        """
        path = Path(path)
        means = self.moving_mean(window)
        seconds = self.seconds if self.seconds is not None else ("",) * self.episodes
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for index, (value, length, steps, second, mean) in enumerate(
            zip(self.returns, self.lengths, self.timesteps, seconds, means)
        ):
            writer.writerow(
                [index + 1, value, length, steps, second, "" if math.isnan(mean) else mean]
            )
        write_text_atomic(buffer.getvalue(), path)
        return path

    @classmethod
    def from_csv(cls, path: str | Path) -> LearningCurve:
        """Read a file written by :meth:`to_csv`.

        ``moving_mean`` is not read (it is recomputed on demand); ``episode`` must count
        1, 2, ... and ``timesteps`` must be the cumulative lengths.

        Args:
            path: The file.

        Returns:
            The curve.

        Raises:
            ValueError: Another header, a bad row, or inconsistent columns (the message
                names the file and the line).
        """
        path = Path(path)
        with open(path, encoding="utf-8", newline="") as file:
            rows = list(csv.reader(file))
        if not rows or tuple(rows[0]) != CSV_COLUMNS:
            raise ValueError(f"{path}: the header must be {','.join(CSV_COLUMNS)}")
        returns: list[float] = []
        lengths: list[float] = []
        seconds: list[float] = []
        timesteps: list[int] = []
        unknown_seconds = False
        for number, row in enumerate(rows[1:], start=2):
            try:
                episode, value, length, steps, second, _ = row
                if int(episode) != len(returns) + 1:
                    raise ValueError
                returns.append(float(value))
                lengths.append(float(length))
                timesteps.append(int(steps))
                if second == "":
                    unknown_seconds = True
                else:
                    seconds.append(float(second))
            except ValueError:
                raise ValueError(f"{path}, line {number}: bad row {row}") from None
        if unknown_seconds and seconds:
            raise ValueError(f"{path}: seconds are given for some episodes only")
        try:
            curve = cls(
                tuple(returns),
                tuple(lengths),  # type: ignore[arg-type]
                None if unknown_seconds else tuple(seconds),
            )
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
        if curve.timesteps != tuple(timesteps):
            raise ValueError(f"{path}: the timesteps column is not the cumulative lengths")
        return curve


# --------------------------------------------------------------------------- many runs


@dataclass(frozen=True)
class ThresholdSummary:
    """Median, mean, standard error and failures of many runs' results (see :func:`summarize`).

    Attributes:
        n: Runs.
        failures: Runs that failed: result ``None``, or equal to ``cap``.
        median: Median of the scored results (``None`` when there is none).
        mean: Mean of the scored results (``None`` when there is none).
        sem: Standard error of that mean, ``std(ddof=1) / sqrt(count)`` (``None`` with
            fewer than two scored results).
        scored: How many results the statistics cover: all that are not ``None``.
        cap: The cap the results were scored with, or ``None``.
    """

    n: int
    failures: int
    median: float | None
    mean: float | None
    sem: float | None
    scored: int
    cap: int | None

    def describe(self, unit: str = "episodes") -> str:
        """One line for a report, e.g. ``median 120 episodes, mean 131.4 +- 6.2 (s.e.), ...``."""
        if self.median is None or self.mean is None:
            stats = f"no {unit} to summarize"
        else:
            sem = "" if self.sem is None else f" +- {self.sem:.4g} (s.e.)"
            stats = f"median {self.median:g} {unit}, mean {self.mean:.6g}{sem}"
        failed = f"failures {self.failures}/{self.n}"
        if self.cap is not None:
            failed += f" (cap {self.cap})"
        return f"{stats}, {failed}"


def summarize(results: Sequence[int | None], cap: int | None) -> ThresholdSummary:
    """Summarize many runs' episodes (or timesteps) to the threshold.

    For :func:`episodes_to_threshold` results pass the ``cap`` they were scored with:
    results equal to it are failures, and they are included in the median, mean and
    standard error at the value ``cap`` (the BOHB loss: failure is finite). For
    :func:`timesteps_to_threshold` results pass ``cap=None``: ``None`` results are
    failures and are left out of the statistics, which then describe successful runs
    only (see ``scored``).

    Args:
        results: Whole numbers >= 0, or ``None`` for a failed run.
        cap: The episode cap (results above it are an error), or ``None``.

    Returns:
        The summary.

    Raises:
        ValueError: No results, a result that is not a whole number >= 0, or one above
            ``cap``.
    """
    if cap is not None:
        cap = _positive_int("cap", cap)
    if len(results) == 0:
        raise ValueError("no results to summarize")
    values: list[int] = []
    failures = 0
    for index, result in enumerate(results):
        if result is None:
            failures += 1
            continue
        try:
            if isinstance(result, bool):
                raise TypeError
            value = operator.index(result)
        except TypeError:
            raise ValueError(f"results[{index}] is {result!r}: not a whole number") from None
        if value < 0 or (cap is not None and value > cap):
            limit = "" if cap is None else f" and <= cap {cap}"
            raise ValueError(f"results[{index}] is {value}: must be >= 0{limit}")
        if value == cap:
            failures += 1
        values.append(value)
    array = np.asarray(values, dtype=np.float64)
    return ThresholdSummary(
        n=len(results),
        failures=failures,
        median=float(np.median(array)) if values else None,
        mean=float(array.mean()) if values else None,
        sem=float(array.std(ddof=1) / math.sqrt(len(values))) if len(values) >= 2 else None,
        scored=len(values),
        cap=cap,
    )


def plot_learning_curves(
    curves: Mapping[str, Sequence[LearningCurve]],
    path: str | Path,
    threshold: float = THRESHOLD,
    window: int = WINDOW,
    title: str | None = None,
) -> Path:
    """Plot the moving-mean return against episodes of many runs as a PNG.

    One color per label: a thin line per run (seed) and a bold line, the median over that
    label's runs at every episode. A run that ended before the longest one holds its last
    moving mean in the median (a run stopped at success stays solved), and the median is
    drawn up to the longest run. Runs shorter than ``window`` have no moving mean and are
    not drawn (the legend's ``n`` still counts them). The threshold is a dashed line.

    Drawn with matplotlib's Agg canvas (no pyplot, no global backend change) and written
    atomically (temporary file, rename).

    Args:
        curves: Label (e.g. a configuration) -> its runs.
        path: The PNG to write.
        threshold: Height of the dashed line (finite).
        window: Episodes in the moving mean (>= 1).
        title: The plot's title.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: No labels, a bad ``threshold`` or ``window``.
    """
    from matplotlib.figure import Figure

    threshold = _check_threshold(threshold)
    window = _positive_int("window", window)
    if not curves:
        raise ValueError("no learning curves to plot")
    path = Path(path)
    figure = Figure(figsize=(7.0, 4.5), dpi=120)
    axis = figure.add_subplot()
    for number, (label, runs) in enumerate(curves.items()):
        color = f"C{number % 10}"
        means = [run.moving_mean(window) for run in runs if run.episodes >= window]
        for mean in means:
            axis.plot(np.arange(1, len(mean) + 1), mean, color=color, lw=0.7, alpha=0.35)
        if means:
            longest = max(len(mean) for mean in means)
            held = np.empty((len(means), longest))
            for row, mean in zip(held, means):
                row[: len(mean)] = mean
                row[len(mean) :] = mean[-1]
            episodes = np.arange(window, longest + 1)
            median = np.median(held[:, window - 1 :], axis=0)
            axis.plot(episodes, median, color=color, lw=2.2, label=f"{label} (n={len(runs)})")
        else:
            axis.plot([], [], color=color, lw=2.2, label=f"{label} (n={len(runs)}, none drawn)")
    axis.axhline(threshold, color="black", ls="--", lw=1.0, label=f"threshold {threshold:g}")
    axis.set_xlabel("episode")
    axis.set_ylabel(f"mean return of the last {window} episodes")
    if title:
        axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend(loc="best", fontsize="small")
    figure.tight_layout()
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        figure.savefig(temporary, format="png")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path
