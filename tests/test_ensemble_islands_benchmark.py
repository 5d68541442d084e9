"""benchmarks.ensemble_islands: the stage in this process vs on every folding process."""

from __future__ import annotations

import json

import numpy as np

from benchmarks import ensemble_islands
from envs.dot_bracket import pair_table
from envs.folding import mfe_structure


def test_the_target_has_an_interior_loop_no_sequence_can_close():
    target = ensemble_islands.unsolvable_target(80, np.random.default_rng(0))
    pairs = pair_table(target)
    assert len(target) == 80 and pairs[1] == 44 and pairs[18] == 27
    assert all(pairs[k] < 0 for k in [*range(2, 18), *range(28, 44)])  # 32 > ViennaRNA's 30
    start = ensemble_islands._search(target, 0).best
    assert start.distance > 0 and mfe_structure(start.sequence) == start.structure


def test_main_measures_both_ways(capsys):
    args = ["--length", "60", "--turns", "2", "--turn-seconds", "0.3", "--seed", "1"]
    assert ensemble_islands.main(args) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["evaluations_here"] >= 1 and figures["evaluations_islands"] >= 1
    assert figures["best_distance_here"] > 0 and figures["best_distance_islands"] > 0
    assert figures["speedup"] > 0 and figures["workers"] == 2
