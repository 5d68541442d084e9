"""Session 37: the probability objective without base-pair probabilities until needed.

With ``--objective probability`` the pool ranks designs by ``-ln p(target) / n``, which
needs the partition function but not the base-pair probabilities (ViennaRNA's outside
pass, ``compute_bpp``): at 400 nt an evaluation then costs 0.56 s instead of 0.90 s
(MFE 0.26 s). Only a design drawn as a parent needs its positional defects (to draw
the site it mutates); this probe computes them then, once, from a second partition
function rescaled by the design's known MFE (0.64 s at 400 nt). On the stage alone about
15-30 % of the evaluated designs were ever drawn as parents (hard110 and long20 dev sets).

Usage (``LAZY=1`` on, otherwise the harness unchanged; the harness's arguments)::

    LAZY=1 python docs/results/i14ab/lazy_defects_probe.py docs/results/i14z/dev/long20.txt \
        --seconds 20 --seed 11 --repair 1 --rivals 0.5 --neighbourhood 16384 \
        --decompose 0.3 --boost --objective probability
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
import RNA

import envs.ensemble_search as es
import envs.folding as fo


def _without_pairs(sequence: str, target: str, energy: fo.EnergyModel | None):
    """MFE structure, MFE and ``ln p(target)``: one MFE fold and a partition function."""
    fo._activate(energy)
    details = RNA.md()
    details.compute_bpp = 0
    compound = RNA.fold_compound(sequence, details)
    structure, mfe = compound.mfe()
    compound.exp_params_rescale(mfe)
    _, ensemble_energy = compound.pf()
    k_t = compound.exp_params.kT / 1000.0
    log_probability = -(compound.eval_structure(target) - ensemble_energy) / k_t
    return structure, float(mfe), min(0.0, float(log_probability))


def _defects(sequence: str, target: str, energy: fo.EnergyModel | None, mfe: float):
    """Positional defects from a partition function rescaled by the known ``mfe``."""
    fo._activate(energy)
    partners = fo._partners(target)
    compound = RNA.fold_compound(sequence)
    compound.exp_params_rescale(mfe)
    compound.pf()
    return np.clip(fo._site_defects(compound, partners), 0.0, 1.0)


def _install() -> None:
    """Patch the stage: lazy defects under the probability objective."""
    evaluate, mutate = es.EnsembleSearch._evaluate, es.EnsembleSearch._mutate
    mfes: dict[str, float] = {}

    def _evaluate(self: es.EnsembleSearch, sequence: str) -> es.Candidate:
        if self.kinds != ("probability",):
            return evaluate(self, sequence)
        began = time.monotonic()
        structure, mfe, log_probability = _without_pairs(sequence, self.target, self.energy)
        probability = -log_probability / len(sequence)
        distance = fo.hamming(structure, self.target)
        candidate = es.Candidate(sequence, structure, distance, probability, None, probability)
        mfes[sequence] = mfe
        self.seen.add(sequence)
        self.evaluations += 1
        if distance > 0:
            self._remember_rival(structure)
        if self.best is None or candidate.rank < self.best.rank:
            self.best = candidate
            self._best_since = self.evaluations
        for pool, kind in zip(self.pools, self.kinds):
            if self._enter(pool, candidate, kind):
                self.kick = 0
        seconds = time.monotonic() - began
        first = self.evaluations == 1
        self._step_seconds = seconds if first else 0.8 * self._step_seconds + 0.2 * seconds
        return candidate

    def _mutate(self: es.EnsembleSearch, parent: es.Candidate, rule: str) -> str | None:
        if parent.defects is None:
            mfe = mfes.get(parent.sequence)
            if mfe is None:
                mfe = RNA.fold_compound(parent.sequence).mfe()[1]
            defects = _defects(parent.sequence, self.target, self.energy, mfe)
            object.__setattr__(parent, "defects", defects)
        return mutate(self, parent, rule)

    es.EnsembleSearch._evaluate = _evaluate
    es.EnsembleSearch._mutate = _mutate


if os.environ.get("LAZY"):  # at import, so that the harness's spawned workers are patched too
    _install()

if __name__ == "__main__":
    from benchmarks.ensemble_stage import main

    sys.exit(main(sys.argv[1:]))
