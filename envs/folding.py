"""ViennaRNA folding: the only module of autorl that imports ``RNA``.

``RNA.fold`` holds the GIL: to fold in parallel use processes (see
:class:`envs.vector.RnaDesignVecEnv`), never threads.
"""

from __future__ import annotations

import zlib

import RNA

__all__ = [
    "energy_of_structure",
    "fold",
    "hamming",
    "inverse_fold",
    "mfe_structure",
    "vienna_version",
]


def fold(sequence: str) -> tuple[str, float]:
    """Fold a sequence to its minimum-free-energy structure.

    Args:
        sequence: RNA sequence over ``ACGU``.

    Returns:
        The MFE structure in dot-bracket notation and its free energy (kcal/mol).
    """
    structure, energy = RNA.fold(sequence)
    return structure, float(energy)


def mfe_structure(sequence: str) -> str:
    """Return only the MFE structure of a sequence."""
    return RNA.fold(sequence)[0]


def hamming(a: str, b: str) -> int:
    """Hamming distance between two equally long strings.

    Raises:
        ValueError: the strings differ in length.
    """
    if len(a) != len(b):
        raise ValueError(f"hamming distance needs equal lengths, got {len(a)} and {len(b)}")
    return sum(x != y for x, y in zip(a, b))


def energy_of_structure(sequence: str, structure: str) -> float:
    """Free energy (kcal/mol) of ``sequence`` folded into the given structure.

    Raises:
        ValueError: sequence and structure differ in length.
    """
    if len(sequence) != len(structure):
        raise ValueError(
            f"sequence ({len(sequence)} nt) and structure ({len(structure)}) differ in length"
        )
    return float(RNA.fold_compound(sequence).eval_structure(structure))


def vienna_version() -> str:
    """The ViennaRNA version in use."""
    return str(getattr(RNA, "__version__", "unknown"))


def inverse_fold(start: str, structure: str) -> tuple[str, float]:
    """Run ViennaRNA's RNAinverse (one adaptive walk) from a start sequence.

    The call cannot be interrupted in-process (signals fire only after it returns): enforce
    time limits by running it in a child process that is terminated. ViennaRNA's random
    generator is seeded from ``start`` first, so the result is a deterministic function of
    ``(start, structure)``.

    Args:
        start: Start sequence over ``ACGU``, as long as ``structure``; lowercase letters are
            kept fixed by RNAinverse.
        structure: Target dot-bracket structure.

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
    RNA.init_rand(zlib.crc32(start.encode("ascii")))
    sequence, distance = RNA.inverse_fold(start, structure)
    return sequence.upper(), float(distance)
