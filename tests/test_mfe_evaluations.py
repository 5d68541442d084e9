"""MFE-only evaluations of the ensemble stage on long targets (``mfe_length``, session 38)."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from envs import ensemble_search
from envs.dot_bracket import Target, pair_table
from envs.ensemble_search import EnsembleSearch
from envs.folding import (
    MFE_GAP_WEIGHT,
    energy_of_structure,
    fold,
    hamming,
    mfe_defects,
    mfe_structure,
    positional_defects,
)

#: Two hairpins in the exterior loop (40 nt): a target every search solves quickly.
TWO_HAIRPINS = "((((((....))))))" + "." * 8 + "((((((....))))))"


def _random(length: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    return "".join(rng.choice(list("ACGU"), length))


def _design(target: str, seed: int) -> str:
    """Random letters with a Watson-Crick pair on every pair of ``target``."""
    rng = np.random.default_rng(seed)
    chars = list(rng.choice(list("ACGU"), len(target)))
    for site, partner in enumerate(pair_table(target)):
        if partner > site:
            chars[site], chars[partner] = ("GC", "CG", "AU", "UA")[rng.integers(4)]
    return "".join(chars)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mfe_defects_mark_the_mismatched_sites_and_bound_the_probability(seed):
    target = mfe_structure(_random(150, seed + 10))  # another sequence's structure
    sequence = _design(target, seed)
    structure, values, bound = mfe_defects(sequence, target)
    folded, mfe = fold(sequence)
    assert structure == folded
    wrong = pair_table(structure) != pair_table(target)
    # Every site the dot-brackets differ at, and those paired to another partner.
    differ = np.array([a != b for a, b in zip(structure, target)])
    assert (wrong >= differ).all() and wrong.sum() >= hamming(structure, target) > 0
    assert (values[wrong] == 1.0).all()
    assert ((values[~wrong] >= 0) & (values[~wrong] <= MFE_GAP_WEIGHT)).all()
    gap = energy_of_structure(sequence, target) - mfe
    assert gap > 0
    # A shared tie-breaker that grows with the gap (capped), on every correct site alike.
    assert len(set(values[~wrong].tolist())) == 1 and values[~wrong][0] > 0
    # -gap / kT bounds ln p(target) from above: the MFE weighs less than the ensemble.
    _, _, log_probability = positional_defects(sequence, target)
    assert log_probability <= bound < 0
    assert bound == pytest.approx(-gap / 0.61632, rel=1e-3)  # kT at 37 C


def test_a_solved_design_has_no_mfe_defect():
    sequence = "GGGGAAACCCCAGGGGAAACCCCA"
    structure, values, bound = mfe_defects(sequence, mfe_structure(sequence))
    assert structure == mfe_structure(sequence)
    assert not values.any() and bound == 0


def test_mfe_defects_rank_by_distance_then_by_the_gap():
    target = "((((((....))))))"
    near = mfe_defects("GGGGGGAAAACCCCCA", target)  # one end pair left open
    far = mfe_defects("AAAAAAAAAAAAAAAA", target)
    assert near[1].mean() < far[1].mean()
    assert hamming(near[0], target) < hamming(far[0], target)
    # Two designs that both stay open (distance 12): the smaller gap ranks first.
    small = mfe_defects("AAAUAUAAAAAUAUUU", target)  # A-U pairs on the ends: a small gap
    large = mfe_defects("AAAAAAAAAAAUUUUU", target)
    assert hamming(small[0], target) == hamming(large[0], target) == 12
    assert large[2] < small[2] < 0  # -gap / kT: the second design's gap is larger
    assert small[1].mean() < large[1].mean() < small[1].mean() + MFE_GAP_WEIGHT
    assert small[1].mean() > 12 / 16  # the tie-breaker adds to the mismatches' share
    with pytest.raises(ValueError, match="differ"):
        mfe_defects("GGGAAACCC", target)


def _spy(monkeypatch) -> dict[str, int]:
    calls = {"positional_defects": 0, "mfe_defects": 0}
    for name in calls:
        original = getattr(ensemble_search, name)

        def counted(sequence, target, energy=None, *rest, name=name, original=original):
            calls[name] += 1
            return original(sequence, target, energy, *rest)

        monkeypatch.setattr(ensemble_search, name, counted)
    return calls


def test_targets_from_the_length_on_are_evaluated_by_the_mfe_alone(monkeypatch):
    calls = _spy(monkeypatch)
    long = EnsembleSearch(TWO_HAIRPINS, np.random.default_rng(0), mfe_length=len(TWO_HAIRPINS))
    assert long.mfe_only
    long.offer("A" * len(TWO_HAIRPINS))
    long.run(time.monotonic() + 30, max_steps=300)
    assert calls["mfe_defects"] == long.evaluations > 0 and calls["positional_defects"] == 0
    assert long.solved and mfe_structure(long.best.sequence) == TWO_HAIRPINS
    short = EnsembleSearch(TWO_HAIRPINS, np.random.default_rng(0), mfe_length=41)
    assert not short.mfe_only
    short.offer("A" * len(TWO_HAIRPINS))
    assert calls["positional_defects"] == 1
    off = EnsembleSearch(TWO_HAIRPINS, np.random.default_rng(0))
    assert not off.mfe_only and off.mfe_length == 0
    with pytest.raises(ValueError, match="mfe_length"):
        EnsembleSearch(TWO_HAIRPINS, np.random.default_rng(0), mfe_length=-1)


def test_the_mfe_only_search_never_reports_a_worse_design():
    target = "((((((((....))))..((((.(....).))))))))"  # a lonely pair and a bulge
    for seed in range(3):
        search = EnsembleSearch(target, np.random.default_rng(seed), mfe_length=1)
        start = _random(len(target), seed)
        offered = search.offer(start)
        assert offered is not None
        search.run(time.monotonic() + 5, max_steps=40)
        assert search.best.distance <= offered.distance
        assert search.best.distance == hamming(mfe_structure(search.best.sequence), target)


def test_pieces_shorter_than_the_length_keep_the_full_evaluation():
    target = "." * 30 + "((((((((" + "." * 20 + "))))))))" + "." * 30  # 96 nt, a 36-nt piece
    stage = EnsembleSearch(
        target, np.random.default_rng(2), mfe_length=90, decompose_seconds=2.0, repair=1.0
    )
    assert stage.mfe_only and stage.decomposition is not None
    stage.decomposition.begin(stage.targeted_start(), 0.1)
    piece = stage.decomposition._open(*stage.decomposition.nodes[0])
    assert piece.mfe_length == 90 and not piece.mfe_only  # 36 nt: full evaluations


def test_the_config_carries_the_mfe_length(stage_spy):
    from meta import design as design_module
    from meta.config import LEARNA

    assert LEARNA.env.ensemble_mfe_length == 200  # the default (session 38)
    for bad in (-1, 1.5, True, "long", None, 10**6):
        with pytest.raises(ValueError, match="ensemble_mfe_length"):
            LEARNA.updated({"ensemble_mfe_length": bad})
    base = design_module.load_checkpoint(None).config
    assert base.env.ensemble_mfe_length == 200  # the shipped model's file leaves it out
    chosen = base.updated({"ensemble_mfe_length": 30})
    design_module.design(
        Target("t", TWO_HAIRPINS),
        method="meta-learna",
        time_limit=20,
        ensemble_share=0.5,
        config=chosen,
    )
    kwargs, search = stage_spy[-1]
    assert kwargs["mfe_length"] == 30 and search.mfe_only


def test_the_stage_benchmark_takes_the_mfe_length(tmp_path, capsys, harness_spy):
    from benchmarks import ensemble_stage

    targets = tmp_path / "t.txt"
    targets.write_text(TWO_HAIRPINS + "\n")
    arguments = [str(targets), "--seconds", "1", "--workers", "1", "--mfe-length", "40"]
    assert ensemble_stage.main(arguments) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["settings"]["mfe_length"] == 40 and summary["solved"] == 1
    with pytest.raises(SystemExit) as stopped:
        ensemble_stage.main([str(targets), "--mfe-length", "-3"])
    assert stopped.value.code == 2
    assert "--mfe-length" in capsys.readouterr().err
    ensemble_stage.run_target(TWO_HAIRPINS, ensemble_stage.StageSettings(1.0, mfe_length=40), 0)
    assert harness_spy[-1].mfe_only
