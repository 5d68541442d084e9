"""Hierarchical starts (envs.decomposition) and their place in the ensemble stage."""

from __future__ import annotations

import pickle
import time

import numpy as np
import pytest

from envs import decomposition as decomposition_module
from envs.constraints import DesignConstraints
from envs.decomposition import Decomposition, closes_alone, subproblems
from envs.dot_bracket import pair_table
from envs.ensemble_search import EnsembleSearch
from envs.folding import mfe_structure

#: Two 34-nt pieces inside a multiloop closed by a 3-pair helix (77 nt), and a hairpin.
HAIRPIN = "((((((((....))))..((((....))))))))"  # 34 nt
TARGET = "...(((" + HAIRPIN + "..." + HAIRPIN + ")))...((((....))))..."


#: SAMFEO's targeted start of TARGET with A-U for every G-C: it folds into none of the
#: pieces (a targeted start itself already folds into TARGET, leaving nothing to design).
START = (
    EnsembleSearch(TARGET, np.random.default_rng(0))
    .targeted_start()
    .translate(str.maketrans("GC", "AU"))
)


def test_subproblems_are_outermost_pairs_smallest_first():
    nodes = subproblems(TARGET)
    partners = pair_table(TARGET)
    assert nodes == [(6, 39), (43, 76), (3, 79)]  # children come before their parent
    for i, j in nodes:
        assert partners[i] == j and partners[i - 1] != j + 1  # a helix's outermost pair
    assert subproblems(TARGET, max_fraction=0.5) == [(6, 39), (43, 76)]
    assert subproblems(TARGET, min_length=40) == [(3, 79)]
    assert subproblems("." * 50) == []


def test_decomposition_designs_the_pieces_and_keeps_the_rest():
    rng = np.random.default_rng(0)
    work = Decomposition(TARGET, 20.0, rng, gu_pairs=True)
    start = START
    work.begin(start, 0.01)
    spent = work.run(time.monotonic() + 60)
    assert work.done and spent == work.evaluations >= 2
    design = "".join(work.sequence)
    assert design[:3] == start[:3] and design[80:] == start[80:]  # outside every piece
    for i, j in work.nodes:  # each piece folds alone into its target (easy hairpins)
        assert mfe_structure(START[i : j + 1]) != TARGET[i : j + 1]  # it did not at the start
        assert mfe_structure(design[i : j + 1]) == TARGET[i : j + 1]
    assert work.solved == 3


def test_decomposition_keeps_the_codes_and_motifs_of_each_piece():
    code = "N" * 14 + "C" + "N" * (len(TARGET) - 15)  # a loop site of the first piece
    rules = DesignConstraints(sequence=code, forbid=("GGGG", "CCCC"))
    stage = EnsembleSearch(TARGET, np.random.default_rng(1), rules, gu_pairs=True, starts=8)
    stage.run(time.monotonic() + 30, max_steps=0)
    assert stage.best is not None
    work = Decomposition(TARGET, 5.0, np.random.default_rng(1), rules, gu_pairs=True)
    work.begin(stage.best.sequence)
    work.run(time.monotonic() + 30)
    design = "".join(work.sequence)
    assert design[14] == "C" and work.evaluations > len(work.nodes)
    for i, j in work.nodes:
        assert "GGGG" not in design[i : j + 1] and "CCCC" not in design[i : j + 1]


def test_decomposition_is_resumable_and_never_passes_a_deadline(slow_evaluations):
    """On a fake clock where every evaluation takes 0.05 s, slices of 0.12 s finish it."""
    clock = slow_evaluations(0.05, start=500.0)
    assert decomposition_module.time.monotonic() == 500.0  # the same clock here
    work = Decomposition(TARGET, 1.0, np.random.default_rng(2), gu_pairs=True)
    work.begin(START, 0.05)
    calls = 0
    while not work.done:
        deadline = clock["now"] + 0.12
        work.run(deadline)
        assert clock["now"] <= deadline + 1e-9
        calls += 1
        assert calls < 100
    assert calls >= 2 and work.evaluations >= 2


def test_the_stage_offers_the_assembled_design_and_never_gets_worse():
    search = EnsembleSearch(TARGET, np.random.default_rng(3), gu_pairs=True, decompose_seconds=8)
    first = search.offer(START)
    work = search.decomposition
    assert work is not None and first is not None and first.distance > 0
    search.run(time.monotonic() + 30, max_steps=0)  # the decomposition, no search step
    assembled = "".join(work.sequence)
    assert work.done and search.decomposition is None and work.solved == 3
    assert assembled != START and assembled in search.seen  # offered to the pool
    assert search.evaluations == 1 + work.evaluations + 1  # the start, the pieces, the whole
    assert search.best is not None and search.best.rank <= first.rank
    assert search.fork(np.random.default_rng(0)).decomposition is None
    island_free = EnsembleSearch(TARGET, np.random.default_rng(3), decompose_seconds=0)
    assert island_free.decomposition is None


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="seconds"):
        Decomposition(TARGET, -1.0, np.random.default_rng(0))
    work = Decomposition(TARGET, 1.0, np.random.default_rng(0))
    with pytest.raises(RuntimeError, match="begin"):
        work.run(time.monotonic() + 1)
    with pytest.raises(ValueError, match="nt"):
        work.begin("ACGU")


def test_config_carries_the_decomposition_share():
    from meta.config import LEARNA

    assert LEARNA.updated({"ensemble_decompose": 0.3}).env.ensemble_decompose == 0.3
    for bad in (1.0, -0.1, True):
        with pytest.raises(ValueError, match="ensemble_decompose"):
            LEARNA.updated({"ensemble_decompose": bad})


def test_the_design_loop_gives_the_decomposition_its_share_of_the_stage(stage_spy):
    from envs.dot_bracket import Target
    from meta import design as design_module
    from meta.config import LEARNA

    short = Target("t", "((((((....))))))...((((((....))))))")  # solved at once: the wiring
    assert LEARNA.env.ensemble_decompose == 0.3
    design_module.design(short, method="meta-learna", time_limit=20, ensemble_share=0.5)
    # Its share of the schedule's 10-s horizon (ensemble_horizon), not of the 20-s limit;
    # without a horizon, of the limit.
    assert stage_spy[-1][0]["decompose_seconds"] == pytest.approx(0.3 * 0.5 * 10)
    whole = design_module.load_checkpoint(None).config.updated({"ensemble_horizon": 0})
    design_module.design(
        short, method="meta-learna", time_limit=20, ensemble_share=0.5, config=whole
    )
    assert stage_spy[-1][0]["decompose_seconds"] == pytest.approx(0.3 * 0.5 * 20)
    design_module.design(
        short, method="meta-learna", time_limit=float("inf"), max_episodes=50, ensemble_share=0.5
    )
    assert stage_spy[-1][0]["decompose_seconds"] == 0.0  # no time limit to share


def _record_built(monkeypatch, name: str) -> list:
    """Patch ``envs.ensemble_search.<name>`` to record every object it builds, in order."""
    from envs import ensemble_search

    built: list = []
    real = getattr(ensemble_search, name)

    def spy(*args, **kwargs):
        made = real(*args, **kwargs)
        built.append(made)
        return made

    monkeypatch.setattr(ensemble_search, name, spy)
    return built


def test_the_pieces_are_searched_with_the_stage_settings(monkeypatch):
    stage = EnsembleSearch(
        TARGET,
        np.random.default_rng(2),
        objective="probability",
        sites="softmax",
        decompose_seconds=2.0,
    )
    work = stage.decomposition
    assert work.search_options["objective"] == "probability"
    assert work.search_options["sites"] == "softmax"
    opened = _record_built(monkeypatch, "EnsembleSearch")
    work.begin(START)
    work.run(time.monotonic() + 30)
    assert len(opened) == len(work.nodes) == 3
    assert all((s.objective, s.sites) == ("probability", "softmax") for s in opened)


def _broken_first_piece() -> str:
    """A design of TARGET whose first 34-nt piece (6..39) is A-U only: wrong there alone."""
    solved = EnsembleSearch(TARGET, np.random.default_rng(0)).targeted_start()
    assert mfe_structure(solved) == TARGET
    piece = solved[6:40].translate(str.maketrans("GC", "AU"))
    return solved[:6] + piece + solved[40:]


def test_focused_repair_searches_the_substructure_holding_the_mismatch(monkeypatch):
    """The repair opens the smallest piece with every mismatched site and the design gets it."""
    from envs import ensemble_search

    opened = _record_built(monkeypatch, "Decomposition")
    broken = _broken_first_piece()
    # A generous repair cap (20 x REPAIR_EVERY evaluations' time, measured as the search
    # goes): the piece's search ends once solved, and with the cap of 1 a busy machine
    # (slower evaluations after the first was timed) left the piece unsolved.
    search = EnsembleSearch(TARGET, np.random.default_rng(4), gu_pairs=True, repair=20.0)
    first = search.offer(broken)
    wrong = [k for k, (a, b) in enumerate(zip(first.structure, TARGET)) if a != b]
    assert first.distance > 0 and wrong[0] >= 6 and wrong[-1] <= 39
    assert search._repair_piece() == (6, 39)
    search._since_repair = ensemble_search.REPAIR_EVERY  # the repair comes first
    search.run(time.monotonic() + 30, max_steps=400)
    assert opened and opened[0].nodes == [(6, 39)]
    repaired = "".join(opened[0].sequence)
    assert opened[0].solved == 1 and mfe_structure(repaired[6:40]) == TARGET[6:40]
    assert repaired in search.seen  # the design with the repaired slice was evaluated
    assert repaired[:6] == broken[:6] and repaired[40:] == broken[40:]  # only the piece
    assert search.best.distance < first.distance
    assert search.repair is None and search.fork(np.random.default_rng(0)).repair is None


def test_a_repair_needs_a_slice_that_is_wrong_alone(monkeypatch):
    """A mismatch the slice does not show alone (caused from outside) is not repaired there."""
    search = EnsembleSearch(TARGET, np.random.default_rng(5), gu_pairs=True, repair=1.0)
    search.offer(_broken_first_piece())
    assert search._repair_piece() == (6, 39)
    monkeypatch.setattr(
        "envs.ensemble_search.mfe_structure", lambda sequence, energy=None: TARGET[6:40]
    )
    assert search._repair_piece() is None  # the only piece holding it folds alone
    assert EnsembleSearch(TARGET, np.random.default_rng(5), repair=0)._pieces == []
    assert all(j - i + 1 <= 0.5 * len(TARGET) for i, j in search._pieces)
    with pytest.raises(ValueError, match="repair"):
        EnsembleSearch(TARGET, np.random.default_rng(5), repair=-1)
    with pytest.raises(ValueError, match="not a pair"):
        Decomposition(TARGET, 1.0, np.random.default_rng(0), nodes=[(0, 10)])


#: A multiloop closed by a two-pair helix (32 nt), which cannot form alone (for every
#: sequence its opening is lower) but can in a one-by-one interior loop; LOOSE_TARGET holds
#: it so (the piece at 10..41 inside the piece at 3..48, 36 % of the target) beside two
#: HAIRPIN pieces.
LOOSE_PIECE = "((.((((....))))..((((....)))).))"
LOOSE_TARGET = "...((((((." + LOOSE_PIECE + ".))))))..." + HAIRPIN + "..." + HAIRPIN + "..."


def _broken_loose_piece() -> str:
    """A design of LOOSE_TARGET with the loose piece's slice A-U only (wrong there)."""
    solved = EnsembleSearch(LOOSE_TARGET, np.random.default_rng(1)).targeted_start()
    assert mfe_structure(solved) == LOOSE_TARGET
    return solved[:10] + solved[10:42].translate(str.maketrans("GC", "AU")) + solved[42:]


def test_a_piece_that_cannot_close_alone_is_left_to_its_parent(monkeypatch):
    """The hierarchical starts skip it; the piece around it and the others are searched."""
    assert subproblems(LOOSE_TARGET) == [(10, 41), (52, 85), (89, 122), (3, 48)]
    assert not closes_alone(LOOSE_PIECE) and closes_alone(LOOSE_TARGET[3:49])
    start = _broken_loose_piece()
    built = _record_built(monkeypatch, "EnsembleSearch")
    work = Decomposition(LOOSE_TARGET, 4.0, np.random.default_rng(2), gu_pairs=True)
    assert work.nodes == subproblems(LOOSE_TARGET)  # chosen as before; skipped at its turn
    work.begin(start, 0.01)
    work.run(time.monotonic() + 60)
    assert work.done and work.skipped == 1
    assert [search.target for search in built] == [
        LOOSE_TARGET[i : j + 1] for i, j in work.nodes[1:]
    ]


def test_a_repair_passes_over_a_piece_that_cannot_close_alone():
    """The mismatch lies in the loose piece (wrong alone for any design): its parent is repaired."""
    broken = _broken_loose_piece()
    search = EnsembleSearch(LOOSE_TARGET, np.random.default_rng(3), gu_pairs=True, repair=1.0)
    first = search.offer(broken)
    wrong = [k for k, (a, b) in enumerate(zip(first.structure, LOOSE_TARGET)) if a != b]
    assert first.distance > 0 and wrong[0] >= 10 and wrong[-1] <= 41
    assert (10, 41) in search._pieces and (3, 48) in search._pieces
    assert search._repair_piece() == (3, 48)
    with_code = EnsembleSearch(  # the same with every site's code "N"
        LOOSE_TARGET,
        np.random.default_rng(3),
        DesignConstraints(sequence="N" * len(LOOSE_TARGET)),
        gu_pairs=True,
        repair=1.0,
    )
    with_code.offer(broken)
    assert with_code._repair_piece() == (3, 48)


def test_a_far_design_is_repaired_region_by_region():
    """No piece holds both broken pieces' mismatches: each repair takes one of them."""
    broken = _broken_first_piece()
    both = broken[:43] + broken[43:77].translate(str.maketrans("GC", "AU")) + broken[77:]
    search = EnsembleSearch(TARGET, np.random.default_rng(8), gu_pairs=True, repair=1.0)
    first = search.offer(both)
    wrong = [k for k, (a, b) in enumerate(zip(first.structure, TARGET)) if a != b]
    assert wrong[0] < 40 and wrong[-1] > 42  # in both pieces
    chosen = {search._repair_piece() for _ in range(20)}
    assert chosen == {(6, 39), (43, 76)}


def test_a_repair_is_resumable_and_never_passes_a_deadline(slow_evaluations):
    """Every evaluation takes 0.05 s on a fake clock; slices of 0.12 s carry a repair on."""
    clock = slow_evaluations(0.05, start=700.0)
    search = EnsembleSearch(TARGET, np.random.default_rng(6), gu_pairs=True, repair=1.0)
    search.offer(_broken_first_piece())
    search._since_repair = 10**6
    repairs_seen = calls = 0
    while not search.solved and calls < 200:
        deadline = clock["now"] + 0.12
        search.run(deadline)
        assert clock["now"] <= deadline + 1e-9
        repairs_seen += search.repair is not None
        calls += 1
    assert repairs_seen >= 1  # a repair outlived a slice and went on in the next one


def test_config_carries_the_repair_to_the_stage(stage_spy):
    from envs.dot_bracket import Target
    from meta import design as design_module
    from meta.config import LEARNA

    assert LEARNA.env.ensemble_repair == 1.0
    assert LEARNA.updated({"ensemble_repair": 0}).env.ensemble_repair == 0
    for bad in (-1, True, "1", 101):
        with pytest.raises(ValueError, match="ensemble_repair"):
            LEARNA.updated({"ensemble_repair": bad})
    short = Target("t", "((((((....))))))...((((((....))))))")
    off = design_module.load_checkpoint(None).config.updated({"ensemble_repair": 0.0})
    design_module.design(short, method="meta-learna", time_limit=20, ensemble_share=0.5, config=off)
    assert stage_spy[-1][0]["repair"] == 0.0 and stage_spy[-1][1].repair_ratio == 0.0
    design_module.design(short, method="meta-learna", time_limit=20, ensemble_share=0.5)
    assert stage_spy[-1][0]["repair"] == 1.0


def test_one_island_carries_the_repair_and_merge_takes_it_back(slow_evaluations):
    """Islands are pickled to worker processes: the carrier's repair state comes back."""
    clock = slow_evaluations(0.05, start=900.0)
    search = EnsembleSearch(TARGET, np.random.default_rng(7), gu_pairs=True, repair=1.0)
    search.offer(_broken_first_piece())
    search._since_repair = 10**6
    search.run(clock["now"] + 0.12)  # opens the repair; the deadline cuts it
    assert search.repair is not None and search.repair.nodes == [(6, 39)]

    def island(carry: bool, seconds: float) -> EnsembleSearch:
        forked = search.fork(np.random.default_rng(int(carry)), carry_repair=carry)
        forked = pickle.loads(pickle.dumps(forked))  # as run_islands sends it
        forked.run(clock["now"] + seconds)
        return forked

    rng = np.random.default_rng(3)
    assert search.fork(rng, carry_repair=True).repair is search.repair
    assert search.fork(rng).repair is None  # other islands start their own
    carrier, other = island(True, 0.12), island(False, 0.12)
    kept = search.repair
    search.merge([other])
    assert search.repair is kept  # an island that did not carry it leaves it alone
    search.merge([carrier])
    assert search.repair is carrier.repair is not None  # unfinished: it goes on here
    finisher = island(True, 100.0)
    assert finisher.repair is None  # the repair had its time (or solved the piece)
    search.merge([finisher])
    assert search.repair is None


@pytest.mark.parametrize("waits", [True, False])
def test_starts_wait_while_the_best_design_is_close(waits):
    """Targeted and hierarchical starts are for far designs: a near-miss offered (at most
    ``start_distance`` sites off) leaves them for later; a farther one does not."""
    broken = _broken_first_piece()
    distance = EnsembleSearch(TARGET, np.random.default_rng(0)).offer(broken).distance
    assert distance > 0
    search = EnsembleSearch(
        TARGET,
        np.random.default_rng(3),
        gu_pairs=True,
        starts=3,
        decompose_seconds=5.0,
        start_distance=distance if waits else distance - 1,
    )
    search.offer(broken)
    search.run(time.monotonic() + 60, max_steps=0)
    if waits:
        assert search._starts_left == 3 and search.decomposition.sequence is None
        assert search.evaluations == 1  # the offer only
    else:  # a targeted start of TARGET solves it: the starts stop there
        assert search._starts_left < 3 and search.evaluations >= 2


def test_starts_are_made_when_nothing_was_offered():
    search = EnsembleSearch(TARGET, np.random.default_rng(3), starts=2, start_distance=1000)
    search.run(time.monotonic() + 60, max_steps=0)
    assert search._starts_left == 0 and search.evaluations == 2


def test_config_carries_the_start_distance_to_the_stage(stage_spy):
    from envs.dot_bracket import Target
    from meta import design as design_module
    from meta.config import LEARNA

    for bad in (-1, True, 2.5, "3"):
        with pytest.raises(ValueError, match="ensemble_start_distance"):
            LEARNA.updated({"ensemble_start_distance": bad})
    with pytest.raises(ValueError, match="start_distance"):
        EnsembleSearch(TARGET, np.random.default_rng(0), start_distance=-1)
    short = Target("t", "((((((....))))))...((((((....))))))")
    chosen = design_module.load_checkpoint(None).config.updated({"ensemble_start_distance": 7})
    design_module.design(
        short, method="meta-learna", time_limit=20, ensemble_share=0.5, config=chosen
    )
    assert stage_spy[-1][0]["start_distance"] == 7 and stage_spy[-1][1].start_distance == 7


def test_the_pieces_get_the_special_loops_and_the_step_hint():
    stage = EnsembleSearch(
        TARGET, np.random.default_rng(2), special_loops=True, decompose_seconds=2.0
    )
    work = stage.decomposition
    assert work.search_options["special_loops"]
    work.begin(START, 0.25)
    sub = work._open(*work.nodes[0])
    assert sub.special_loops and sub._hairpins and sub._step_seconds == 0.25
    with pytest.raises(ValueError, match="step_seconds"):
        EnsembleSearch(TARGET, np.random.default_rng(0), step_seconds=-1.0)
