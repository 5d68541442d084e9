"""Session 37: near-misses' other low-energy structures join the stage's competitors.

The ensemble stage learns one competitor per evaluation: the MFE structure of a design
that missed. This probe also gives it, for every evaluated near-miss (distance 1 to
``DMAX``), up to ``K`` more structures of that design's ensemble: its suboptimal
structures within ``DELTA`` kcal/mol of the MFE (``RNA.fold_compound.subopt``), or, with a
negative ``DELTA``, ``-DELTA`` Boltzmann samples (``pbacktrack``, nearly free after the
partition function the evaluation computes anyway). They join the competitors the
competitor walks and the neighbourhood steps rank against (the MFE structure stays the
newest), and an active neighbourhood re-ranks its candidates by them at once.

The stage alone on a dev set, with ``benchmarks.ensemble_stage``'s arguments::

    COMPETITORS=1.0,8,6 python docs/results/i14ab/competitor_probe.py \
        docs/results/i14n/dev/hard110.txt --seconds 10 --seed 11 --repair 1 \
        --rivals 0.5 --neighbourhood 16384 --decompose 0.3 --boost
    COMPETITORS=-20,8,6 python docs/results/i14ab/competitor_probe.py ...

Without ``COMPETITORS`` it is the harness unchanged.
"""

from __future__ import annotations

import os
import sys

import RNA

import envs.ensemble_search as es
import envs.folding as fo

_SETTING = os.environ.get("COMPETITORS", "")
#: The fold compound of the last evaluation (after its partition function).
_LAST: dict[str, object] = {}


def _partition(sequence: str, target_length: int, energy: fo.EnergyModel | None):
    """:func:`envs.folding._partition` with ``uniq_ML`` on (subopt and sampling need it)."""
    if len(sequence) != target_length:
        raise ValueError(f"sequence ({len(sequence)} nt) and target ({target_length}) differ")
    fo._activate(energy)
    details = RNA.md()
    details.uniq_ML = 1
    compound = RNA.fold_compound(sequence, details)
    structure, mfe = compound.mfe()
    compound.exp_params_rescale(mfe)
    _, ensemble_energy = compound.pf()
    _LAST["compound"], _LAST["sequence"] = compound, sequence
    return compound, structure, float(mfe), float(ensemble_energy)


def _install(delta: float, most: int, farthest: int) -> None:
    """Patch the stage: near-misses up to ``farthest`` add ``most`` structures each."""
    evaluate = es.EnsembleSearch._evaluate

    def _evaluate(self: es.EnsembleSearch, sequence: str) -> es.Candidate:
        candidate = evaluate(self, sequence)
        compound = _LAST.get("compound")
        if 0 < candidate.distance <= farthest and _LAST.get("sequence") == sequence:
            if delta < 0:
                found = [str(s) for s in compound.pbacktrack(int(-delta))]
            else:
                found = [s.structure for s in compound.subopt(int(round(delta * 100)), 1)]
            others: list[str] = []
            for structure in found:
                if structure not in (self.target, candidate.structure, *others):
                    others.append(structure)
                if len(others) >= most:
                    break
            for structure in reversed(others):
                self._remember_rival(structure)
            self._remember_rival(candidate.structure)  # the MFE structure stays the newest
            if self.hood is not None:
                for structure in others:
                    self.hood.add_competitor(structure)
        _LAST.clear()
        return candidate

    fo._partition = _partition
    es.EnsembleSearch._evaluate = _evaluate


if _SETTING:  # at import, so that the harness's spawned workers are patched too
    _delta, _most, _farthest = (float(value) for value in _SETTING.split(","))
    _install(_delta, int(_most), int(_farthest))

if __name__ == "__main__":
    from benchmarks.ensemble_stage import main

    sys.exit(main(sys.argv[1:]))
