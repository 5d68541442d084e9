"""The ensemble stage's competitor steps (EnsembleSearch's ``rivals``)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import RNA

from envs import ensemble_search
from envs.constraints import DesignConstraints, violations
from envs.dot_bracket import Target
from envs.ensemble_search import RIVALS_KEPT, EnsembleSearch
from envs.folding import EnergyModel, energy_of_structure, mfe_structure, structure_energies

#: A target with a lonely pair (positions 23 and 28) and a bulge.
LONELY = "((((((((....))))..((((.(....).))))))))"


def _near_miss(search: EnsembleSearch, seed: int = 0) -> str:
    """A design of ``search``'s target whose MFE structure is not the target (offered)."""
    rng = np.random.default_rng(seed)
    for _ in range(200):
        sequence = "".join(rng.choice(list("ACGU"), len(search.target)))
        sequence = search.targeted_start() if rng.random() < 0.5 else sequence
        if mfe_structure(sequence) != search.target and sequence not in search.seen:
            search.offer(sequence)
            return sequence
    raise AssertionError("no near-miss found")


def test_structure_energies_match_a_full_evaluation():
    sequence = "GGGGAAACCCCAGGCGAAAGCCUAAAUGGG"
    structures = [mfe_structure(sequence), "." * len(sequence), "((((...))))" + "." * 19]
    model = EnergyModel(temperature=50.0, dangles=0)
    for energy in (None, model):
        expected = [energy_of_structure(sequence, s, energy) for s in structures]
        assert structure_energies(sequence, structures, energy) == pytest.approx(expected)
    with pytest.raises(ValueError, match="differ in length"):
        structure_energies(sequence, ["..."])


def test_every_wrong_mfe_structure_becomes_a_rival_and_the_memory_is_capped(monkeypatch):
    search = EnsembleSearch(LONELY, np.random.default_rng(0))
    sequence = _near_miss(search)
    assert list(search.rivals) == [mfe_structure(sequence)]
    monkeypatch.setattr(ensemble_search, "RIVALS_KEPT", 3)
    for structure in ("(" + "." * 36 + ")", "." * 38, "((" + "." * 34 + "))", "." * 38):
        search._remember_rival(structure)
    # The cap drops the oldest; meeting a rival again makes it the newest.
    assert list(search.rivals) == ["(" + "." * 36 + ")", "((" + "." * 34 + "))", "." * 38]
    assert RIVALS_KEPT == 64


def test_a_competitor_walk_lowers_the_target_below_its_rivals(monkeypatch):
    search = EnsembleSearch(LONELY, np.random.default_rng(1), gu_pairs=True, rivals=1.0)
    for seed in range(4):
        _near_miss(search, seed)
    rivals = list(search.rivals)
    start = search.best.sequence

    def gap(sequence: str) -> float:
        energies = structure_energies(sequence, [LONELY, *rivals])
        return energies[0] - min(energies[1:])

    assert gap(start) >= 0  # the best design's own MFE structure is a rival
    weighed: list[tuple[str, float]] = []
    real = search._rival_gap

    def spy(chars, rivals_now):
        result = real(chars, rivals_now)
        weighed.append(("".join(chars), result[0]))
        return result

    search._rival_gap = spy
    monkeypatch.setattr(ensemble_search, "RIVAL_MARGIN", 1e9)  # walk the whole budget
    for _ in range(5):
        weighed.clear()
        mutant = search._rival_mutant()
        assert mutant is not None and mutant != start
        assert gap(mutant) < gap(start)
        # Only strict improvements are kept: the walk ends on the first design with the
        # lowest gap it weighed, not on its last proposal.
        lowest = min(g for _, g in weighed)
        assert mutant == next(seq for seq, g in weighed if g == lowest)
        assert len(mutant) == len(LONELY) and set(mutant) <= set("ACGU")


def test_competitor_walks_keep_the_constraints():
    code = "NNNNNNNNNNNNNNNNNNNNNNNGNNNNCNNNNNNNNN"  # the lonely pair fixed to G-C
    rules = DesignConstraints(sequence=code, gc=(0.3, 0.7))
    search = EnsembleSearch(LONELY, np.random.default_rng(2), rules, rivals=1.0)
    _near_miss(search, 3)
    walked = [m for m in (search._rival_mutant() for _ in range(20)) if m is not None]
    assert walked
    for mutant in walked:
        assert mutant[23] == "G" and mutant[28] == "C"
        assert not violations(mutant, rules)


def test_no_competitor_step_without_the_share(monkeypatch):
    def forbidden(self):
        raise AssertionError("a competitor step was taken")

    monkeypatch.setattr(EnsembleSearch, "_rival_mutant", forbidden)
    search = EnsembleSearch(LONELY, np.random.default_rng(4), starts=2)
    search.run(float("inf"), max_steps=40)
    assert search.evaluations >= 40 and search.rivals  # rivals are remembered all the same
    with pytest.raises(ValueError, match="rivals"):
        EnsembleSearch(LONELY, np.random.default_rng(0), rivals=1.5)


def test_the_time_of_the_walks_is_counted_and_merged(monkeypatch):
    search = EnsembleSearch(LONELY, np.random.default_rng(7), gu_pairs=True, rivals=1.0)
    _near_miss(search)
    assert search.walk_seconds == 0.0  # an evaluation is no walk
    island = search.fork(np.random.default_rng(8))
    ticks = iter([0.0, 0.25, 1.0, 2.0])

    class Clock:
        @staticmethod
        def monotonic() -> float:
            return next(ticks)

    monkeypatch.setattr(ensemble_search, "time", Clock)
    assert search._walk_step == 0.0
    island._rival_mutant()
    assert island._walk_step == 0.25  # the first walk is the mean
    island._rival_mutant()
    assert island.walk_seconds == 1.25  # two walks, each read the clock twice
    assert island._walk_step == pytest.approx(0.8 * 0.25 + 0.2 * 1.0)  # a running mean
    search.walk_seconds = 1.0
    child = island.fork(np.random.default_rng(9))
    assert child.walk_seconds == 0.0 and child._walk_step == island._walk_step
    search.merge([island])
    assert search.walk_seconds == 2.25 and search._walk_step == island._walk_step
    search._walk_step = 0.5
    search.merge([search.fork(np.random.default_rng(10))])  # an island that never walked
    assert search._walk_step == 0.5


def test_islands_carry_their_rivals_back():
    search = EnsembleSearch(LONELY, np.random.default_rng(5), rivals=0.5)
    _near_miss(search)
    island = search.fork(np.random.default_rng(6))
    island._remember_rival("." * len(LONELY))
    assert "." * len(LONELY) not in search.rivals
    search.merge([island])
    assert "." * len(LONELY) in search.rivals


def test_the_pieces_get_the_rivals_share():
    target = "." * 30 + "((((((((" + "." * 20 + "))))))))" + "." * 30
    stage = EnsembleSearch(target, np.random.default_rng(2), rivals=0.7, decompose_seconds=2.0)
    assert stage.decomposition is not None
    stage.decomposition.begin(stage.targeted_start(), 0.1)
    node = stage.decomposition.nodes[0]
    assert stage.decomposition._open(*node).rival_share == 0.7


def test_the_config_carries_the_rivals_share(stage_spy):
    from meta import design as design_module

    base = design_module.load_checkpoint(None).config
    assert base.env.ensemble_rivals == 0.0
    for bad in (-0.1, 1.5, True, "half", None):
        with pytest.raises(ValueError, match="ensemble_rivals"):
            base.updated({"ensemble_rivals": bad})
    target = Target("t", "((((((((....))))))))" + "." * 20 + "((((((((....))))))))")
    chosen = base.updated({"ensemble_rivals": 0.5})
    design_module.design(
        target, method="meta-learna", time_limit=20, ensemble_share=0.5, config=chosen
    )
    assert stage_spy[-1][0]["rivals"] == 0.5 and stage_spy[-1][1].rival_share == 0.5


def test_rivals_reach_the_stage_from_the_cli_the_api_and_the_benchmark(stage_spy):
    """autorl design / the API default to DEFAULT_ENSEMBLE_RIVALS; 0 and F are passed on."""
    from autorl import api
    from autorl.cli import main
    from autorl.commands import benchmark
    from meta import design as design_module

    assert design_module.DEFAULT_ENSEMBLE_RIVALS > 0
    short = "((((((....))))))...((((((....))))))"  # solved at once: the test is the wiring
    args = ["design", "--target", short, "--time-limit", "20", "--quiet", "--format", "json"]
    assert main(args) == 0
    assert main([*args, "--ensemble-rivals", "0.25"]) == 0
    api.design(short, time_limit=20, ensemble_rivals=0)
    api.design(short, time_limit=20, ensemble_rivals=1)
    seen = [kwargs["rivals"] for kwargs, _ in stage_spy]
    assert seen == [design_module.DEFAULT_ENSEMBLE_RIVALS, 0.25, 0, 1]
    for bad in (1.5, -0.1, True, "half", float("nan")):
        with pytest.raises(ValueError, match="ensemble_rivals"):
            api.design(short, time_limit=2, ensemble_rivals=bad)
    # The benchmark runner records the setting in each row's config column.
    base, _ = benchmark._base_config("meta-learna-adapt", None)
    assert dict(benchmark._settings(None, base, 200, 0.5, 10, 0.5))["ensemble_rivals"] == 0.5
    assert "ensemble_rivals" not in dict(benchmark._settings(None, base, 200, 0.5, 10, 0.0))


def test_a_structure_with_a_pair_the_sequence_cannot_close_has_infinite_energy():
    sequence = "GGGAAAAACCCC"  # sites 3 and 8 are A and C
    closed, broken, open_ = structure_energies(sequence, ["(((......)))", "((((....))))", "." * 12])
    assert math.isfinite(closed) and broken == math.inf and open_ == 0.0
    assert energy_of_structure(sequence, "((((....))))") == math.inf
    wobble = "GGGGAAAAUCCC"  # G-U closes sites 3 and 8
    assert math.isfinite(structure_energies(wobble, ["((((....))))"])[0])
    # ViennaRNA's own evaluation scores such a pair as a "non-standard" one: here the
    # competitor whose pair 24-49 (now A-A) the solution broke scores below the MFE.
    solution = "GAUGUUCAAGACGGAACGCUCCUGACGUCUGUGGCGUAACACAUUACCAAGAGGAUUUA"
    target = "...((((......))))..((((...((.((((......))))..))....))))...."
    competitor = "...((((......))))..((((.(.((.((((......))))..))..).))))...."
    structure, mfe = RNA.fold(solution)
    assert structure == target
    assert RNA.fold_compound(solution).eval_structure(competitor) < mfe
    assert structure_energies(solution, [target, competitor]) == [pytest.approx(mfe), math.inf]


def test_unclosable_pairs_are_found_in_every_structure_of_a_list():
    # structure_energies checks the pairs of all the structures in one table lookup; it
    # must flag exactly the structures a per-pair check flags, in any list (repeats, a
    # structure without pairs, lower case and T in the sequence).
    rng = np.random.default_rng(5)
    closable = {"GC", "CG", "AU", "UA", "GU", "UG"}
    seen = {True: 0, False: 0}
    for _ in range(40):
        length = int(rng.integers(12, 60))
        sequence = "".join(rng.choice(list("ACGU"), length))
        structures = [mfe_structure(sequence), "." * length]
        for _ in range(6):  # the structures of mutants: some pairs the sequence cannot close
            chars = list(sequence)
            for site in rng.choice(length, int(rng.integers(1, 4)), replace=False):
                chars[site] = str(rng.choice(list("ACGU")))
            structures.append(mfe_structure("".join(chars)))
        structures.append(structures[-1])
        spelled = sequence.lower().replace("u", "t") if rng.random() < 0.5 else sequence
        energies = structure_energies(spelled, structures)
        for structure, energy in zip(structures, energies):
            table = RNA.ptable(structure)
            pairs = [(i - 1, table[i] - 1) for i in range(1, length + 1) if table[i] > i]
            expected = all(sequence[i] + sequence[j] in closable for i, j in pairs)
            seen[expected] += 1
            assert math.isfinite(energy) == expected
            if expected:
                assert energy == pytest.approx(energy_of_structure(sequence, structure))
    assert min(seen.values()) >= 20  # both kinds were checked
    assert structure_energies("GGGAAACCC", []) == []
