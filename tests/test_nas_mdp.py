"""NAS as an MDP: the token space, AutoRL/NasMdp-v0, the cache and the deduplicating vec env."""

from __future__ import annotations

import json
import random

import gymnasium as gym
import numpy as np
import pytest
import torch

import envs
from envs.evaluation_cache import EvaluationCache
from envs.nas_children import ChildEvaluator, ChildRecipe
from envs.nas_mdp import NasMdpEnv
from envs.nas_space import Architecture, NasSpace
from envs.nas_vec import NasVecEnv, child_key
from policies.controller import TokenLstmExtractor

FAST = ChildRecipe(epochs=1, batch_size=64)


# --- the token space -------------------------------------------------------------------


def test_default_space_has_zoph_le_tokens_per_layer():
    space = NasSpace()
    kinds = [(d.layer, d.kind) for d in space.decisions()]
    # layer 0: width, filters; layer i: width, filters, one skip per earlier layer
    assert kinds[:2] == [(0, "kernel_w"), (0, "filters")]
    assert len(kinds) == 6 * 2 + sum(range(6))
    assert space.max_arity == 4
    two_d = NasSpace(layers=2, dims=2, strides=(1, 2, 3))
    assert [d.kind for d in two_d.decisions()] == [
        "kernel_h",
        "kernel_w",
        "filters",
        "stride",
        "kernel_h",
        "kernel_w",
        "filters",
        "stride",
        "skip",
    ]
    assert two_d.size() == (4 * 4 * 4 * 3) ** 2 * 2


def test_decode_encode_round_trip_and_connections():
    space = NasSpace(layers=4, dims=2, strides=(1, 2, 3))
    rng = random.Random(0)
    for _ in range(50):
        actions = [rng.randrange(d.arity) for d in space.decisions()]
        architecture = space.decode(actions)
        assert space.encode(architecture) == actions
        assert Architecture.from_dict(json.loads(json.dumps(architecture.to_dict()))) == (
            architecture
        )
    chain = NasSpace(layers=3, skips=False).decode([0, 0] * 3)
    assert [layer.inputs for layer in chain.layers] == [(), (0,), (1,)]
    assert chain.outputs() == (2,)


def test_decode_rejects_bad_indices_naming_the_position():
    space = NasSpace(layers=2)
    with pytest.raises(ValueError, match="expected 5 decisions"):
        space.decode([0, 0])
    with pytest.raises(ValueError, match=r"position 4 \(skip of layer 1\)"):
        space.decode([0, 0, 0, 0, 2])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"layers": 0}, "layers must be an integer >= 1"),
        ({"dims": 3}, "dims must be 1 or 2"),
        ({"kernels": ()}, "kernels must be positive"),
        ({"filters": (8, 8)}, "filters must be distinct"),
    ],
)
def test_space_rejects_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        NasSpace(**kwargs)


def test_architecture_from_dict_names_the_bad_layer():
    with pytest.raises(ValueError, match="layer 1: inputs must be distinct earlier layers"):
        Architecture.from_dict(
            {
                "layers": [
                    {"kernel": [3], "filters": 8},
                    {"kernel": [3], "filters": 8, "inputs": [1]},
                ]
            }
        )


# --- the environment -------------------------------------------------------------------


def test_registered_id_makes_the_env():
    assert envs.NAS_MDP_ID in envs.ENV_IDS
    env = gym.make(envs.NAS_MDP_ID, dataset="digits", layers=2, evaluator=None)
    assert isinstance(env.unwrapped, NasMdpEnv)
    assert env.unwrapped.space.dims == 2


def _play(env: NasMdpEnv, actions) -> tuple[float, dict]:
    env.reset()
    reward, info = 0.0, {}
    for action in actions:
        assert env.action_masks()[action]
        _, reward, terminated, truncated, info = env.step(action)
    assert terminated and not truncated
    return reward, info


def test_masks_follow_the_arity_and_masked_actions_raise():
    env = NasMdpEnv("mnist1d", layers=2, strides=(1, 2, 3), evaluator=None)
    observation, _ = env.reset()
    assert observation.tolist() == [0] * 7 + [0]
    assert env.action_masks().tolist() == [True] * 4  # kernel: 4 choices
    env.step(1)
    env.step(2)
    assert env.action_masks().tolist() == [True, True, True, False]  # stride: 3 choices
    with pytest.raises(ValueError, match=r"action 3 at position 2 \(stride of layer 0\) is masked"):
        env.step(3)
    env.step(0)
    env.step(0)
    env.step(0)
    env.step(0)
    assert env.action_masks().tolist() == [True, True, False, False]  # skip: yes/no
    observation, reward, terminated, _, info = env.step(1)
    assert terminated and reward == 0.0
    assert observation.tolist() == [2, 3, 1, 1, 1, 1, 2, 7]
    architecture = Architecture.from_dict(info["artifact"])
    assert architecture.layers[1].inputs == (0,) and architecture.layers[0].kernel == (3,)
    with pytest.raises(ValueError, match="complete"):
        env.step(0)


def test_reward_is_the_trained_childs_validation_accuracy_and_deterministic():
    env = NasMdpEnv("digits", layers=2, recipe=FAST, reward_power=3.0)
    actions = [1, 1, 0, 1, 1, 0, 1]
    reward, info = _play(env, actions)
    again, info_again = _play(NasMdpEnv("digits", layers=2, recipe=FAST, reward_power=3.0), actions)
    assert 0 < reward < 1
    assert reward == pytest.approx(info["val_accuracy"] ** 3)
    assert (reward, info["val_accuracy"]) == (again, info_again["val_accuracy"])
    assert info["invalid"] is None and info["architecture"]["layers"][1]["inputs"] == [0]


def test_an_architecture_that_collapses_gets_reward_zero_and_its_reason():
    recipe = ChildRecipe(epochs=1, padding="valid")
    env = NasMdpEnv("digits", layers=2, recipe=recipe)
    # two 7x7 "valid" convolutions: 8x8 -> 2x2 -> collapses
    reward, info = _play(env, [3, 3, 0, 3, 3, 0, 1])
    assert reward == 0.0
    assert "layer 1" in info["invalid"] and "spatial size" in info["invalid"]


def test_bad_env_arguments_raise():
    with pytest.raises(ValueError, match="unknown dataset"):
        NasMdpEnv("cifar")
    with pytest.raises(ValueError, match="layers must be an integer >= 1"):
        NasMdpEnv(layers=0)
    with pytest.raises(ValueError, match="evaluator must be"):
        NasMdpEnv(evaluator="fast")


# --- the cache -------------------------------------------------------------------------


def test_cache_survives_a_restart_and_a_torn_line(tmp_path):
    path = tmp_path / "cache.jsonl"
    cache = EvaluationCache(path)
    cache.put("a", {"val_accuracy": 0.5})
    cache.put("a", {"val_accuracy": 0.9})  # a known key is kept
    with open(path, "a") as file:
        file.write('{"key": "b", "rec')  # a killed writer
    reopened = EvaluationCache(path)
    assert reopened.get("a") == {"val_accuracy": 0.5} and "b" not in reopened
    reopened.put("c", {"val_accuracy": 0.7})
    assert set(EvaluationCache(path)) == {"a", "c"}
    path.write_text('{"key": 1}\n')
    with pytest.raises(ValueError, match=r"cache.jsonl:1: a cache line"):
        EvaluationCache(path)


# --- the deduplicating vec env ---------------------------------------------------------


class CountingEvaluator(ChildEvaluator):
    """A child evaluator that records what it trained (in-process executor)."""

    def __init__(self):
        super().__init__("digits", FAST, power=1.0)
        self.trained: list[str] = []

    def __call__(self, artifact, info):
        self.trained.append(Architecture.from_dict(artifact).key())
        return super().__call__(artifact, info)


def _propose(venv: NasVecEnv, actions) -> None:
    for action in actions:
        venv.step(np.array([action]))


SMALL = [1, 1, 0, 1, 1, 0, 0]
OTHER = [2, 2, 1, 1, 1, 0, 1]


def _vec(evaluator, **kwargs) -> NasVecEnv:
    venv = NasVecEnv([lambda: NasMdpEnv("digits", layers=2, evaluator=None)], evaluator, **kwargs)
    venv.reset()
    return venv


def test_a_repeated_or_cached_child_is_not_retrained(tmp_path):
    evaluator = CountingEvaluator()
    entries = []
    cache = EvaluationCache(tmp_path / "children.jsonl")
    venv = _vec(evaluator, cache=cache, on_evaluation=entries.append)
    _propose(venv, SMALL)
    _propose(venv, SMALL)  # a repeat while the first is still to be collected
    first, repeat = venv.collect(block=True)
    assert len(evaluator.trained) == 1 and venv.started == 1 and venv.proposals == 2
    assert repeat.reward == first.reward and repeat.info["repeat"]
    _propose(venv, SMALL)  # a repeat after it finished
    (again,) = venv.collect()
    assert again.reward == first.reward and len(evaluator.trained) == 1
    assert [entry["evaluation"] for entry in entries] == [1]
    # another search reading the same cache file: counted, not trained
    other = CountingEvaluator()
    fresh = _vec(other, cache=EvaluationCache(tmp_path / "children.jsonl"))
    _propose(fresh, SMALL)
    (cached,) = fresh.collect(block=True)
    assert other.trained == [] and cached.info["cached"] and fresh.started == 1
    assert cached.reward == first.reward


def test_the_budget_counts_distinct_children_and_seen_ones_resume():
    evaluator = CountingEvaluator()
    venv = _vec(evaluator, budget=2)
    _propose(venv, SMALL)
    _propose(venv, OTHER)
    assert venv.exhausted
    _propose(venv, [0, 0, 1, 1, 1, 1, 1])
    evaluations = venv.collect(block=True)
    assert len(evaluator.trained) == 2
    refused = [e for e in evaluations if e.info.get("over_budget")]
    assert len(evaluations) == 3 and [e.reward for e in refused] == [0.0]
    seen = list(venv.seen.values())
    resumed = _vec(CountingEvaluator(), budget=3, seen=seen)
    assert resumed.started == 2 and not resumed.exhausted
    _propose(resumed, OTHER)
    (repeat,) = resumed.collect()
    assert repeat.info["repeat"] and resumed.evaluator.trained == []


def test_cache_key_includes_the_recipe_but_not_the_device():
    architecture = NasSpace(layers=2, dims=2).decode(SMALL).to_dict()
    key = child_key(architecture, "digits", FAST)
    assert key == child_key(architecture, "digits", ChildRecipe(epochs=1, batch_size=64, threads=2))
    assert key != child_key(architecture, "digits", ChildRecipe(epochs=2, batch_size=64))
    assert key != child_key(architecture, "digits", ChildRecipe(epochs=1, batch_size=64, seed=1))


# --- the controller's LSTM -------------------------------------------------------------


def test_controller_features_read_only_the_tokens_emitted_so_far():
    env = NasMdpEnv("mnist1d", layers=3, evaluator=None)
    extractor = TokenLstmExtractor(env.observation_space, n_codes=5, lstm_units=8)
    observation = torch.zeros(1, env.observation_space.shape[0], dtype=torch.int64)
    observation[0, :2] = torch.tensor([2, 3])
    observation[0, -1] = 2
    later = observation.clone()
    later[0, 4] = 1  # a slot after the position: must not change the features
    earlier = observation.clone()
    earlier[0, 0] = 4
    features = extractor(observation)
    assert features.shape == (1, 8)
    assert torch.equal(features, extractor(later))
    assert not torch.equal(features, extractor(earlier))
