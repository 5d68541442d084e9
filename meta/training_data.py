"""Training targets for meta-training: MFE structures of random sequences.

Meta-LEARNA is trained on many structures and evaluated on the benchmark sets, so its
training targets must look like natural RNA structures without being any of them. This
module draws random sequences, folds them with ViennaRNA (through :mod:`envs.folding`)
and keeps the MFE structures that pass the filters below.

Sampling (one candidate):
    - Length uniform in ``[min_length, max_length]`` (default 50-450 nt, the span of the
      Rfam benchmarks; Rfam-Learn validation is near-uniform over 50-444 nt, median 246).
    - GC content uniform in ``[gc_min, gc_max]`` (default 0.45-0.65), then every base drawn
      independently with G = C = gc/2 and A = U = (1 - gc)/2. Random sequences in this
      range fold into structures whose median paired fraction is about 0.6, close to the
      0.62 of Rfam-Learn validation; AU-rich sequences fold into sparse structures and
      GC-rich ones into long stems.

Structure source (``source``): by default a candidate contributes its MFE structure;
``ensemble`` samples one structure from its Boltzmann ensemble instead; ``grammar`` keeps
only the sequence's length and draws a loop-grammar sketch of it, designs a sequence for
the sketch and contributes that sequence's MFE structure (:mod:`meta.structure_grammar`);
``mixture`` draws each candidate's source at random (see :mod:`meta.structure_sources`
for the measured statistics of each).

Filters (a candidate's structure is kept only if all hold):
    - at least ``min_pairs`` base pairs (default 5): no open chains, no lone hairpins;
    - paired fraction ``2 * pairs / length`` in ``[min_pair_fraction, max_pair_fraction]``
      (default 0.3-0.8), the bulk of natural structures;
    - not already accepted (duplicates are dropped; the first one is kept).

Reproducibility: candidate ``i`` draws everything from ``numpy.random.default_rng([seed,
i])`` and candidates are accepted strictly in index order, so the same settings give the
same structures whatever the number of worker processes.
"""

from __future__ import annotations

import math
import multiprocessing
import statistics
from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from envs.dot_bracket import Target
from envs.folding import mfe_structure, vienna_version
from meta.files import write_text_atomic
from meta.provenance import package_versions
from meta.structure_sources import (
    SOURCES,
    candidate_structure,
    format_mixture,
    parse_mixture,
)

#: Shortest allowed length: a pair needs a hairpin loop of >= 3 nt, so 10 nt hold 3 pairs.
MIN_LENGTH = 10
#: Candidates tried per requested structure before giving up (see :func:`generate_structures`).
MAX_TRIES_PER_TARGET = 50
#: Candidates tried at least before giving up, whatever the count.
MIN_TRIES = 500

_BASES = np.array(list("ACGU"))
_REASONS = {
    "pairs": "have fewer than {min_pairs} base pairs",
    "low": "have a paired fraction below {min_pair_fraction}",
    "high": "have a paired fraction above {max_pair_fraction}",
    "duplicate": "duplicate an accepted structure",
}

#: What a training file's header calls the structures of each source.
_KINDS = {
    "mfe": "MFE structures of random sequences",
    "ensemble": "Boltzmann-sampled structures of random sequences",
    "grammar": "MFE structures of sequences designed for loop-grammar sketches",
    "mixture": "MFE and Boltzmann-sampled structures of random sequences",
    "weighted mixture": "structures from a mixture of sources",
}

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class GeneratorSettings:
    """How training structures are sampled and filtered (see the module docstring).

    Attributes:
        count: Number of structures to generate.
        min_length: Shortest sequence length (nt).
        max_length: Longest sequence length (nt).
        gc_min: Lowest GC content of a candidate sequence.
        gc_max: Highest GC content of a candidate sequence.
        min_pair_fraction: Lowest paired fraction ``2 * pairs / length`` kept.
        max_pair_fraction: Highest paired fraction kept.
        min_pairs: Fewest base pairs kept.
        seed: Seed of all randomness (>= 0).
        source: Where a candidate's structure comes from: ``mfe`` (its MFE structure),
            ``ensemble`` (one structure sampled from its Boltzmann ensemble), ``grammar``
            (the MFE structure of a sequence designed for a loop-grammar sketch as long as
            the candidate) or ``mixture`` (any of them; see :mod:`meta.structure_sources`).
        ensemble_fraction: Probability that a ``mixture`` candidate is sampled from the
            ensemble, else folded to its MFE structure (other sources, and a mixture with
            ``mixture_weights``, ignore it).
        beta_scale: ViennaRNA's ``betaScale`` of the sampled ensembles (1: the Boltzmann
            ensemble at 37 C; below 1 colder, closer to MFE; above 1 hotter).
        mixture_weights: The sources of a ``mixture`` and their weights, e.g.
            ``mfe:0.4,ensemble:0.3,grammar:0.3`` (:func:`meta.structure_sources.parse_mixture`);
            empty: ``ensemble`` and ``mfe`` by ``ensemble_fraction``. Only with ``mixture``.
    """

    count: int
    min_length: int = 50
    max_length: int = 450
    gc_min: float = 0.45
    gc_max: float = 0.65
    min_pair_fraction: float = 0.3
    max_pair_fraction: float = 0.8
    min_pairs: int = 5
    seed: int = 0
    source: str = "mfe"
    ensemble_fraction: float = 0.5
    beta_scale: float = 1.0
    mixture_weights: str = ""

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"count must be >= 1, got {self.count}")
        if self.min_length < MIN_LENGTH:
            raise ValueError(
                f"min_length must be >= {MIN_LENGTH} nt (shorter sequences hold almost no "
                f"pairs: a hairpin loop needs >= 3 nt), got {self.min_length}"
            )
        if self.min_length > self.max_length:
            raise ValueError(
                f"min_length ({self.min_length}) must be <= max_length ({self.max_length})"
            )
        _check_range("gc_min", self.gc_min, "gc_max", self.gc_max)
        _check_range(
            "min_pair_fraction",
            self.min_pair_fraction,
            "max_pair_fraction",
            self.max_pair_fraction,
        )
        if self.min_pairs < 1:
            raise ValueError(
                f"min_pairs must be >= 1 (structures without pairs are dropped), "
                f"got {self.min_pairs}"
            )
        by_fraction = int(self.max_pair_fraction * self.max_length / 2)
        most_pairs = min((self.max_length - 3) // 2, by_fraction)
        if self.min_pairs > most_pairs:
            raise ValueError(
                f"min_pairs ({self.min_pairs}) cannot be met: a structure of at most "
                f"{self.max_length} nt with a paired fraction <= {self.max_pair_fraction} has "
                f"at most {most_pairs} pairs"
            )
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {self.source!r}")
        if not 0.0 <= self.ensemble_fraction <= 1.0:
            raise ValueError(f"ensemble_fraction must be in [0, 1], got {self.ensemble_fraction}")
        if not (math.isfinite(self.beta_scale) and self.beta_scale > 0):
            raise ValueError(f"beta_scale must be > 0, got {self.beta_scale}")
        if self.mixture_weights:
            if self.source != "mixture":
                raise ValueError(
                    f"mixture_weights needs source mixture, got source {self.source!r}"
                )
            parse_mixture(self.mixture_weights)

    def weights(self) -> dict[str, float] | None:
        """The normalised ``mixture_weights``, or None when not given."""
        return parse_mixture(self.mixture_weights) if self.mixture_weights else None

    def kind(self) -> str:
        """What a training file's header calls the structures."""
        return _KINDS["weighted mixture" if self.mixture_weights else self.source]

    def describe(self) -> str:
        """The settings as ``name=value`` pairs, e.g. for a file header.

        The source's settings are left out where they play no part (all of them for the
        ``mfe`` source), so the ``mfe`` source writes the same header as before they existed.
        """
        values = asdict(self)
        unused = {"mixture_weights"}
        weights = self.weights()
        if self.source == "mfe":
            unused |= {"source", "ensemble_fraction", "beta_scale"}
        elif self.source == "ensemble":
            unused.add("ensemble_fraction")
        elif self.source == "grammar":
            unused |= {"ensemble_fraction", "beta_scale"}
        elif weights is not None:
            values["mixture_weights"] = format_mixture(weights)
            unused = (
                {"ensemble_fraction"}
                if "ensemble" in weights
                else {"ensemble_fraction", "beta_scale"}
            )
        for name in unused:
            del values[name]
        return " ".join(f"{name}={value}" for name, value in values.items())


def _check_range(low_name: str, low: float, high_name: str, high: float) -> None:
    for label, value in ((low_name, low), (high_name, high)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{label} must be in [0, 1], got {value}")
    if low > high:
        raise ValueError(f"{low_name} ({low}) must be <= {high_name} ({high})")


def candidate_sequence(settings: GeneratorSettings, index: int) -> str:
    """The random sequence of candidate ``index`` (a pure function of seed and index).

    Args:
        settings: Length and GC-content ranges and the seed.
        index: Candidate number (>= 0).

    Returns:
        A sequence over ``ACGU``.
    """
    return _candidate(settings, index)[0]


def _candidate(settings: GeneratorSettings, index: int) -> tuple[str, np.random.Generator]:
    """Candidate ``index``'s sequence and its generator (for the structure source's draws)."""
    rng = np.random.default_rng([settings.seed, index])
    length = int(rng.integers(settings.min_length, settings.max_length, endpoint=True))
    gc = float(rng.uniform(settings.gc_min, settings.gc_max))
    probabilities = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]  # A C G U
    return "".join(_BASES[rng.choice(4, size=length, p=probabilities)]), rng


def paired_fraction(structure: str) -> float:
    """Fraction of sites that are paired: ``2 * pairs / length``."""
    return 2 * structure.count("(") / len(structure)


def rejection(settings: GeneratorSettings, structure: str) -> str | None:
    """Why a folded structure fails the filters (``pairs``, ``low``, ``high``), or None.

    Duplicates are not detected here; :func:`generate_structures` drops them.
    """
    if structure.count("(") < settings.min_pairs:
        return "pairs"
    fraction = paired_fraction(structure)
    if fraction < settings.min_pair_fraction:
        return "low"
    if fraction > settings.max_pair_fraction:
        return "high"
    return None


def fold_candidates(settings: GeneratorSettings, start: int, stop: int) -> list[str]:
    """Structures of candidates ``start`` to ``stop - 1`` (runs in worker processes)."""
    if settings.source == "mfe":
        return [mfe_structure(candidate_sequence(settings, i)) for i in range(start, stop)]
    weights = settings.weights()
    return [
        candidate_structure(
            *_candidate(settings, i),
            settings.source,
            settings.ensemble_fraction,
            settings.beta_scale,
            mixture_weights=weights,
        )
        for i in range(start, stop)
    ]


def _chunk_size(settings: GeneratorSettings, workers: int) -> int:
    """Candidates per task: about 0.25 s of folding, fewer when few structures are wanted."""
    mean_length = (settings.min_length + settings.max_length) / 2
    by_time = 54 / (mean_length / 100) ** 2  # RNA.fold here: ~215/s at 100 nt, ~ length^-2
    if settings.source != "mfe":
        by_time /= 3  # a sample or a grammar structure: ~3 folds
    by_count = math.ceil(2 * settings.count / (4 * workers))
    return max(1, min(int(by_time), by_count, 256))


class _Collector:
    """Accepts folded candidates in index order and counts why others were rejected."""

    def __init__(self, settings: GeneratorSettings):
        self.settings = settings
        self.accepted: list[str] = []
        self.seen: set[str] = set()
        self.rejected: Counter[str] = Counter()
        self.tried = 0
        self.limit = max(MAX_TRIES_PER_TARGET * settings.count, MIN_TRIES)

    @property
    def done(self) -> bool:
        return len(self.accepted) >= self.settings.count

    def add(self, structures: Sequence[str]) -> None:
        for structure in structures:
            if self.done:
                return
            if self.tried >= self.limit:
                raise ValueError(self._give_up_message())
            self.tried += 1
            reason = rejection(self.settings, structure)
            if reason is None and structure in self.seen:
                reason = "duplicate"
            if reason is None:
                self.seen.add(structure)
                self.accepted.append(structure)
            else:
                self.rejected[reason] += 1

    def _give_up_message(self) -> str:
        values = asdict(self.settings)
        reasons = ", ".join(
            f"{number} {_REASONS[reason].format(**values)}"
            for reason, number in self.rejected.most_common()
        )
        return (
            f"the filters reject nearly every candidate: after {self.tried} random sequences "
            f"only {len(self.accepted)} of {self.settings.count} structures were accepted "
            f"({reasons}); widen the lengths, GC content or pair-fraction range, or lower "
            "min_pairs or the count"
        )


def generate_structures(
    settings: GeneratorSettings,
    workers: int = 1,
    on_progress: ProgressCallback | None = None,
) -> list[str]:
    """Generate ``settings.count`` distinct training structures (see the module docstring).

    Args:
        settings: Sampling ranges, filters and seed.
        workers: Processes that fold in parallel (1 folds in this process). The result does
            not depend on it.
        on_progress: Called as ``on_progress(accepted, tried)`` after every chunk of
            candidates and once at the end.

    Returns:
        The structures, in the order they were accepted.

    Raises:
        ValueError: ``workers < 1``, or the filters reject nearly everything (after
            ``max(50 * count, 500)`` candidates; the message says which filter).
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    collector = _Collector(settings)
    chunk = _chunk_size(settings, workers)
    if workers == 1:
        start = 0
        while not collector.done:
            collector.add(fold_candidates(settings, start, start + chunk))
            start += chunk
            _report(on_progress, collector)
    else:
        _generate_parallel(settings, workers, chunk, collector, on_progress)
    _report(on_progress, collector)
    return collector.accepted


def _generate_parallel(
    settings: GeneratorSettings,
    workers: int,
    chunk: int,
    collector: _Collector,
    on_progress: ProgressCallback | None,
) -> None:
    """Fold chunks in a spawn process pool, consuming their results in index order."""
    context = multiprocessing.get_context("spawn")
    pending: deque[Future[list[str]]] = deque()
    start = 0
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        try:
            while not collector.done:
                while len(pending) < 2 * workers:
                    pending.append(pool.submit(fold_candidates, settings, start, start + chunk))
                    start += chunk
                collector.add(pending.popleft().result())
                _report(on_progress, collector)
        finally:
            for future in pending:
                future.cancel()


def _report(on_progress: ProgressCallback | None, collector: _Collector) -> None:
    if on_progress is not None:
        on_progress(len(collector.accepted), collector.tried)


def name_structures(structures: Sequence[str], prefix: str = "gen") -> list[Target]:
    """Give structures the ids ``{prefix}-000001``, ``{prefix}-000002``, ... in order."""
    return [Target(f"{prefix}-{number:06d}", s) for number, s in enumerate(structures, 1)]


def training_file_text(
    structures: Sequence[str], settings: GeneratorSettings | None = None, prefix: str = "gen"
) -> str:
    r"""The text of a training file: ``#`` header lines, then ``id<TAB>dot-bracket`` lines.

    The header records the generator settings (when given) and the autorl and ViennaRNA
    versions; it holds no time stamp, so the same settings give the same bytes.
    """
    kind = settings.kind() if settings is not None else _KINDS["mfe"]
    lines = [
        f"# autorl training targets: {len(structures)} {kind}",
        f"# autorl {package_versions()['autorl']}, ViennaRNA {vienna_version()}",
    ]
    if settings is not None:
        lines.append(f"# generator settings: {settings.describe()}")
    lines += [f"{t.id}\t{t.structure}" for t in name_structures(structures, prefix)]
    return "\n".join(lines) + "\n"


def write_training_file(
    path: str | Path,
    structures: Sequence[str],
    settings: GeneratorSettings | None = None,
    prefix: str = "gen",
) -> None:
    """Write structures as a target file (read back by :func:`envs.dot_bracket.read_targets`).

    Written atomically: a crash leaves either the old file or the whole new one.

    Args:
        path: The file to write (replaced if it exists).
        structures: Valid dot-bracket structures.
        settings: The generator settings, recorded in the header.
        prefix: Id prefix (``gen`` gives ``gen-000001``, ...).
    """
    write_text_atomic(training_file_text(structures, settings, prefix), path)


def length_and_pair_stats(structures: Sequence[str]) -> dict[str, float]:
    """Minimum, median and maximum length and median paired fraction of structures."""
    lengths = [len(s) for s in structures]
    return {
        "min_length": min(lengths),
        "median_length": statistics.median(lengths),
        "max_length": max(lengths),
        "median_pair_fraction": statistics.median(paired_fraction(s) for s in structures),
    }
