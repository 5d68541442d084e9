"""The ensemble refinement stage (envs.ensemble_search) and its place in the design loop."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time

import numpy as np
import pytest
import RNA

from envs import ensemble_search
from envs.constraints import DesignConstraints, violations
from envs.dot_bracket import Target, pair_table
from envs.ensemble_search import EnsembleSearch
from envs.folding import mfe_structure, positional_defects

#: A target with a lonely pair (positions 23 and 28) and a bulge.
LONELY = "((((((((....))))..((((.(....).))))))))"


def _start(target: str) -> str:
    """SAMFEO's targeted start: G-C on every pair, A on every unpaired site."""
    chars = ["A"] * len(target)
    for site, partner in enumerate(pair_table(target)):
        if partner > site:
            chars[site], chars[partner] = "G", "C"
    return "".join(chars)


def _random_structure(length: int, seed: int) -> tuple[str, str]:
    rng = np.random.default_rng(seed)
    sequence = "".join(rng.choice(list("ACGU"), length))
    return sequence, mfe_structure(sequence)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_positional_defects_match_viennarna(seed):
    sequence, _ = _random_structure(120, seed)
    _, target = _random_structure(120, seed + 10)  # another sequence's structure
    structure, defects, log_probability = positional_defects(sequence, target)
    compound = RNA.fold_compound(sequence)
    _, mfe = compound.mfe()
    compound.exp_params_rescale(mfe)
    compound.pf()
    assert structure == mfe_structure(sequence)
    assert defects.shape == (120,) and ((defects >= 0) & (defects <= 1)).all()
    # Exact: every pair probability counts (ViennaRNA's own defect reads the same matrix).
    assert defects.mean() == pytest.approx(compound.ensemble_defect(target), abs=1e-12)
    assert np.exp(log_probability) == pytest.approx(compound.pr_structure(target), rel=1e-4)
    # Site by site, against the definition over ViennaRNA's pair list (no cutoff; the
    # list stores single-precision probabilities).
    paired, correct = np.zeros(120), np.zeros(120)
    partners = {i: j for i, j in enumerate(pair_table(target)) if j >= 0}
    for entry in compound.plist_from_probs(0.0):
        i, j = entry.i - 1, entry.j - 1
        paired[[i, j]] += entry.p
        if partners.get(i) == j:
            correct[[i, j]] += entry.p
    expected = [1 - correct[k] if k in partners else paired[k] for k in range(120)]
    assert defects == pytest.approx(np.clip(expected, 0, 1), abs=1e-6)


def test_a_design_of_its_own_mfe_structure_has_a_small_defect():
    sequence = "GGGGAAACCCCAGGGGAAACCCCA"
    structure, defects, log_probability = positional_defects(sequence, mfe_structure(sequence))
    assert structure == mfe_structure(sequence)
    assert np.exp(log_probability) > 0.1 and defects.mean() < 0.5


def test_search_solves_a_lonely_pair_target_and_never_gets_worse():
    search = EnsembleSearch(LONELY, np.random.default_rng(0))
    start = search.offer(_start(LONELY))
    assert start is not None and start.distance > 0  # the lonely pair does not form
    search.run(time.monotonic() + 30, max_steps=2000)
    assert search.solved
    assert mfe_structure(search.best.sequence) == LONELY
    assert search.best.rank <= start.rank
    assert search.evaluations <= 2001


def test_search_is_reproducible_from_its_seed():
    def run(seed: int) -> str:
        search = EnsembleSearch(LONELY, np.random.default_rng(seed))
        search.offer(_start(LONELY))
        search.run(time.monotonic() + 60, max_steps=15)
        return search.best.sequence + "|" + ",".join(c.sequence for c in search.pool)

    assert run(3) == run(3)


def test_best_is_never_worse_than_any_offer():
    _, target = _random_structure(90, 5)
    search = EnsembleSearch(target, np.random.default_rng(1))
    offered = [search.offer(_start(target))]
    rng = np.random.default_rng(2)
    for _ in range(3):
        chars = list(_start(target))
        for site in rng.choice(len(target), 5, replace=False):
            if pair_table(target)[site] < 0:
                chars[site] = "ACGU"[int(rng.integers(4))]
        offered.append(search.offer("".join(chars)))
    search.run(time.monotonic() + 60, max_steps=20)
    assert search.best.rank <= min(c.rank for c in offered if c is not None)
    assert len(search.pool) <= search.pool_size
    best = search.best
    assert best.distance == sum(a != b for a, b in zip(mfe_structure(best.sequence), target))


def test_run_never_passes_its_deadline(slow_evaluations):
    """On a fake clock where every evaluation takes 0.1 s, no step starts that would end late."""
    _, target = _random_structure(120, 7)
    clock = slow_evaluations(0.1)
    search = EnsembleSearch(target, np.random.default_rng(0), starts=2)
    assert search.offer(_start(target)) is not None  # times the first evaluation: 0.1 s
    other = search.targeted_start()
    assert search.offer(other, deadline=clock["now"] + 0.05) is None  # would end late
    for seconds in (0.0, 0.25, 1.0, 1.03):
        deadline = clock["now"] + seconds
        steps = search.run(deadline)
        assert clock["now"] <= deadline + 1e-9
        assert steps == int(seconds / 0.1 + 1e-9) or search.solved
    fresh = EnsembleSearch(target, np.random.default_rng(0))
    assert fresh.offer(_start(target), deadline=clock["now"] - 1.0) is None  # already past


def test_every_evaluated_design_keeps_the_constraints(monkeypatch):
    target = "((((((....)))))).....((((((....))))))"
    code = "NNNNNNGAAANNNNNNNNNNNNNNNNNNNNNNNNNNN"
    rules = DesignConstraints(sequence=code, gc=(0.4, 0.6), forbid=("GGGG", "CCCC"))
    evaluated = []
    original = ensemble_search.positional_defects

    def spy(sequence, target, energy=None, *rest):
        evaluated.append(sequence)
        return original(sequence, target, energy, *rest)

    monkeypatch.setattr(ensemble_search, "positional_defects", spy)
    search = EnsembleSearch(target, np.random.default_rng(0), constraints=rules)
    start = "GCAGCAGAAAUGCUGCAAAAAGCAGCAAAAUGCUGCA"
    assert not violations(start, rules)
    assert search.offer(start) is not None
    assert search.offer("G" * len(target)) is None  # breaks the rules: never evaluated
    search.run(time.monotonic() + 30, max_steps=60)
    assert len(evaluated) > 10
    assert all(not violations(sequence, rules) for sequence in evaluated)
    assert all(sequence[6:10] == "GAAA" for sequence in evaluated)


def test_gu_pairs_only_when_allowed():
    target = "(((((((....)))))))"
    for gu, allowed in ((False, {"GC", "CG", "AU", "UA"}), (True, None)):
        search = EnsembleSearch(target, np.random.default_rng(0), gu_pairs=gu)
        search.offer(_start(target).replace("G", "A").replace("C", "U"))
        search.run(time.monotonic() + 30, max_steps=40)
        pairs = {
            c.sequence[i] + c.sequence[j]
            for c in search.pool
            for i, j in enumerate(pair_table(target))
            if j > i
        }
        if allowed is not None:
            assert pairs <= allowed


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="objective"):
        EnsembleSearch(LONELY, np.random.default_rng(0), objective="energy")
    with pytest.raises(ValueError, match="pool_size"):
        EnsembleSearch(LONELY, np.random.default_rng(0), pool_size=0)
    with pytest.raises(ValueError, match="site choice 'worst'"):
        EnsembleSearch(LONELY, np.random.default_rng(0), sites="worst")


@pytest.mark.parametrize("sites", ["defect", "softmax"])
def test_site_draws_follow_the_chosen_rule(sites):
    """One wrong site: "defect" draws it ~90 % of the time, "softmax" in proportion to e."""
    target = "((((((....))))))" + "." * 24  # the unpaired tail: one unit per site
    code = "N" * 16 + "A" * 23 + "N"  # only the last site and the helix may change
    search = EnsembleSearch(
        target, np.random.default_rng(5), DesignConstraints(sequence=code), sites=sites
    )
    defects = np.zeros(len(target))
    defects[-1] = 1.0
    weights = search._site_weights(defects, search.sites)
    mutable = np.array([len(search.options[search.unit_of[i]]) > 1 for i in range(len(target))])
    assert mutable.sum() == 17 and weights[~mutable].sum() == 0
    expected = (
        np.where(mutable, np.exp(defects), 0) / (16 + np.e)
        if sites == "softmax"
        else 0.9 * defects + 0.1 * mutable / 17
    )
    np.testing.assert_allclose(weights, expected)
    parent = search.offer("GGGGGGAAAACCCCCC" + "A" * 24)
    parent.defects[:] = defects
    draws = 2000
    tail = sum(search._mutate(parent, search.sites)[-1] != "A" for _ in range(draws)) / draws
    # The tail changes when drawn, or as the helix end's neighbour (its unit is next to it).
    low, high = (np.e / (16 + np.e), 0.35) if sites == "softmax" else (0.9, 1.0)
    assert low - 0.03 <= tail <= high


def test_probability_objective_is_the_negative_log_probability_per_site():
    search = EnsembleSearch(LONELY, np.random.default_rng(0), objective="probability")
    candidate = search.offer(_start(LONELY))
    compound = RNA.fold_compound(_start(LONELY))
    _, mfe = compound.mfe()
    compound.exp_params_rescale(mfe)
    compound.pf()
    probability = compound.pr_structure(LONELY)
    assert candidate.objective == pytest.approx(-np.log(probability) / len(LONELY), rel=1e-4)


def _random_designs(target: str, count: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    designs = []
    for _ in range(count):
        chars = list(rng.choice(list("ACGU"), len(target)))
        for site, partner in enumerate(pair_table(target)):
            if partner > site:
                chars[site], chars[partner] = ("GC", "CG", "AU", "UA")[int(rng.integers(4))]
        designs.append("".join(chars))
    return designs


def test_portfolio_keeps_the_best_designs_by_each_objective():
    search = EnsembleSearch(LONELY, np.random.default_rng(0), objective="portfolio", pool_size=4)
    offered = [search.offer(s) for s in _random_designs(LONELY, 30, 1)]
    assert search.kinds == ("defect", "probability") and len(search.pools) == 2
    for pool, kind in zip(search.pools, search.kinds):
        expected = sorted(c.score(kind) for c in offered)[:4]
        assert sorted(c.score(kind) for c in pool) == expected
    assert search.pools[0] is search.pool
    assert {c.sequence for c in search.pools[0]} != {c.sequence for c in search.pools[1]}
    # The best design is ranked by the defect, as with the defect objective.
    assert all(c.objective == pytest.approx(c.defects.mean()) for c in offered)
    assert search.best.rank == min(c.rank for c in offered)


def test_portfolio_probability_matches_the_probability_objective():
    design = _start(LONELY)
    portfolio = EnsembleSearch(LONELY, np.random.default_rng(0), objective="portfolio")
    probability = EnsembleSearch(LONELY, np.random.default_rng(0), objective="probability")
    defect = EnsembleSearch(LONELY, np.random.default_rng(0))
    both, alone, plain = portfolio.offer(design), probability.offer(design), defect.offer(design)
    assert both.score("probability") == pytest.approx(alone.objective)
    assert both.score("defect") == pytest.approx(plain.objective) == both.objective


def test_portfolio_steps_draw_from_both_pools_with_their_site_rules(monkeypatch):
    search = EnsembleSearch(LONELY, np.random.default_rng(3), objective="portfolio", pool_size=3)
    for design in _random_designs(LONELY, 12, 2):
        search.offer(design)
    drawn = []
    mutate = search._mutate

    def recording(parent, sites):
        pools = [[c.sequence for c in pool] for pool in search.pools]
        drawn.append((parent.sequence, sites, pools[0] if sites == "defect" else pools[1]))
        return mutate(parent, sites)

    monkeypatch.setattr(search, "_mutate", recording)
    for _ in range(200):
        assert search._draw_mutant() is not None
    rules = [sites for _, sites, _ in drawn]
    assert len(drawn) == 200 and 70 <= rules.count("softmax") <= 130
    assert rules.count("defect") + rules.count("softmax") == 200
    # A step's parent is a member of its rule's pool of that moment (softmax: the
    # probability pool; defect: the defect pool).
    assert all(parent in pool for parent, _, pool in drawn)


def test_single_objective_searches_keep_one_pool():
    for objective in ("defect", "probability"):
        search = EnsembleSearch(LONELY, np.random.default_rng(0), objective=objective)
        assert search.kinds == (objective,) and len(search.pools) == 1


def test_portfolio_islands_merge_each_pool_by_its_objective():
    search = EnsembleSearch(LONELY, np.random.default_rng(0), objective="portfolio", pool_size=5)
    search.offer(_start(LONELY))
    islands = [search.fork(np.random.default_rng(seed)) for seed in (1, 2)]
    assert all(i.pools[1] == search.pools[1] and i.pools[1] is not search.pools[1] for i in islands)
    for island in islands:
        island.run(time.monotonic() + 60, max_steps=12)
    members = [search.pools, *(i.pools for i in islands)]
    search.merge(islands)
    for k, kind in enumerate(search.kinds):
        everything = {c.sequence: c for pools in members for c in pools[k]}
        expected = sorted(c.score(kind) for c in everything.values())[:5]
        assert [c.score(kind) for c in search.pools[k]] == expected


def test_log_probability_stays_finite_on_a_long_target():
    sequence, _ = _random_structure(400, 3)
    _, target = _random_structure(400, 4)
    _, _, log_probability = positional_defects(sequence, target)
    assert np.isfinite(log_probability) and log_probability < -100


def test_design_loop_with_the_stage_reports_a_true_design():
    from meta.design import design

    target = Target("t", "((((((....))))))....((((((((....))))..((((.(....).))))))))")
    # Its deadline is tested on a fake clock above; the loop's limit under load is measured
    # by the design-deadline benchmark (README), not asserted on a shared machine's clock.
    result = design(target, method="meta-learna", time_limit=4, ensemble_share=0.5)
    assert result.sequence and mfe_structure(result.sequence) == result.structure
    assert result.distance == sum(a != b for a, b in zip(result.structure, target.structure))
    assert result.solved == (result.distance == 0)


def test_design_loop_stage_and_config_share():
    from meta.config import LEARNA
    from meta.design import _DesignState, design

    with pytest.raises(ValueError, match="ensemble_share"):
        design(Target("t", LONELY), time_limit=1, ensemble_share=1.0)
    with pytest.raises(ValueError, match="ensemble_share"):
        LEARNA.updated({"ensemble_share": -0.1})
    assert LEARNA.updated({"ensemble_share": 0.25}).env.ensemble_share == 0.25
    state = _DesignState.__new__(_DesignState)
    with pytest.raises(ValueError, match="share"):
        _DesignState.add_search(state, EnsembleSearch(LONELY, np.random.default_rng(0)), 0.0)


def test_stage_finds_what_the_policy_offers(monkeypatch):
    """The turn offers the rollout's closest designs and records the search's best."""
    from meta.design import DesignResult, _DesignState

    result = DesignResult("t", LONELY)
    state = _DesignState(result, time.monotonic() - 2.0, 60.0, 1, None, None)
    state.add_search(EnsembleSearch(LONELY, np.random.default_rng(0)), 0.5)
    start = _start(LONELY)
    folded = mfe_structure(start)
    distance = sum(a != b for a, b in zip(folded, LONELY))
    state.record({"sequence": start, "structure": folded, "distance": distance, "folds": 1})
    assert result.episodes == 1 and result.distance == distance
    state.refine_turn()  # about 2 s: the time the "policy" took since the start
    assert state.search.evaluations >= 1
    assert result.distance <= distance
    assert result.episodes == 1  # the stage's designs are not episodes
    assert result.folds == 1 + state.search.evaluations


def test_the_policy_batches_leave_the_stage_its_share():
    """A batch may use 1 - share of the time left since the stage's turn, never more."""
    from types import SimpleNamespace

    from meta.design import DesignResult, _DesignState

    began = time.monotonic()
    state = _DesignState(DesignResult("t", LONELY), began, 10.0, 1, None, None)
    env = SimpleNamespace(deadline=None, fold_time=lambda: 0.0, fold_seconds=None)
    state.bind(env)
    assert env.deadline == state.deadline  # no stage: the run's deadline
    state.add_search(EnsembleSearch(LONELY, np.random.default_rng(0)), 0.25)
    assert env.deadline - began == pytest.approx(0.75 * (state.deadline - began))
    state._turn_end = began + 4.0
    state._bound_batches()
    assert env.deadline - began == pytest.approx(4.0 + 0.75 * (state.deadline - began - 4.0))
    state.search.best = SimpleNamespace(distance=0)  # solved: the policy may use the rest
    state._bound_batches()
    assert env.deadline == state.deadline


def test_a_rollout_with_skipped_designs_makes_no_update():
    """Skipped designs (past the batch's time) carry reward 0 without a fold: no PPO
    update learns from them; a complete rollout of folded designs is updated as usual."""
    from types import SimpleNamespace

    from meta.design import _Tracker

    def last_step(infos: list[dict]) -> tuple[bool, SimpleNamespace]:
        recorded: list[dict] = []
        state = SimpleNamespace(
            record=recorded.append,
            should_stop=lambda: False,
            update_budget=0.0,
            deadline=float("inf"),
            no_update=False,
            rollout_seconds=0.0,
        )
        tracker = _Tracker(state, None)
        tracker.model = SimpleNamespace(n_steps=2)
        tracker.n_calls = 2  # the rollout's last step
        tracker.locals = {"infos": infos}
        state.recorded = recorded
        return tracker._on_step(), state

    folded = {"distance": 3, "sequence": "A", "structure": "."}
    go_on, state = last_step([folded, folded])
    assert go_on and not state.no_update and len(state.recorded) == 2
    go_on, state = last_step([folded, {"skipped": True}])
    assert not go_on and state.no_update and len(state.recorded) == 1


def test_the_stage_runs_on_a_long_target_with_a_short_limit(stage_spy):
    """One batch of the policy on a 400-nt target (64 folds, local improvement, the
    refinement walk of `autorl design`) would fill 8 s: the stage still gets its turn."""
    from meta import design as design_module
    from meta.checkpoints import shipped_model_path
    from meta.config import LearnaConfig

    rng = np.random.default_rng(11)
    sequence = "".join(rng.choice(list("ACGU"), 400))
    target = Target("long", mfe_structure(sequence))
    # LEARNA's local improvement in its own order keeps the first batch long: with the
    # ranked orders (3.5-4.8 s, measured), or without local improvement as the shipped
    # model runs since session 52 (3.4 s), the policy's first batch solves this target
    # before the stage's first turn.
    config = LearnaConfig.load(shipped_model_path().with_suffix(".json")).updated(
        {"local_improvement": 5, "local_improvement_order": "enumeration"}
    )
    result = design_module.design(
        target,
        method="meta-learna-adapt",
        time_limit=8,
        ensemble_share=0.5,
        refinement=200,
        config=config,
    )
    search = stage_spy[-1][1]
    # Without the bound on the batch the stage evaluated nothing here (0, measured); with
    # it ~140 designs.
    assert search.evaluations >= 3
    assert result.sequence and result.distance <= search.best.distance


@pytest.mark.parametrize(
    ("flag", "values"),
    [
        ("--ensemble-share", ("1", "-0.5", "half")),
        ("--ensemble-starts", ("65", "-1", "ten")),
        ("--ensemble-rivals", ("1.5", "-0.1", "half")),
    ],
)
def test_cli_refuses_a_bad_stage_option(flag, values):
    for value in values:
        completed = subprocess.run(
            [sys.executable, "-m", "autorl.cli", "design", "--target", LONELY, flag, value],
            capture_output=True,
            text=True,
        )
        assert completed.returncode == 2
        assert flag in completed.stderr


def test_starts_reach_the_stage_from_the_cli_the_api_and_the_benchmark(stage_spy):
    """autorl design / the API default to DEFAULT_ENSEMBLE_STARTS; 0 and N are passed on."""
    from autorl import api
    from autorl.cli import main
    from autorl.commands import benchmark
    from meta import design as design_module

    short = "((((((....))))))...((((((....))))))"  # solved at once: the test is the wiring
    args = ["design", "--target", short, "--time-limit", "20", "--quiet", "--format", "json"]
    assert main(args) == 0
    assert main([*args, "--ensemble-starts", "3"]) == 0
    api.design(short, time_limit=20, ensemble_starts=0)
    seen = [kwargs["starts"] for kwargs, _ in stage_spy]
    assert seen == [design_module.DEFAULT_ENSEMBLE_STARTS, 3, 0]
    with pytest.raises(ValueError, match="ensemble_starts"):
        api.design(short, time_limit=2, ensemble_starts=65)
    # The benchmark runner records the setting in each row's config column.
    base, _ = benchmark._base_config("meta-learna-adapt", None)
    assert dict(benchmark._settings(None, base, 200, 0.5, 10))["ensemble_starts"] == 10
    assert "ensemble_starts" not in dict(benchmark._settings(None, base, 200, 0.5, 0))


def test_targeted_starts_follow_samfeo_within_the_codes():
    target = "((((((....)))))).....((((((....))))))"
    code = "NNNNNNGAAANNNNNNNNNNNNNNNNNNNNNNNNNNN"
    search = EnsembleSearch(
        target, np.random.default_rng(0), DesignConstraints(sequence=code), starts=3
    )
    start = search.targeted_start()
    partners = pair_table(target)
    for site, partner in enumerate(partners):
        if partner > site:
            assert start[site] + start[partner] in ("GC", "CG")
        elif partner < 0 and code[site] == "N":
            assert start[site] == "A"
    assert start[6:10] == "GAAA"
    lonely = EnsembleSearch(LONELY, np.random.default_rng(0), starts=3)
    assert lonely.run(time.monotonic() + 30, max_steps=0) == 3  # the starts, no steps
    assert lonely.evaluations == 3 and len(lonely.pool) == 3 and not lonely.solved
    with pytest.raises(ValueError, match="starts"):
        EnsembleSearch(target, np.random.default_rng(0), starts=-1)


def test_config_carries_the_starts():
    from meta.config import LEARNA

    assert LEARNA.updated({"ensemble_starts": 4}).env.ensemble_starts == 4
    with pytest.raises(ValueError, match="ensemble_starts"):
        LEARNA.updated({"ensemble_starts": -1})


def test_islands_fork_and_merge_keep_the_best_of_all():
    search = EnsembleSearch(LONELY, np.random.default_rng(0))
    start = search.offer(_start(LONELY))
    islands = [search.fork(np.random.default_rng(seed)) for seed in (1, 2)]
    assert all(i.pool == search.pool and i.pool is not search.pool for i in islands)
    for island in islands:
        island.run(time.monotonic() + 60, max_steps=12)
    assert [c.sequence for c in islands[0].pool] != [c.sequence for c in islands[1].pool]
    everything = {c.sequence: c for i in islands for c in i.pool} | {start.sequence: start}
    search.merge(islands)
    assert search.evaluations == 1 + sum(i.evaluations for i in islands) == 25
    assert search.best.rank == min(c.rank for c in [start, *(i.best for i in islands)])
    expected = sorted(c.objective for c in everything.values())[: search.pool_size]
    assert [c.objective for c in search.pool] == expected
    assert len({c.sequence for c in search.pool}) == len(search.pool)
    assert search.seen >= islands[0].seen | islands[1].seen


def test_islands_run_on_every_folding_process_and_never_get_worse():
    from envs.execution import ProcessExecutor

    class Recording(ProcessExecutor):
        def __init__(self, workers):
            super().__init__(workers)
            self.units = []

        def submit(self, unit):
            self.units.append(unit.id)
            super().submit(unit)

    search = EnsembleSearch(LONELY, np.random.default_rng(0), starts=1)
    start = search.offer(_start(LONELY)[:-1] + "C")  # a design to start from
    with Recording(2) as executor:
        assert ensemble_search.run_islands(search, executor, time.monotonic() - 1) <= 1
        assert executor.units == [], "no island starts when its slice is over"
        spent = ensemble_search.run_islands(search, executor, time.monotonic() + 3)
        assert executor.idle == 2, "the islands are over when the slice returns"
    assert len(executor.units) == 2 and all("island" in u for u in executor.units)
    assert spent >= 2 and search.evaluations >= 1 + spent
    assert search.best.rank <= start.rank
    assert mfe_structure(search.best.sequence) == search.best.structure


def test_a_failed_island_is_dropped_and_the_search_is_unharmed():
    from envs.execution import Done

    class Failing:
        """Two idle slots whose units all fail."""

        slots = idle = 2

        def __init__(self):
            self.units = []

        def submit(self, unit):
            self.units.append(unit)

        def wait(self, timeout=None):
            units, self.units = self.units, []
            return [Done(u.id, None, "RuntimeError: lost") for u in units]

        def cancel(self, unit_id):
            return None

    search = EnsembleSearch(LONELY, np.random.default_rng(0))
    search.offer(_start(LONELY))
    pool, best = list(search.pool), search.best
    assert ensemble_search.run_islands(search, Failing(), time.monotonic() + 5) == 0
    assert search.pool == pool and search.best is best and search.evaluations == 1


def test_a_stuck_search_changes_more_units_instead_of_giving_up():
    """Four free units (256 designs) of a target no sequence folds into: every mutant one
    or two units away from the pool is soon seen, and the search goes on with larger
    mutants, each design evaluated once (seeds 0-2: 192-231 designs; before the kick the
    search gave up after 37-118)."""
    target = "((" + "." * 16 + "(((....)))" + "." * 16 + "))" + "((((....))))"
    code = list(target.replace("(", "G").replace(")", "C").replace(".", "A"))
    for site in (3, 30, 50):
        code[site] = "N"
    code[46], code[57] = "N", "N"  # the pair (46, 57)
    search = EnsembleSearch(
        target, np.random.default_rng(0), DesignConstraints(sequence="".join(code))
    )
    assert sum(len(options) > 1 for options in search.options) == 4
    search.offer("".join(code).replace("N", "A"))
    search.run(time.monotonic() + 600, max_steps=10_000)
    assert not search.solved and search.evaluations == len(search.seen)
    assert 150 <= search.evaluations <= 256


def test_the_stage_places_wobble_pairs_unless_told_not_to(stage_spy):
    """ensemble_gu (default on) lets the stage use GU/UG although the policy has 4 actions."""
    from meta import design as design_module
    from meta.config import LEARNA

    short = Target("t", "((((((....))))))...((((((....))))))")
    assert not LEARNA.env.gu_pairs and LEARNA.env.ensemble_gu
    design_module.design(short, method="meta-learna", time_limit=20, ensemble_share=0.5)
    pair_options = {o for options in stage_spy[-1][1].options for o in options if len(o) == 2}
    assert pair_options == {"GC", "CG", "AU", "UA", "GU", "UG"}
    off = design_module.load_checkpoint(None).config.updated({"ensemble_gu": False})
    design_module.design(short, method="meta-learna", time_limit=20, ensemble_share=0.5, config=off)
    pair_options = {o for options in stage_spy[-1][1].options for o in options if len(o) == 2}
    assert pair_options == {"GC", "CG", "AU", "UA"}
    with pytest.raises(ValueError, match="ensemble_gu"):
        LEARNA.updated({"ensemble_gu": "yes"})
    assert LEARNA.updated({"ensemble_gu": False}).env.ensemble_gu is False


def test_the_stage_objective_and_site_choice_come_from_the_config(stage_spy):
    from meta import design as design_module

    target = Target("t", "((((((((....))))))))" + "." * 20 + "((((((((....))))))))")
    base = design_module.load_checkpoint(None).config
    assert (base.env.ensemble_objective, base.env.ensemble_sites) == ("defect", "defect")
    chosen = base.updated({"ensemble_objective": "probability", "ensemble_sites": "softmax"})
    design_module.design(
        target, method="meta-learna", time_limit=20, ensemble_share=0.5, config=chosen
    )
    search = stage_spy[-1][1]
    assert (search.objective, search.sites) == ("probability", "softmax")
    for bad in ({"ensemble_objective": "energy"}, {"ensemble_sites": "worst"}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            base.updated(bad)


def test_special_hairpins_come_from_the_energy_model():
    from envs.folding import EnergyModel, special_hairpins

    turner = special_hairpins()
    assert set(turner) == {4, 6} and "CUUCGG" in turner[4] and len(turner[4]) == 16
    for size, entries in turner.items():
        assert entries and all(len(e) == size + 2 for e in entries)
        assert all(e[0] + e[-1] in ("CG", "GC", "AU", "UA", "GU", "UG") for e in entries)
    other = special_hairpins(EnergyModel(params="andronescu2007"))
    assert other[4] != turner[4] and other[6] == ()  # that set has no hexaloop table


#: A tetraloop hairpin, a hexaloop hairpin, a pentaloop and a multiloop closing pair.
SPECIAL = "((((....))))..((((......))))..((((.....))))..((((((....))))((((....))))))"


def test_bonus_hairpins_are_the_specials_below_every_plain_loop_of_their_closing_pair():
    from envs.folding import EnergyModel, bonus_hairpins, hairpin_energy, special_hairpins

    for energy in (None, EnergyModel(params="andronescu2007"), EnergyModel(temperature=60)):
        specials, bonuses = special_hairpins(energy), bonus_hairpins(energy)
        for size in (4, 6):
            assert set(bonuses[size]) <= set(specials[size])
            values = [hairpin_energy(e, energy) for e in bonuses[size]]
            assert values == sorted(values)  # lowest first
            plain = {  # per closing pair: every loop the table does not list, brute force
                closing: min(
                    hairpin_energy(closing[0] + "".join(loop) + closing[1], energy)
                    for loop in itertools.product("ACGU", repeat=size)
                    if closing[0] + "".join(loop) + closing[1] not in specials[size]
                )
                for closing in {e[0] + e[-1] for e in specials[size]}
            }
            for entry in specials[size]:
                below = hairpin_energy(entry, energy) < plain[entry[0] + entry[-1]]
                assert (entry in bonuses[size]) == below
    turner = bonus_hairpins()
    assert turner[4] == ("CCUCGG", "CUCCGG", "CUACGG", "CUGCGG") and len(turner[6]) == 4
    assert bonus_hairpins(EnergyModel(temperature=60))[4] == ()  # none pays off at 60 C
    with pytest.raises(ValueError, match="closing pair"):
        hairpin_energy("CAAAAC")


def test_special_loop_moves_cover_the_hairpins_of_special_sizes_only():
    from envs.folding import bonus_hairpins

    assert EnsembleSearch(SPECIAL, np.random.default_rng(0))._hairpins == []  # off
    search = EnsembleSearch(SPECIAL, np.random.default_rng(0), special_loops=True)
    closing = sorted(search.units[units[0]] for units, _ in search._hairpins)
    assert closing == [(3, 8), (17, 24), (50, 55), (62, 67)]  # no pentaloop, no multiloop
    tetraloops = {e[0] + e[-1] + "," + e[1:-1] for e in bonus_hairpins()[4]}
    units, allowed = search._hairpins[0]
    assert {v[0] + "," + "".join(v[1:]) for v in allowed} == tetraloops  # no code: all
    assert all(search._hairpin_of[u] == 0 for u in units)
    # A code fixing the loop's first site keeps the bonuses that have its letter there.
    code = "N" * 4 + "U" + "N" * (len(SPECIAL) - 5)
    coded = EnsembleSearch(
        SPECIAL, np.random.default_rng(0), DesignConstraints(sequence=code), special_loops=True
    )
    first = coded._hairpins[0][1]
    assert first and all(v[1] == "U" for v in first)
    assert len(first) == sum(e[1] == "U" for e in bonus_hairpins()[4]) == 3
    # A closing pair fixed to A-U leaves no Turner 2004 tetraloop (all are closed by C-G).
    code = "N" * 3 + "A" + "N" * 4 + "U" + "N" * (len(SPECIAL) - 9)
    fixed = EnsembleSearch(
        SPECIAL, np.random.default_rng(0), DesignConstraints(sequence=code), special_loops=True
    )
    assert (3, 8) not in [fixed.units[u[0]] for u, _ in fixed._hairpins]


def test_a_special_loop_move_writes_a_whole_bonus_hairpin(monkeypatch):
    from envs.folding import bonus_hairpins

    monkeypatch.setattr(ensemble_search, "SPECIAL_SHARE", 1.0)
    search = EnsembleSearch(SPECIAL, np.random.default_rng(3), special_loops=True)
    parent = search.offer(search.targeted_start())
    loop_site = np.zeros(len(SPECIAL))
    loop_site[5] = 1.0  # every draw: a site of the first tetraloop
    monkeypatch.setattr(search, "_site_weights", lambda defects, sites: loop_site)
    written = set()
    for _ in range(50):
        mutant = search._mutate(parent, search.sites)
        written.add(mutant[3:9])
        outside = [k for k in range(len(SPECIAL)) if not 3 <= k <= 8]
        changed = [k for k in outside if mutant[k] != parent.sequence[k]]
        assert not changed  # the drawn unit and its neighbours are all in the hairpin
    # every bonus tetraloop but the one there, nothing else
    assert written == set(bonus_hairpins()[4]) - {parent.sequence[3:9]}


def test_a_competitor_walk_may_write_a_whole_bonus_hairpin(monkeypatch):
    from envs.folding import bonus_hairpins

    monkeypatch.setattr(ensemble_search, "SPECIAL_SHARE", 1.0)
    search = EnsembleSearch(SPECIAL, np.random.default_rng(4), special_loops=True)
    start = list(search.targeted_start())
    search._mutable_sites = np.array([5])  # every move: a site of the first tetraloop
    written = set()
    for _ in range(50):
        trial = search._rival_move(start, [5])
        assert trial[:3] == start[:3] and trial[9:] == start[9:]
        written.add("".join(trial[3:9]))
    assert written == set(bonus_hairpins()[4]) - {"".join(start[3:9])}
    # Off, the same move changes one unit (and maybe its neighbour): never a whole loop.
    plain = EnsembleSearch(SPECIAL, np.random.default_rng(4))
    plain._mutable_sites = np.array([5])
    changed = [sum(a != b for a, b in zip(plain._rival_move(start, [5]), start)) for _ in range(50)]
    assert max(changed) <= 2


def test_the_config_turns_the_special_loops_on(stage_spy):
    from meta import design as design_module

    base = design_module.load_checkpoint(None).config
    assert base.env.ensemble_special_loops is False
    for bad in (1, "true", None):
        with pytest.raises(ValueError, match="ensemble_special_loops"):
            base.updated({"ensemble_special_loops": bad})
    target = Target("t", "((((((((....))))))))" + "." * 20 + "((((((((....))))))))")
    chosen = base.updated({"ensemble_special_loops": True})
    design_module.design(
        target, method="meta-learna", time_limit=20, ensemble_share=0.5, config=chosen
    )
    assert stage_spy[-1][0]["special_loops"] is True and stage_spy[-1][1]._hairpins
