"""Session 42's timing of :func:`envs.folding.positional_defects`, before and after.

Times, on random designs of several lengths (each against another random sequence's MFE
structure), one full evaluation of the ensemble stage with today's
:func:`envs.folding.positional_defects` (the pair-probability matrix read as one array)
and with session 41's (the sparse pair list read entry by entry, probabilities below
1e-6 left out), alternating the two so that a slower moment of the machine hits both.

Usage (from the project's root)::

    python docs/results/i14ag/defects_timing.py [--designs 40] [--rounds 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from envs.folding import _partition, _partners, mfe_structure, positional_defects


def pair_list_defects(sequence: str, target: str) -> tuple[str, np.ndarray, float]:
    """Session 41's positional defects (sparse pair list, cutoff 1e-6)."""
    partners = _partners(target)
    compound, structure, _, ensemble_energy = _partition(sequence, len(target), None)
    entries = [(e.i - 1, e.j - 1, e.p) for e in compound.plist_from_probs(1e-6) if e.type == 0]
    paired, correct = np.zeros(len(sequence)), np.zeros(len(sequence))
    if entries:
        i, j, p = (np.asarray(column) for column in zip(*entries))
        i, j = i.astype(np.int64), j.astype(np.int64)
        np.add.at(paired, i, p)
        np.add.at(paired, j, p)
        hit = partners[i] == j
        np.add.at(correct, i[hit], p[hit])
        np.add.at(correct, j[hit], p[hit])
    defects = np.where(partners >= 0, 1.0 - correct, paired)
    k_t = compound.exp_params.kT / 1000.0
    log_probability = -(compound.eval_structure(target) - ensemble_energy) / k_t
    return structure, np.clip(defects, 0.0, 1.0), min(0.0, float(log_probability))


def main() -> None:
    """Print milliseconds per evaluation for both versions and the largest difference."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--designs", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print("length  pair list (ms)  matrix (ms)  saved  max |difference|")
    for length in (50, 100, 150, 200):
        pairs = []
        for _ in range(args.designs):
            sequence = "".join(rng.choice(list("ACGU"), length))
            other = "".join(rng.choice(list("ACGU"), length))
            pairs.append((sequence, mfe_structure(other)))
        times = {pair_list_defects: 0.0, positional_defects: 0.0}
        for _ in range(args.rounds):
            for evaluate in times:
                began = time.perf_counter()
                for sequence, target in pairs:
                    evaluate(sequence, target)
                times[evaluate] += time.perf_counter() - began
        old, new = (1000 * t / (args.rounds * args.designs) for t in times.values())
        gap = max(
            float(np.abs(pair_list_defects(s, t)[1] - positional_defects(s, t)[1]).max())
            for s, t in pairs
        )
        print(f"{length:6d}  {old:14.2f}  {new:11.2f}  {1 - new / old:5.0%}  {gap:.1e}")


if __name__ == "__main__":
    main()
