import numpy as np
import pytest

from envs.constraints import DesignConstraints, violations
from envs.dot_bracket import Target, pair_table
from envs.ensemble_search import EnsembleSearch
from envs.folding import energy_of_structure
from envs.loop_boosts import boost_letters

#: A 4-nt hairpin (boosted), a 3-nt hairpin (not), a 2x3 interior loop (both closing
#: pairs), a 1x1 loop (G-G), a bulge and a 1x2 loop (not), and a multiloop (not).
LOOPS = (
    "((((....))))"  # 0-11: hairpin of 4 closed by (3, 8)
    "..(((...)))"  # 12-22: hairpin of 3
    "..((..(((....)))...))"  # 23-43: 2x3 loop (26, 42)/(29, 38); hairpin (31, 36)
    "..((.((((....)))).))"  # 44-63: 1x1 loop (47, 62)/(49, 60); hairpin (52, 57)
    "..((((((....))).)))"  # 64-82: bulge (68, 80)/(69, 78); hairpin (71, 76)
    "..((.((((....))))..))"  # 83-103: 1x2 loop (86, 102)/(88, 99); hairpin (91, 96)
    "..((((...))((...))))"  # 104-123: multiloop closed by (107, 122), hairpins of 3
)


def test_boosts_are_the_first_mismatches_of_hairpins_and_interior_loops():
    letters = boost_letters(LOOPS)
    expected = {
        4: "G", 7: "A",  # hairpin of 4 closed by (3, 8)
        27: "G", 41: "A", 39: "G", 28: "A",  # 2x3 loop: outer (26, 42), inner (29, 38)
        32: "G", 35: "A",  # its hairpin (31, 36)
        48: "G", 61: "G",  # 1x1 loop closed by (47, 62)
        53: "G", 56: "A",  # hairpin (52, 57)
        72: "G", 75: "A",  # hairpin (71, 76)
        92: "G", 95: "A",  # hairpin (91, 96)
    }  # fmt: skip
    assert letters == expected
    partners = pair_table(LOOPS)
    assert all(partners[site] < 0 for site in letters)  # only unpaired sites
    assert boost_letters("." * 20) == {} and boost_letters("(((...)))") == {}
    assert boost_letters("((((((....))))))") == {6: "G", 9: "A"}


def test_each_boost_lowers_the_targets_free_energy_under_turner_2004():
    plain = "".join("A" if c == "." else "N" for c in LOOPS)
    chars = list(plain)
    pairs = pair_table(LOOPS)
    for i, j in enumerate(pairs):
        if j > i:
            chars[i], chars[j] = "G", "C"
    plain = "".join(chars)
    letters = boost_letters(LOOPS)
    base = energy_of_structure(plain, LOOPS)
    # Each loop's boost alone (both of its letters together) lowers the energy.
    loops = {}
    for site in letters:
        loops.setdefault(_loop_of(pairs, site), []).append(site)
    assert len(loops) == 7
    for sites in loops.values():
        boosted = list(plain)
        for site in sites:
            boosted[site] = letters[site]
        assert energy_of_structure("".join(boosted), LOOPS) < base - 0.5


def _loop_of(pairs: np.ndarray, site: int) -> int:
    """The 5' site of the innermost pair enclosing ``site``."""
    for i in range(site - 1, -1, -1):
        if pairs[i] > site:
            return i
    return -1


def test_targeted_starts_write_the_boosts_the_codes_allow():
    target = "((((((....)))))).....((((((....))))))"
    plain = EnsembleSearch(target, np.random.default_rng(0), starts=1).targeted_start()
    boosted_search = EnsembleSearch(target, np.random.default_rng(0), starts=1, boost=True)
    boosted = boosted_search.targeted_start()
    changed = {k: boosted[k] for k in range(len(target)) if boosted[k] != plain[k]}
    assert changed == {6: "G", 27: "G"}  # the same pairs, drawn alike
    assert boosted[9] == boosted[30] == "A"  # the 3' sides' A: SAMFEO's letter already
    # A code that rules out G at the first hairpin's 5' mismatch keeps A there.
    code = "N" * 6 + "H" + "N" * (len(target) - 7)
    coded = EnsembleSearch(
        target, np.random.default_rng(0), DesignConstraints(sequence=code), boost=True
    )
    start = coded.targeted_start()
    assert start[6] == "A" and start[9] == "A" and start[27] + start[30] == "GA"
    assert not violations(start, coded.rules)
    assert coded._starts_of.boosts == [(9, "A"), (27, "G"), (30, "A")]
    assert EnsembleSearch(target, np.random.default_rng(0))._starts_of.boosts == []  # off


def test_boosted_starts_hold_the_targets_loops_more_tightly():
    """The boost's point: the start's free energy in the target is lower, pair for pair."""
    targets = [
        LOOPS,
        "((((((....))..((((......))))..))))..(((..((....))...)))",
        "(((((..((((.....))))..)))))...((((.((((....)))).))))",
    ]
    for target in targets:
        for seed in range(4):
            plain = EnsembleSearch(target, np.random.default_rng(seed)).targeted_start()
            search = EnsembleSearch(target, np.random.default_rng(seed), boost=True)
            boosted = search.targeted_start()
            boosts = search._starts_of.boosts
            loops = len({_loop_of(pair_table(target), site) for site, _ in boosts})
            assert loops >= 2
            gain = energy_of_structure(plain, target) - energy_of_structure(boosted, target)
            assert gain > 0.5 * loops


def test_the_config_turns_the_boosts_on(stage_spy):
    from meta import design as design_module

    base = design_module.load_checkpoint(None).config
    assert base.env.ensemble_boost is True  # the default (session 35)
    for bad in (1, "true", None):
        with pytest.raises(ValueError, match="ensemble_boost"):
            base.updated({"ensemble_boost": bad})
    target = Target("t", "((((((((....))))))))" + "." * 20 + "((((((((....))))))))")
    chosen = base.updated({"ensemble_boost": not base.env.ensemble_boost})
    design_module.design(
        target, method="meta-learna", time_limit=20, ensemble_share=0.5, config=chosen
    )
    kwargs, search = stage_spy[-1]
    assert kwargs["boost"] is chosen.env.ensemble_boost
    assert bool(search._starts_of.boosts) is chosen.env.ensemble_boost


def test_the_stage_benchmark_takes_the_boost_flag(tmp_path, capsys, harness_spy):
    import json

    from benchmarks import ensemble_stage

    targets = tmp_path / "t.txt"
    targets.write_text("((((((....))))))\n")
    code = ensemble_stage.main([str(targets), "--seconds", "1", "--workers", "1", "--boost"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["settings"]["boost"] is True and summary["solved"] == 1
    # The flag reaches the search the harness builds (run in this process here).
    settings = ensemble_stage.StageSettings(1.0, boost=True)
    ensemble_stage.run_target("((((((....))))))", settings, 0)
    assert harness_spy[-1]._starts_of.boosts == [(6, "G"), (9, "A")]
