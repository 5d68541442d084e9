"""ViennaRNA folding: the only module of autorl that imports ``RNA``.

``RNA.fold`` holds the GIL: to fold in parallel use processes (see
:class:`envs.vector.RnaDesignVecEnv`), never threads.

Every function takes an optional :class:`EnergyModel` (temperature, parameter set,
dangles, lonely pairs). ViennaRNA keeps these settings in process-wide globals; this module
switches them only when a call asks for another model than the active one, so designing,
verifying and reporting under one model cost nothing extra, and every worker process
applies the model its jobs carry.
"""

from __future__ import annotations

import functools
import itertools
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import RNA

from envs.dot_bracket import pair_table

__all__ = [
    "CANONICAL_PAIRS",
    "DEFAULT_ENERGY",
    "ENERGY_PARAMETER_SETS",
    "MAX_INTERIOR_LOOP",
    "MIN_HAIRPIN",
    "EnergyModel",
    "check_band",
    "check_energy_model",
    "design_metrics",
    "energy_of_structure",
    "fold",
    "hamming",
    "inverse_fold",
    "mfe_structure",
    "sample_structures",
    "structure_energies",
    "suboptimal_structures",
    "vienna_version",
]

#: The energy parameter sets ViennaRNA ships, by the names ``--energy-params`` accepts.
ENERGY_PARAMETER_SETS = {
    "turner2004": "params_load_RNA_Turner2004",
    "andronescu2007": "params_load_RNA_Andronescu2007",
    "langdon2018": "params_load_RNA_Langdon2018",
}

#: The most unpaired bases of an interior loop or bulge the MFE algorithm considers
#: (ViennaRNA's compile-time ``MAXLOOP``); longer loops are never in an MFE structure.
MAX_INTERIOR_LOOP = int(RNA.MAXLOOP)
#: The fewest unpaired bases of a hairpin loop ViennaRNA folds.
MIN_HAIRPIN = int(RNA.md().min_loop_size)


@dataclass(frozen=True)
class EnergyModel:
    """The thermodynamic model designs are folded, verified and reported under.

    Attributes:
        temperature: Degrees Celsius (ViennaRNA's default 37).
        params: A parameter set ViennaRNA ships (:data:`ENERGY_PARAMETER_SETS`) or the path
            of a ViennaRNA parameter file (``.par``).
        dangles: Dangling-end treatment, 0 (none) or 2 (ViennaRNA's default ``-d2``).
        no_lonely_pairs: Forbid lonely (isolated) base pairs (``--noLP``).
    """

    temperature: float = 37.0
    params: str = "turner2004"
    dangles: int = 2
    no_lonely_pairs: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.temperature) and -50.0 <= self.temperature <= 150.0):
            raise ValueError(f"temperature must be in [-50, 150] °C, got {self.temperature}")
        if self.dangles not in (0, 2):
            raise ValueError(f"dangles must be 0 or 2, got {self.dangles!r}")
        if self.params not in ENERGY_PARAMETER_SETS:
            path = Path(self.params)
            if not path.is_file():
                raise ValueError(
                    f"unknown energy parameter set {self.params!r}: neither one of "
                    f"{', '.join(ENERGY_PARAMETER_SETS)} nor an existing file"
                )

    @property
    def is_default(self) -> bool:
        """Whether this is ViennaRNA's default model."""
        return self == DEFAULT_ENERGY

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the settings (recorded in outputs and results)."""
        return {
            "temperature": self.temperature,
            "energy_params": self.params,
            "dangles": self.dangles,
            "no_lonely_pairs": self.no_lonely_pairs,
        }


DEFAULT_ENERGY = EnergyModel()
_active: EnergyModel = DEFAULT_ENERGY


def _activate(model: EnergyModel | None) -> None:
    """Make ``model`` (None: the default) ViennaRNA's process-wide model, if it is not yet."""
    global _active
    model = model or DEFAULT_ENERGY
    if model == _active:
        return
    if model.params != _active.params:
        if model.params in ENERGY_PARAMETER_SETS:
            getattr(RNA, ENERGY_PARAMETER_SETS[model.params])()
        else:
            _check_parameter_file(model.params)
            # ViennaRNA keeps every value a file leaves out: start from the default set, so
            # a partial file means the same whatever model was active before.
            RNA.params_load_RNA_Turner2004()
            _active = replace(_active, params=DEFAULT_ENERGY.params)
            if not RNA.params_load(str(model.params)):
                raise ValueError(f"{model.params}: ViennaRNA cannot load this parameter file")
    RNA.cvar.temperature = float(model.temperature)
    RNA.cvar.dangles = int(model.dangles)
    RNA.cvar.noLP = int(model.no_lonely_pairs)
    _active = model


#: ViennaRNA's model details of each energy model made active so far (``RNA.md()`` costs
#: ~2 us, a tenth of an evaluation compound for two structures).
_details: dict[EnergyModel, Any] = {}


def _active_details() -> Any:
    """``RNA.md()`` of the active model (only :func:`_activate` changes the globals it reads)."""
    details = _details.get(_active)
    if details is None:
        details = _details[_active] = RNA.md()
    return details


#: The first line of every ViennaRNA 2.x parameter file (``RNA.params_save`` writes it).
PARAMETER_FILE_HEADER = "## RNAfold parameter file v2.0"


def _check_parameter_file(path: str) -> None:
    """Refuse a file that is unreadable or not a ViennaRNA 2 parameter file."""
    try:
        with open(path, encoding="utf-8") as file:
            first = next((line.strip() for line in file if line.strip()), "")
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: cannot read the parameter file ({error})") from None
    if not first.startswith(PARAMETER_FILE_HEADER):
        raise ValueError(
            f"{path}:1: not a ViennaRNA energy parameter file (it must start with "
            f"{PARAMETER_FILE_HEADER!r})"
        )


def check_energy_model(model: EnergyModel) -> None:
    """Load ``model`` once, so that an unreadable parameter file is refused before any work.

    ViennaRNA accepts any file silently (it keeps the values it does not find), so the
    file must also start with the header every ViennaRNA 2 parameter file has.

    Raises:
        ValueError: the parameter file cannot be read, is not a ViennaRNA 2 parameter file,
            or ViennaRNA cannot load it.
    """
    previous = _active
    try:
        _activate(model)
    finally:
        _activate(previous)


def fold(sequence: str, energy: EnergyModel | None = None) -> tuple[str, float]:
    """Fold a sequence to its minimum-free-energy structure.

    Args:
        sequence: RNA sequence over ``ACGU``.
        energy: The energy model (None: ViennaRNA's default).

    Returns:
        The MFE structure in dot-bracket notation and its free energy (kcal/mol).
    """
    _activate(energy)
    structure, mfe = RNA.fold(sequence)
    return structure, float(mfe)


def mfe_structure(sequence: str, energy: EnergyModel | None = None) -> str:
    """Return only the MFE structure of a sequence (under ``energy``)."""
    _activate(energy)
    return RNA.fold(sequence)[0]


def suboptimal_structures(
    sequence: str, band: float, energy: EnergyModel | None = None
) -> list[tuple[str, float]]:
    """Every structure of a sequence within ``band`` kcal/mol of its MFE, lowest first.

    ViennaRNA's suboptimal folding (Wuchty et al. 1999, the unique multiloop
    decomposition) at about the cost of one MFE fold for a narrow band (100 nt, 1 kcal/mol:
    ~40 structures, measured). The number of structures grows exponentially with the
    band, so keep it narrow. Degenerate structures (equal energies) may come in any order
    among themselves, so the first need not be the structure :func:`fold` returns.

    Args:
        sequence: RNA sequence over ``ACGU``.
        band: Energy band above the MFE, kcal/mol (>= 0).
        energy: The energy model.

    Returns:
        ``(structure, free energy)`` pairs, by increasing energy.

    Raises:
        ValueError: a negative or non-finite band.
    """
    check_band(band)
    _activate(energy)
    details = RNA.md()  # takes the active model's globals
    details.uniq_ML = 1  # suboptimal backtracking needs the unique multiloop decomposition
    compound = RNA.fold_compound(sequence, details)
    solutions = compound.subopt(int(round(band * 100)), sorted=1)  # by energy, ascending
    return [(str(s.structure), float(s.energy)) for s in solutions]


def check_band(band: float) -> None:
    """Refuse an energy band :func:`suboptimal_structures` cannot take.

    Raises:
        ValueError: a negative or non-finite band.
    """
    if not (math.isfinite(band) and band >= 0):
        raise ValueError(f"band must be a finite number >= 0, got {band}")


def sample_structures(
    sequence: str,
    count: int,
    rng_seed: int,
    energy: EnergyModel | None = None,
    beta_scale: float = 1.0,
) -> list[str]:
    """Sample structures of a sequence from its Boltzmann ensemble (stochastic backtracking).

    ViennaRNA's random generator is seeded with ``rng_seed`` first, so the result is a
    deterministic function of the arguments (in any process).

    Args:
        sequence: RNA sequence over ``ACGU``.
        count: Number of structures to draw (with replacement, >= 1).
        rng_seed: Seed of ViennaRNA's random generator (0 <= seed < 2**32).
        energy: The energy model.
        beta_scale: Scales the temperature of the Boltzmann weights only (ViennaRNA's
            ``betaScale``; energies stay those of ``energy``): 1 samples the Boltzmann
            ensemble, smaller values sample colder ensembles that come closer to the MFE
            structure, larger ones hotter, more open ones.

    Returns:
        ``count`` structures in dot-bracket notation.

    Raises:
        ValueError: ``count < 1``, ``beta_scale <= 0`` or a seed out of range.
    """
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    if not (math.isfinite(beta_scale) and beta_scale > 0):
        raise ValueError(f"beta_scale must be > 0, got {beta_scale}")
    if not 0 <= rng_seed < 2**32:
        raise ValueError(f"rng_seed must be in [0, 2**32), got {rng_seed}")
    _activate(energy)
    details = RNA.md()  # takes the active model's globals
    details.uniq_ML = 1  # stochastic backtracking needs the unique multiloop decomposition
    details.betaScale = float(beta_scale)
    compound = RNA.fold_compound(sequence, details)
    _, mfe = compound.mfe()
    compound.exp_params_rescale(mfe)
    compound.pf()
    RNA.init_rand(int(rng_seed))
    return [str(s) for s in compound.pbacktrack(int(count))]


def hamming(a: str, b: str) -> int:
    """Hamming distance between two equally long strings.

    Raises:
        ValueError: the strings differ in length.
    """
    if len(a) != len(b):
        raise ValueError(f"hamming distance needs equal lengths, got {len(a)} and {len(b)}")
    return sum(x != y for x, y in zip(a, b))


#: Loop sizes whose special hairpins :func:`special_hairpins` returns. Turner 2004's
#: tetraloops are 2.5-5.5 kcal/mol against 3.2-4.8 for the same closing pair (C-G) by the
#: loop-size and mismatch rules, its hexaloops 1.8-3.6 against 4.2-5.3 (A-U); its two
#: triloops are penalties (6.8, 6.9 against 5.4 and 5.9), so triloops are left out.
SPECIAL_HAIRPIN_SIZES = (4, 6)


@functools.lru_cache(maxsize=8)
def special_hairpins(energy: EnergyModel | None = None) -> dict[int, tuple[str, ...]]:
    """The energy model's special hairpin loops, closing pair included, by loop size.

    ViennaRNA's parameter sets tabulate hairpins whose free energy is not the loop-size
    rule's (Turner 2004: 16 tetraloops such as ``CUUCGG``, 4 hexaloops); a design gets
    their bonus only when the closing pair and every loop letter match at once, which
    single-site mutations rarely reach.

    Returns:
        For each size of :data:`SPECIAL_HAIRPIN_SIZES`, the sequences (``size + 2``
        letters: closing pair's 5' base, loop, closing pair's 3' base); a parameter file
        without such a table gives none.
    """
    _activate(energy)
    params = RNA.param(RNA.md())
    tables = {4: params.Tetraloops, 6: params.Hexaloops}
    return {
        size: tuple(entry for entry in tables[size].split() if len(entry) == size + 2)
        for size in SPECIAL_HAIRPIN_SIZES
    }


def hairpin_energy(hairpin: str, energy: EnergyModel | None = None) -> float:
    """Free energy (kcal/mol) of a hairpin loop: its closing pair's 5' base, loop, 3' base.

    Raises:
        ValueError: fewer than three loop letters, or a closing pair that is not canonical.
    """
    if len(hairpin) < 5 or hairpin[0] + hairpin[-1] not in CANONICAL_PAIRS:
        raise ValueError(
            f"a hairpin is a canonical closing pair around at least 3 loop letters, got {hairpin!r}"
        )
    _activate(energy)
    compound = RNA.fold_compound(hairpin, _active_details(), RNA.OPTION_EVAL_ONLY)
    return compound.eval_hp_loop(1, len(hairpin)) / 100.0


@functools.lru_cache(maxsize=8)
def bonus_hairpins(energy: EnergyModel | None = None) -> dict[int, tuple[str, ...]]:
    """The special hairpins (:func:`special_hairpins`) that are bonuses, lowest first.

    An entry is a bonus when its free energy is below every hairpin of its size with the
    same closing pair that the table does not list (whose energy the loop-size and
    mismatch rules give, whatever the inner loop letters). Under Turner 2004 these are 4
    of the 16 tetraloops (``CCUCGG`` 2.5 kcal/mol, ``CUCCGG``, ``CUACGG``, ``CUGCGG``,
    against 3.2 for a C-G closing pair) and the 4 hexaloops (A-U closing pair; 1.8-3.6
    against 4.2). Writing another entry would raise the loop's energy.
    """
    tables = special_hairpins(energy)
    bonuses = {}
    for size, entries in tables.items():
        listed = set(entries)
        plain = {  # per closing pair
            closing: _plain_hairpin_minimum(closing, size, listed, energy)
            for closing in {e[0] + e[-1] for e in entries}
        }
        ranked = sorted((hairpin_energy(e, energy), e) for e in entries)
        bonuses[size] = tuple(e for value, e in ranked if value < plain[e[0] + e[-1]])
    return bonuses


def _plain_hairpin_minimum(
    closing: str, size: int, listed: set[str], energy: EnergyModel | None
) -> float:
    """The lowest energy of a hairpin of ``size`` loop letters closed by ``closing``.

    Only hairpins not in ``listed`` count; their energy depends on the closing pair and
    its mismatch alone, so one choice of the inner letters per mismatch is enough.
    """
    values = []
    for first, last in itertools.product("ACGU", repeat=2):
        for inner in ("A", "U", "G", "C"):
            hairpin = closing[0] + first + inner * (size - 2) + last + closing[1]
            if hairpin not in listed:
                values.append(hairpin_energy(hairpin, energy))
                break
    return min(values)


def mismatched_sites(folded: str, target: str) -> list[int]:
    """The positions where two equally long structures differ (0-based, ascending)."""
    return [i for i, (a, b) in enumerate(zip(folded, target)) if a != b]


def energy_of_structure(sequence: str, structure: str, energy: EnergyModel | None = None) -> float:
    """Free energy (kcal/mol) of ``sequence`` folded into the given structure.

    Raises:
        ValueError: sequence and structure differ in length.
    """
    return structure_energies(sequence, [structure], energy)[0]


def structure_energies(
    sequence: str, structures: list[str], energy: EnergyModel | None = None
) -> list[float]:
    """Free energies (kcal/mol) of ``sequence`` folded into each of ``structures``.

    No dynamic programming: a few microseconds per structure, thousands of times cheaper
    than folding the sequence. The competitor walks and neighbourhoods of
    :mod:`envs.ensemble_search` score their candidates by it, hundreds of thousands of
    times a minute, so each call's fixed cost counts: see :func:`_evaluator`.

    A structure with a base pair the sequence cannot form (not AU, GC or GU) gets
    ``inf``: it is never the sequence's MFE structure. (ViennaRNA's evaluation scores
    such a pair as a "non-standard" one, often at a lower energy than the sequence's MFE,
    which made a mutant that breaks a competitor's pair look as if the competitor still
    beat the target.)

    Raises:
        ValueError: a structure is not as long as the sequence.
    """
    pairs = _pair_sites(tuple(structures))
    if pairs.lengths - {len(sequence)}:
        length = next(len(s) for s in structures if len(s) != len(sequence))
        raise ValueError(f"sequence ({len(sequence)} nt) and structure ({length}) differ in length")
    _activate(energy)
    evaluate = _evaluator(sequence)
    broken = _unformable(sequence, pairs)
    return [
        math.inf if unformable else float(evaluate(structure))
        for unformable, structure in zip(broken, structures)
    ]


def _evaluator(sequence: str) -> Callable[[str], float]:
    """The free energy of ``sequence`` in a structure, under the active model.

    ViennaRNA's ``energy_of_structure`` (its interface from before fold compounds, still in
    2.x) keeps one evaluation compound between calls: about 12.5 us when the sequence
    differs from the last call's (up to ~100 nt), 2-3 us for another structure of the same
    one, and it follows the model's globals. A new evaluation-only fold compound per call
    costs ~18 us to make and ~10 to free. On one-site mutants of a 97-nt near-miss, two
    structures a call: 29.4 against 37.6 us (session 66,
    ``docs/results/i14bd/dev/energy_calls.py``). Both give the same energies under every
    model, switched between calls (``tests/test_energy.py``); without
    ``energy_of_structure`` the fold compound serves. The GIL is held through either call,
    so threads cannot interleave on the shared compound.
    """
    if _ENERGY_OF_STRUCTURE is None:
        return RNA.fold_compound(sequence, _active_details(), RNA.OPTION_EVAL_ONLY).eval_structure
    evaluate = _ENERGY_OF_STRUCTURE
    return lambda structure: evaluate(sequence, structure, -1)  # -1: no messages


#: ViennaRNA's ``energy_of_structure``, or None where this build has none (see
#: :func:`_evaluator`).
_ENERGY_OF_STRUCTURE: Callable[[str, str, int], float] | None = getattr(
    RNA, "energy_of_structure", None
)


#: The base pairs ViennaRNA folds: Watson-Crick and GU wobble (a target pair must be one
#: of them in any design).
CANONICAL_PAIRS = ("GC", "CG", "AU", "UA", "GU", "UG")
#: ``_FORMS[a, b]``: whether letters of ASCII codes ``a`` and ``b`` form a canonical pair.
_FORMS = np.zeros((256, 256), dtype=bool)
for _pair in CANONICAL_PAIRS:
    _FORMS[ord(_pair[0]), ord(_pair[1])] = True
_FORMS_FLAT = _FORMS.ravel()


class _PairSites(NamedTuple):
    """The pairs of a list of structures, for :func:`_unformable`."""

    #: The 5' and 3' sites of every pair of every structure, and the structure of each.
    fives: np.ndarray
    threes: np.ndarray
    owners: np.ndarray
    #: How many structures there are, and their lengths.
    count: int
    lengths: frozenset[int]


def _unformable(sequence: str, pairs: _PairSites) -> list[bool]:
    """Per structure, whether it has a pair ``sequence`` cannot close (not AU, GC or GU).

    One table lookup over the pairs of all the structures: a Python loop over them cost
    more than ViennaRNA's evaluation of the structures (~60 % of
    :func:`structure_energies` for 65 structures of 100-400 nt).
    """
    letters = sequence.upper().replace("T", "U").encode("ascii", "replace")
    codes = np.frombuffer(letters, dtype=np.uint8).astype(np.intp)
    forms = _FORMS_FLAT.take(codes.take(pairs.fives) * 256 + codes.take(pairs.threes))
    if forms.all():
        return [False] * pairs.count
    broken = np.zeros(pairs.count, dtype=bool)
    broken[pairs.owners[~forms]] = True
    return broken.tolist()


@functools.lru_cache(maxsize=64)
def _pair_sites(structures: tuple[str, ...]) -> _PairSites:
    """The pairs of all ``structures``.

    Cached: the competitor searches evaluate many sequences in one list of structures.
    """
    fives, threes, owners = ([np.zeros(0, np.intp)] for _ in range(3))
    for index, structure in enumerate(structures):
        table = np.asarray(pair_table(structure))
        five = np.flatnonzero(table > np.arange(len(table)))
        fives.append(five)
        threes.append(table[five])
        owners.append(np.full(len(five), index))
    return _PairSites(
        np.concatenate(fives).astype(np.intp),
        np.concatenate(threes).astype(np.intp),
        np.concatenate(owners).astype(np.intp),
        len(structures),
        frozenset(len(structure) for structure in structures),
    )


def _partition(
    sequence: str, target_length: int, energy: EnergyModel | None
) -> tuple[Any, str, float, float]:
    """A fold compound after its MFE and (rescaled) partition function.

    Returns:
        ``(compound, mfe_structure, mfe, ensemble_energy)``.

    Raises:
        ValueError: the sequence is not as long as the target.
    """
    compound, structure, mfe = _mfe_compound(sequence, target_length, energy)
    return compound, structure, mfe, _ensemble_energy(compound, mfe)


def _ensemble_energy(compound: Any, mfe: float) -> float:
    """The ensemble free energy of a fold compound after its MFE fold (then its bpp).

    The Boltzmann factors are rescaled by the MFE first, so long sequences do not overflow.
    """
    compound.exp_params_rescale(mfe)
    _, ensemble_energy = compound.pf()
    return float(ensemble_energy)


def _mfe_compound(
    sequence: str, target_length: int, energy: EnergyModel | None
) -> tuple[Any, str, float]:
    """A fold compound after its MFE fold: ``(compound, mfe_structure, mfe)``.

    Raises:
        ValueError: the sequence is not as long as the target.
    """
    if len(sequence) != target_length:
        raise ValueError(f"sequence ({len(sequence)} nt) and target ({target_length}) differ")
    _activate(energy)
    compound = RNA.fold_compound(sequence)
    structure, mfe = compound.mfe()
    return compound, structure, float(mfe)


def design_metrics(sequence: str, target: str, energy: EnergyModel | None = None) -> dict[str, Any]:
    """Quality of a design beyond its MFE structure (one partition function, ~3 folds).

    Args:
        sequence: The designed sequence.
        target: The target structure.
        energy: The energy model.

    Returns:
        ``mfe_structure``, ``mfe_energy`` (kcal/mol), ``distance`` (Hamming, MFE vs
        target), ``probability`` (of the target structure in the Boltzmann ensemble) and
        ``ensemble_defect`` (normalized: the expected fraction of sites paired unlike the
        target, NUPACK's and SAMFEO's measure).

    Raises:
        ValueError: sequence and target differ in length.
    """
    compound, structure, mfe, _ = _partition(sequence, len(target), energy)
    return {
        "mfe_structure": structure,
        "mfe_energy": round(float(mfe), 2),
        "distance": hamming(structure, target),
        "probability": float(compound.pr_structure(target)),
        "ensemble_defect": float(compound.ensemble_defect(target)),
    }


@functools.lru_cache(maxsize=64)
def _partners(target: str) -> Any:
    """The pair table of ``target`` (read-only; the searches evaluate one target many times)."""
    table = pair_table(target)
    table.flags.writeable = False
    return table


def _site_defects(compound: Any, partners: Any) -> Any:
    """Unclipped positional defects from a fold compound whose partition function is done.

    The whole pair-probability matrix (1-based, upper triangle) is read as one array:
    about a fifth of the time of reading the sparse pair list entry by entry at 100 nt,
    and exact (no probability cutoff).
    """
    upper = np.array(compound.bpp())[1:, 1:]
    both = upper + upper.T
    paired = both.sum(axis=1)
    correct = both[np.arange(len(partners)), np.maximum(partners, 0)]
    return np.where(partners >= 0, 1.0 - correct, paired)


def positional_defects(
    sequence: str, target: str, energy: EnergyModel | None = None, screen: int | None = None
) -> tuple[str, Any, float]:
    """MFE structure, positional ensemble defects and target probability of a design.

    One MFE fold and one partition function (about 3 folds' time). The positional defect
    of site i is the probability that i is not paired as the target says: ``1 - p(i, j)``
    when the target pairs i with j, ``sum_k p(i, k)`` when it leaves i unpaired. Their mean
    is the normalized ensemble defect.

    Args:
        sequence: The design (ACGU).
        target: The target structure (its pair table is computed once per target).
        energy: The energy model.
        screen: When the MFE structure is more than this many sites (Hamming distance)
            from the target, the partition function is skipped and :func:`mfe_defects`'
            values are returned instead (None: never). A search that only wants the
            ensemble of designs close to the target saves about two thirds of an
            evaluation on the others; the caller tells the two apart by the distance.

    Returns:
        ``(mfe_structure, defects, log_probability)``: ``defects`` a float array, one per
        site, in [0, 1]; ``log_probability`` the natural log of the target structure's
        probability in the ensemble, ``-(E(target) - G) / kT`` (computed from the energies,
        so it stays finite on long targets whose probability underflows).
    """
    compound, structure, mfe = _mfe_compound(sequence, len(target), energy)
    if screen is not None and hamming(structure, target) > screen:
        return _mfe_values(compound, structure, mfe, target)
    ensemble_energy = _ensemble_energy(compound, mfe)
    defects = _site_defects(compound, _partners(target))
    k_t = compound.exp_params.kT / 1000.0  # kcal/mol
    log_probability = -(compound.eval_structure(target) - ensemble_energy) / k_t
    return structure, np.clip(defects, 0.0, 1.0), min(0.0, float(log_probability))


#: Weight of the energy gap in :func:`mfe_defects`' per-site values: a gap of
#: :data:`MFE_GAP_CAP` kcal/mol or more adds this much to every site, so that designs at
#: one distance are ranked by how far the target's free energy is above the MFE, and a
#: mismatched site (1) still outweighs the gap on any target of up to 1,000 sites.
MFE_GAP_WEIGHT = 1e-3

#: Energy gap (kcal/mol) at which :func:`mfe_defects`' tie-breaker saturates.
MFE_GAP_CAP = 20.0


def mfe_defects(
    sequence: str, target: str, energy: EnergyModel | None = None
) -> tuple[str, Any, float]:
    """MFE structure and per-site mismatches of a design: :func:`positional_defects` cheaply.

    One MFE fold and one energy evaluation, no partition function: at 400 nt about 0.26 s
    against 0.9 s for :func:`positional_defects` on this project's machine (0.06 s
    against 0.17 s at 200 nt). The per-site value is 1 where the MFE structure pairs the
    site unlike the target and 0 elsewhere, plus :data:`MFE_GAP_WEIGHT` times the energy
    gap ``E(target) - E(MFE)`` (capped at :data:`MFE_GAP_CAP`, shared by every site): the
    mean ranks designs by distance, then by the gap. The third value, ``-gap / kT``, is an
    upper bound of ``ln p(target)`` (the MFE's own weight is below the ensemble's).

    Args:
        sequence: The design (ACGU).
        target: The target structure.
        energy: The energy model.

    Returns:
        ``(mfe_structure, values, log_probability_bound)`` in the shapes of
        :func:`positional_defects`.

    Raises:
        ValueError: sequence and target differ in length.
    """
    compound, structure, mfe = _mfe_compound(sequence, len(target), energy)
    return _mfe_values(compound, structure, mfe, target)


def _mfe_values(compound: Any, structure: str, mfe: float, target: str) -> tuple[str, Any, float]:
    """:func:`mfe_defects`' result from a fold compound after its MFE fold."""
    gap = max(0.0, float(compound.eval_structure(target)) - mfe)
    wrong = mismatched_pairs(structure, target)
    values = np.clip(wrong + MFE_GAP_WEIGHT * min(gap, MFE_GAP_CAP) / MFE_GAP_CAP, 0.0, 1.0)
    k_t = (compound.params.temperature + RNA.K0) * RNA.GASCONST / 1000.0  # kcal/mol
    return structure, values, -gap / k_t


def mismatched_pairs(structure: str, target: str) -> Any:
    """1.0 at every site ``structure`` pairs unlike ``target``, 0.0 elsewhere.

    Unlike means another partner, or paired where the target is unpaired and the reverse:
    the MFE-only defect vector of :func:`mfe_defects` without its gap tie-breaker.
    """
    return (pair_table(structure) != _partners(target)).astype(float)


def vienna_version() -> str:
    """The ViennaRNA version in use."""
    return str(getattr(RNA, "__version__", "unknown"))


def inverse_fold(
    start: str, structure: str, energy: EnergyModel | None = None
) -> tuple[str, float]:
    """Run ViennaRNA's RNAinverse (one adaptive walk) from a start sequence.

    The call cannot be interrupted in-process (signals fire only after it returns): enforce
    time limits by running it in a child process that is terminated. ViennaRNA's random
    generator is seeded from ``start`` first, so the result is a deterministic function of
    ``(start, structure)``.

    Args:
        start: Start sequence over ``ACGU``, as long as ``structure``; lowercase letters are
            kept fixed by RNAinverse.
        structure: Target dot-bracket structure.
        energy: The energy model.

    Returns:
        The sequence found (uppercase) and RNAinverse's own distance (0 when it reports
        success; verify with :func:`mfe_structure`).

    Raises:
        ValueError: start and structure differ in length.
    """
    if len(start) != len(structure):
        raise ValueError(
            f"start sequence ({len(start)} nt) and structure ({len(structure)}) differ in length"
        )
    _activate(energy)
    RNA.init_rand(zlib.crc32(start.encode("ascii")))
    sequence, distance = RNA.inverse_fold(start, structure)
    return sequence.upper(), float(distance)
