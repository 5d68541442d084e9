"""Neighbourhood steps: a near-miss's competitor neighbourhood, enumerated and ranked."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from near_misses import near_miss

from envs import ensemble_search
from envs.constraints import DesignConstraints, unit_index, unit_options, unit_value
from envs.designability import term_sites
from envs.ensemble_search import NEIGHBOURHOOD_EVALUATIONS, EnsembleSearch
from envs.folding import mfe_structure, structure_energies
from envs.neighbourhood import Neighbourhood

#: A target whose 5' lonely pair (2-20) closes a 1x2 interior loop.
TERMINAL = "..(.(((((....)))))..)((((....))))."
#: A target with a lonely pair (positions 23 and 28) and a bulge.
LONELY = "((((((((....))))..((((.(....).))))))))"


def _hood(target: str, design: str, competitor: str, **kwargs) -> Neighbourhood:
    constraint = kwargs.pop("constraint", None)
    units, options = unit_options(target, constraint, kwargs.pop("gu_pairs", True))
    return Neighbourhood(
        target,
        design,
        competitor,
        kwargs.pop("competitors", []),
        units,
        options,
        unit_index(units, len(target)),
        np.random.default_rng(kwargs.pop("seed", 0)),
        **kwargs,
    )


def test_a_small_neighbourhood_is_enumerated_whole_and_changes_only_its_units():
    # A lonely pair closing a 5-nt hairpin inside a 1x1 loop, against its opening: the
    # unshared terms cover 6 units (4 options each without wobble pairs).
    target, competitor = "((((((.(.....).))))))", "((((((.........))))))"
    design = "GGGCGCAGAAAAACAGCGCCC"
    units, options = unit_options(target, None, False)
    of = unit_index(units, len(target))
    hood = _hood(target, design, competitor, gu_pairs=False, keep=10**6)
    expected = {int(of[s]) for s in term_sites(target, competitor)}
    assert hood.units == sorted(expected) and len(expected) == 6
    assert hood.size == 4**6
    assert hood.scored == hood.size - 1  # every assignment but the design's own
    assert len(set(hood.candidates)) == hood.scored and design not in hood.candidates
    sites = {s for k in hood.units for s in units[k] if s >= 0}
    values = set()
    for candidate in hood.candidates:
        assert all(a == b for k, (a, b) in enumerate(zip(candidate, design)) if k not in sites)
        assert all(unit_value(candidate, units[k]) in options[k] for k in range(len(units)))
        values.add(tuple(unit_value(candidate, units[k]) for k in hood.units))
    everything = set(itertools.product(*(options[k] for k in hood.units)))
    assert values == everything - {tuple(unit_value(design, units[k]) for k in hood.units)}


def test_candidates_are_ranked_by_their_margin_over_every_known_competitor():
    design, competitor = near_miss(TERMINAL, 1)
    others = ["." * len(TERMINAL), "((((....))))" + "." * (len(TERMINAL) - 12)]
    hood = _hood(TERMINAL, design, competitor, competitors=others, keep=50)
    assert len(hood.candidates) == 50

    def margin(sequence: str, competitors: list[str]) -> float:
        energies = structure_energies(sequence, [TERMINAL, *competitors])
        return energies[0] - min(energies[1:])

    # The kept 50 are the best by the margin over the near-miss's competitor alone ...
    everything = _hood(TERMINAL, design, competitor, keep=10**6)
    assert hood.scored == everything.scored > 50
    cut = np.sort(everything.margins)[49]
    assert max(margin(c, [competitor]) for c in hood.candidates) <= cut + 1e-9
    # ... and are handed out by the margin over every competitor known.
    assert hood.margins == pytest.approx(
        [margin(c, [competitor, *others]) for c in hood.candidates]
    )
    handed = [hood.next() for _ in range(50)]
    assert sorted(handed) == sorted(hood.candidates) and hood.next() is None
    margins = [margin(c, [competitor, *others]) for c in handed]
    assert margins == sorted(margins)
    # A new competitor lowers no candidate's rival energy above what it was.
    fresh = _hood(TERMINAL, design, competitor, keep=50)
    before = fresh.margins.copy()
    folds = [mfe_structure(c) for c in fresh.candidates]
    new = next(s for s in folds if s not in (TERMINAL, competitor))  # what a fold reveals
    fresh.add_competitor(new)
    assert np.all(fresh.margins >= before - 1e-9) and np.any(fresh.margins > before + 0.05)
    assert fresh.margins == pytest.approx([margin(c, [competitor, new]) for c in fresh.candidates])
    fresh.add_competitor(others[0])
    assert fresh.margins == pytest.approx(
        [margin(c, [competitor, new, others[0]]) for c in fresh.candidates]
    )
    fresh.add_competitor(TERMINAL)  # the target is no competitor
    fresh.add_competitor(others[0])  # known already
    assert fresh.competitors == {competitor, new, others[0]}


def test_next_skips_what_the_caller_has_seen():
    design, competitor = near_miss(LONELY, 2)
    hood = _hood(LONELY, design, competitor, keep=5)
    first = hood.candidates[int(np.argmin(hood.margins))]
    second = hood.next(skip={first})
    assert second is not None and second != first
    assert hood.next(skip=set(hood.candidates)) is None


def test_a_large_neighbourhood_is_sampled_reproducibly():
    design, competitor = near_miss(TERMINAL, 3)
    small = _hood(TERMINAL, design, competitor, max_assignments=64, seed=5)
    again = _hood(TERMINAL, design, competitor, max_assignments=64, seed=5)
    assert small.size > 64 and 0 < small.scored <= 64
    assert small.candidates == again.candidates


def test_the_iupac_codes_limit_the_options():
    design, competitor = near_miss(LONELY, 4, gu_pairs=False)
    constraint = "".join("S" if c == "(" else "N" for c in LONELY)  # opening sites G or C
    if any(design[k] not in "GC" for k, c in enumerate(LONELY) if c == "("):
        design = "".join(
            ("G" if c == "(" else "C") if LONELY[k] in "()" else c for k, c in enumerate(design)
        )
        competitor = mfe_structure(design)
        if competitor == LONELY:
            pytest.skip("the repaired design solves the target")
    hood = _hood(LONELY, design, competitor, constraint=constraint, gu_pairs=False)
    for candidate in hood.candidates:
        assert all(candidate[k] in "GC" for k, c in enumerate(LONELY) if c == "(")


def test_bad_neighbourhoods_are_refused():
    design, competitor = near_miss(LONELY, 0)
    with pytest.raises(ValueError, match="no near-miss"):
        _hood(LONELY, design, LONELY)
    with pytest.raises(ValueError, match="differ in length"):
        _hood(LONELY, design[:-1], competitor)
    with pytest.raises(ValueError, match=">= 1"):
        _hood(LONELY, design, competitor, max_assignments=0)


# Slow (~12 s): the default tier checks the stage's neighbourhood steps on the same near-miss.
@pytest.mark.slow
def test_the_neighbourhood_solves_a_terminal_lonely_pair_near_miss():
    solved = 0
    for seed in range(4):
        design, competitor = near_miss(TERMINAL, seed)
        hood = _hood(TERMINAL, design, competitor)
        for _ in range(NEIGHBOURHOOD_EVALUATIONS):
            candidate = hood.next()
            if candidate is None:
                break
            structure = mfe_structure(candidate)
            if structure == TERMINAL:
                solved += 1
                break
            hood.add_competitor(structure)
    assert solved == 4


def _stalled_search(monkeypatch, neighbourhood: int, seed: int = 0) -> EnsembleSearch:
    """A search whose best design is a near-miss; neighbourhoods wait for no step."""
    monkeypatch.setattr(ensemble_search, "NEIGHBOURHOOD_PATIENCE", 0)
    search = EnsembleSearch(
        TERMINAL, np.random.default_rng(seed), gu_pairs=True, neighbourhood=neighbourhood
    )
    design, _ = near_miss(TERMINAL, seed)
    search.offer(design)
    search._step_seconds = 1.0  # making a neighbourhood is cheap beside an evaluation
    return search


def test_the_search_evaluates_the_neighbourhood_first(monkeypatch):
    search = _stalled_search(monkeypatch, 1000)
    design = search.best.sequence
    evaluated = []
    real = search._evaluate

    def spy(sequence):
        evaluated.append(sequence)
        return real(sequence)

    monkeypatch.setattr(search, "_evaluate", spy)
    search.run(float("inf"), max_steps=3)
    assert design in search._hood_origins and search.hood_seconds > 0
    assert len(evaluated) == 1 and search.solved  # its best candidate solves this one
    hood = search.hood
    assert hood is not None and hood.origin == design
    assert evaluated[0] == hood.candidates[int(np.argmin(hood.margins))]


def test_no_neighbourhood_without_the_setting_or_when_it_costs_too_much(monkeypatch):
    search = _stalled_search(monkeypatch, 0)
    search.run(float("inf"), max_steps=10)
    assert search.hood_seconds == 0 and not search._hood_origins
    costly = _stalled_search(monkeypatch, 1000, seed=1)
    costly._step_seconds = 1e-6  # scoring the assignments would cost many evaluations
    costly._neighbourhood_mutant(float("inf"))
    assert costly.hood is None and costly.hood_seconds == 0
    assert costly.best.sequence in costly._hood_origins  # not tried again for this design
    with pytest.raises(ValueError, match="neighbourhood"):
        EnsembleSearch(TERMINAL, np.random.default_rng(0), neighbourhood=-1)


def test_a_dear_competitor_walk_buys_the_neighbourhood_its_time(monkeypatch):
    # On a short target an evaluation is cheap and a walk dear: the neighbourhood may
    # cost NEIGHBOURHOOD_COST of the dearer step, here 400 assignments' scoring.
    searches = [_stalled_search(monkeypatch, 1000, seed=1) for _ in range(2)]
    for search in searches:
        search._step_seconds = 1e-6  # an evaluation pays for no neighbourhood
        search._assignment_seconds = 2.0**-16  # (powers of 2: no rounding below)
    cheap, walked = searches
    walked._walk_step = 400 * 2.0**-16 / ensemble_search.NEIGHBOURHOOD_COST
    assert walked._neighbourhood_size(walked.best) > 400  # so it is sampled down
    cheap._neighbourhood_mutant(float("inf"))
    assert cheap.hood is None and cheap.hood_seconds == 0
    assert walked._neighbourhood_mutant(float("inf")) is not None
    assert walked.hood is not None  # 400 drawn (less the repeats among them)
    assert ensemble_search.NEIGHBOURHOOD_LEAST <= walked.hood.scored <= 400


def test_a_neighbourhood_waits_for_the_near_miss_to_stall(monkeypatch):
    search = EnsembleSearch(TERMINAL, np.random.default_rng(0), gu_pairs=True, neighbourhood=1000)
    design, _ = near_miss(TERMINAL, 0)
    search.offer(design)
    search._step_seconds = 1.0
    monkeypatch.setattr(ensemble_search, "NEIGHBOURHOOD_PATIENCE", 5)
    assert search._neighbourhood_mutant(float("inf")) is None and search.hood is None
    search.evaluations += 5  # five evaluations later the best is the same
    assert search.best.sequence == design
    assert search._neighbourhood_mutant(float("inf")) is not None


def test_neighbourhood_candidates_keep_the_constraints(monkeypatch):
    monkeypatch.setattr(ensemble_search, "NEIGHBOURHOOD_PATIENCE", 0)
    rules = DesignConstraints(forbid=("GGG",))
    search = EnsembleSearch(
        LONELY, np.random.default_rng(3), rules, gu_pairs=True, neighbourhood=5000
    )
    design, _ = near_miss(LONELY, 3)
    if "GGG" in design:
        design = design.replace("GGG", "GAG")
    search.offer(design)
    search._step_seconds = 1.0
    for _ in range(NEIGHBOURHOOD_EVALUATIONS):
        mutant = search._neighbourhood_mutant(float("inf"))
        if mutant is None:
            break
        assert "GGG" not in mutant


def test_only_one_island_goes_on_with_the_neighbourhood(monkeypatch):
    search = _stalled_search(monkeypatch, 1000, seed=2)
    search._neighbourhood_mutant(float("inf"))
    assert search.hood is not None
    carrier = search.fork(np.random.default_rng(1), carry_repair=True)
    other = search.fork(np.random.default_rng(2))
    assert other.neighbourhood == 0 and other.hood is None
    assert carrier.neighbourhood == 1000 and carrier.hood is search.hood
    carrier._hood_left = 3
    carrier.hood_seconds = 0.5
    carrier._hood_origins.add("X" * len(TERMINAL))
    before = search.hood_seconds
    search.merge([carrier, other])
    assert search._hood_left == 3 and "X" * len(TERMINAL) in search._hood_origins
    assert search.hood_seconds == pytest.approx(before + 0.5)


def test_the_config_carries_the_neighbourhood(stage_spy):
    from meta import design as design_module
    from meta.config import LEARNA

    assert LEARNA.env.ensemble_neighbourhood == 16384  # inert there: the stage is off
    assert LEARNA.env.ensemble_share == 0
    for bad in (-1, 1.5, True, "many", None, 10**7):
        with pytest.raises(ValueError, match="ensemble_neighbourhood"):
            LEARNA.updated({"ensemble_neighbourhood": bad})
    base = design_module.load_checkpoint(None).config
    chosen = base.updated({"ensemble_neighbourhood": 2048})
    target = "((((((((....))))))))" + "." * 20 + "((((((((....))))))))"
    from envs.dot_bracket import Target

    design_module.design(
        Target("t", target), method="meta-learna", time_limit=20, ensemble_share=0.5, config=chosen
    )
    assert stage_spy[-1][0]["neighbourhood"] == 2048 and stage_spy[-1][1].neighbourhood == 2048


def test_the_pieces_get_the_neighbourhood_setting():
    target = "." * 30 + "((((((((" + "." * 20 + "))))))))" + "." * 30
    stage = EnsembleSearch(
        target, np.random.default_rng(2), neighbourhood=300, decompose_seconds=2.0
    )
    assert stage.decomposition is not None
    stage.decomposition.begin(stage.targeted_start(), 0.1)
    node = stage.decomposition.nodes[0]
    assert stage.decomposition._open(*node).neighbourhood == 300


def test_each_near_miss_as_close_as_the_best_gets_one_neighbourhood(monkeypatch):
    search = EnsembleSearch(TERMINAL, np.random.default_rng(0), neighbourhood=1000)
    n = len(TERMINAL)
    defects = np.zeros(n)

    def candidate(letter: str, distance: int, objective: float) -> ensemble_search.Candidate:
        return ensemble_search.Candidate(letter * n, "." * n, distance, objective, defects)

    best, twin, worse_twin, farther = (
        candidate("A", 2, 0.1),
        candidate("C", 2, 0.2),
        candidate("G", 2, 0.3),
        candidate("U", 4, 0.05),
    )
    search.best = search.lead = best  # (no restarts: the lead is the best)
    search.pool = [worse_twin, farther, twin, best]
    order = []
    while (origin := search._near_miss_origin(search._hood_origins)) is not None:
        order.append(origin)
        search._hood_origins.add(origin.sequence)
    assert order == [best, twin, worse_twin]  # by the objective; never the farther one
    search._hood_origins.clear()
    search.best = search.lead = candidate("A", ensemble_search.NEIGHBOURHOOD_DISTANCE + 1, 0.1)
    search.pool = [search.best]
    assert search._near_miss_origin(search._hood_origins) is None


def test_candidates_that_cannot_form_the_target_are_handed_out_after_the_rest():
    # The target's pair 3-8 is A-C in the design and is not enumerated: no candidate can
    # form the target, so every margin is inf (never nan), and each is still handed out.
    target, design = "((((....))))", "GGGAAAAACCCC"
    competitor = mfe_structure(design)
    assert competitor != target
    hood = _hood(target, design, competitor, sites=[0], gu_pairs=False)
    assert len(hood.candidates) == 3 and np.all(hood.margins == np.inf)
    assert hood.next(max_margin=0.0) is None
    handed = [hood.next() for _ in range(3)]
    assert sorted(handed) == sorted(hood.candidates) and hood.next() is None


def test_a_candidate_that_breaks_its_competitors_pair_ranks_first():
    # The near-miss folds into a competitor with an extra pair, 24-49 (A-U); the target
    # leaves both unpaired. A letter at 24 that cannot pair with U (C, U; G wobbles)
    # leaves no competitor: margin -inf (ViennaRNA's evaluation alone scored the broken
    # pair as a "non-standard" one).
    target = "...((((......))))..((((...((.((((......))))..))....))))...."
    design = "GAUGUUCAAGACGGAACGCUCCUGACGUCUGUGGCGUAACACAUUACCAUGAGGAUUUA"
    competitor = mfe_structure(design)
    assert competitor == "...((((......))))..((((.(.((.((((......))))..))..).))))...."
    assert (design[24], design[49]) == ("A", "U") and target[24] == target[49] == "."
    hood = _hood(target, design, competitor, sites=[24], gu_pairs=False)
    margins = dict(zip(hood.candidates, hood.margins))
    assert sorted(c[24] for c in margins) == ["C", "G", "U"]
    for candidate, margin in margins.items():
        assert (margin == -np.inf) == (candidate[24] in "CU")
    assert hood.next()[24] in "CU"
