"""The policy's prior over the ensemble stage's letter draws (``ensemble_prior``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import meta.design as md
from envs.constraints import UNPAIRED_LETTERS, WATSON_CRICK, WOBBLE, action_of
from envs.dot_bracket import Target
from envs.ensemble_search import EnsembleSearch
from envs.rna_design import PAIRS, UNPAIRED, TargetEncoding
from meta.checkpoints import load_checkpoint, load_weights
from meta.config import LEARNA
from meta.rna_agent import RNA_AGENT

TARGET = "((((((....))))))....((((....))))..."


def _search(seed: int = 0) -> EnsembleSearch:
    return EnsembleSearch(TARGET, np.random.default_rng(seed), None, True)


def test_action_of_is_the_action_that_writes_the_option():
    for action, letter in enumerate(UNPAIRED.tobytes().decode()):
        assert action_of(letter) == action
    for action, pair in enumerate(PAIRS):
        assert action_of(pair) == action
    assert UNPAIRED_LETTERS == "GAUC" and (*WATSON_CRICK, *WOBBLE) == PAIRS
    for bad in ("T", "GG", "", "N"):
        with pytest.raises(ValueError, match="neither a letter"):
            action_of(bad)


def test_the_prior_maps_each_units_options_and_is_checked():
    search = _search()
    rows = np.tile(np.array([0.1, 0.2, 0.3, 0.4]), (len(search.units), 1))
    search.set_prior(rows, 0.5)
    for options, weights in zip(search.options, search.prior):
        expected = [0.0 if option in WOBBLE else rows[0][action_of(option)] for option in options]
        assert weights.tolist() == pytest.approx(expected)  # GU: no action of a 4-action policy
    with pytest.raises(ValueError, match="weight"):
        search.set_prior(rows, 1.5)
    with pytest.raises(ValueError, match="one row per unit"):
        search.set_prior(rows[1:], 0.5)


def _draws(search: EnsembleSearch, unit: int, count: int) -> list[str]:
    """The option a mutation of ``unit`` writes into the targeted start, ``count`` times."""
    start = list(search.targeted_start())
    site, partner = search.units[unit]
    drawn = []
    for _ in range(count):
        chars = list(start)
        search._change_units(chars, [unit])
        drawn.append(chars[site] + (chars[partner] if partner >= 0 else ""))
    return drawn


def test_a_full_weight_prior_writes_the_policys_choice_and_a_partial_one_mixes():
    search = _search(1)
    unit = next(k for k, (_, partner) in enumerate(search.units) if partner < 0)
    rows = np.zeros((len(search.units), 4))
    rows[:, action_of("U")] = 1.0  # the policy always writes U
    search.set_prior(rows, 1.0)
    start_letter = search.targeted_start()[search.units[unit][0]]
    assert start_letter != "U"
    assert set(_draws(search, unit, 50)) == {"U"}
    search.set_prior(rows, 0.5)
    drawn = _draws(search, unit, 3000)
    share = drawn.count("U") / len(drawn)
    assert share == pytest.approx(0.5 + 0.5 / 3, abs=0.03)  # 3 options other than the start's
    assert set(drawn) == {letter for letter in "GAUC" if letter != start_letter}


def test_without_a_prior_or_at_weight_zero_the_draws_are_unchanged():
    plain, zero = _search(7), _search(7)
    zero.set_prior(np.full((len(zero.units), 4), 0.25), 0.0)
    for unit in range(len(plain.units)):
        assert _draws(plain, unit, 20) == _draws(zero, unit, 20)


@pytest.fixture(scope="module")
def shipped():
    """The shipped model on the target, and the target's encoding."""
    checkpoint = load_checkpoint(None)
    config = checkpoint.config
    env = RNA_AGENT.make_env(1, 0, targets=[Target("t", TARGET)], config=config)
    encoding = env.encodings[0]
    model = RNA_AGENT.build_model(config, env, 0, "cpu", n_steps=encoding.num_steps)
    load_weights(model, checkpoint, with_optimizer=False)
    return model, encoding, config


def test_the_prior_is_the_policys_distribution_at_every_decision_step(shipped):
    model, encoding, config = shipped
    prior = md.policy_prior(model, encoding, config.env)
    assert prior.shape == (encoding.num_steps, config.env.num_actions)
    assert prior.sum(axis=1) == pytest.approx(np.ones(encoding.num_steps))
    for step in range(encoding.num_steps):  # the observation the environment gives there
        window = encoding.window(step, config.env.window)[None]
        with torch.no_grad():
            tensor, _ = model.policy.obs_to_tensor(window)
            expected = model.policy.get_distribution(tensor).distribution.probs.numpy()[0]
        assert prior[step] == pytest.approx(expected, abs=1e-6)
    assert not np.allclose(prior, prior[0])  # the windows differ, and so do the rows


def test_a_recurrent_policy_gives_no_prior():
    config = LEARNA.updated({"n_envs": 2, "lstm_units": 8, "lstm_mode": "episode"})
    env = RNA_AGENT.make_env(2, 0, targets=[Target("t", TARGET)], config=config)
    encoding = env.encodings[0]
    model = RNA_AGENT.build_model(config, env, 0, "cpu", n_steps=encoding.num_steps)
    assert md.policy_prior(model, encoding, config.env) is None


def test_the_setting_is_checked():
    for bad in (-0.1, 1.5, True, "half", None):
        with pytest.raises(ValueError, match="ensemble_prior"):
            LEARNA.updated({"ensemble_prior": bad})
    assert LEARNA.updated({"ensemble_prior": 0.5}).env.ensemble_prior == 0.5


@pytest.mark.parametrize("weight", [0.0, 0.6])
def test_the_design_loop_gives_the_stage_its_policys_prior_at_every_turn(monkeypatch, weight):
    given = []
    set_prior = EnsembleSearch.set_prior

    def spy(search, probabilities, prior_weight):
        given.append((np.array(probabilities), prior_weight))
        set_prior(search, probabilities, prior_weight)

    turns = []
    refine_turn = md._DesignState.refine_turn

    def turn_spy(state, until=None):
        turns.append(state._prior is not None)
        refine_turn(state, until)

    monkeypatch.setattr(EnsembleSearch, "set_prior", spy)
    monkeypatch.setattr(md._DesignState, "refine_turn", turn_spy)
    config = load_checkpoint(None).config.updated({"ensemble_prior": weight})
    never = Target("never", "((((((((((..))))))))))")  # never solved: every turn runs
    md.design(never, method="meta-learna", time_limit=4, ensemble_share=0.5, config=config)
    encoding = TargetEncoding.build(never, config.env)
    if weight == 0:
        assert not given
        return
    assert 0 < len(given) <= sum(turns)  # turns with a policy (while the stage was due)
    assert all(w == weight and p.shape == (encoding.num_steps, 4) for p, w in given)


def test_the_stage_harness_gives_the_shipped_policys_prior(monkeypatch, shipped):
    from benchmarks.ensemble_stage import StageSettings, main, run_target

    given = []
    set_prior = EnsembleSearch.set_prior
    monkeypatch.setattr(
        EnsembleSearch,
        "set_prior",
        lambda search, p, w: given.append((np.array(p), w)) or set_prior(search, p, w),
    )
    run_target(TARGET, StageSettings(seconds=0.5, prior=0.3), seed=0)
    model, encoding, config = shipped
    assert len(given) == 1 and given[0][1] == 0.3
    assert given[0][0] == pytest.approx(md.policy_prior(model, encoding, config.env), abs=1e-6)
    run_target(TARGET, StageSettings(seconds=0.5), seed=0)
    assert len(given) == 1  # no prior unless asked
    with pytest.raises(SystemExit) as exit_info:
        main(["unused.txt", "--prior", "1.5"])
    assert exit_info.value.code == 2
