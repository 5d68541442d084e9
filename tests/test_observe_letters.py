"""``observe_letters``: the RNA policy's window shows the letters its episode has written.

Each code is the structure token (``.()`` 0-2, padding 3) plus 4 times the letter written
at that position so far (0 none, then G, A, U, C: 1-4), in the Gymnasium environment and
in the vectorized one alike; the policy's embedding has a row per code, the numpy mirror
declines it, and such a policy trains, saves, loads and designs.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from envs.dot_bracket import Target
from envs.folding import mfe_structure
from envs.rna_design import RnaDesignConfig, RnaDesignEnv
from envs.vector import RnaDesignVecEnv
from meta.checkpoints import load_checkpoint, save_checkpoint
from meta.config import META_LEARNA, LearnaConfig
from meta.design import design, policy_prior
from meta.policy_context import context_report
from meta.rna_agent import RNA_AGENT
from policies.numpy_window import WindowNetwork

CONFIG = RnaDesignConfig(state_radius=6, observe_letters=True, local_improvement=0)
TARGETS = ["((..))..((...))", ".((((....))))."]
G, A, U, C = 1, 2, 3, 4


def _letters(window: np.ndarray) -> np.ndarray:
    return window // 4


def test_a_pair_decision_shows_both_letters_and_a_loop_decision_its_own():
    env = RnaDesignEnv(["((..))"], CONFIG)
    first, _ = env.reset(seed=0)
    assert first.tolist() == [3] * 6 + [1, 1, 0, 0, 2, 2, 3]  # nothing written yet
    window = env.step(1)[0]  # site 0 (paired with 5): C-G
    # Window of site 1: positions -5..7; position 0 at index 5, position 5 at index 10.
    assert window[5] == 1 + 4 * C and window[10] == 2 + 4 * G
    assert np.count_nonzero(_letters(window)) == 2
    window = env.step(2)[0]  # site 1 (paired with 4): A-U
    assert window[4] == 1 + 4 * C and window[5] == 1 + 4 * A and window[8] == 2 + 4 * U
    window = env.step(3)[0]  # site 2 (unpaired): C; the window of site 3 starts at -3
    assert window[5] == 0 + 4 * C and window[4] == 1 + 4 * A and window[7] == 2 + 4 * U
    assert window[6] == 0  # site 3 itself: nothing written yet
    assert window.max() <= env.observation_space.high.max() == 19


def test_without_observe_letters_the_window_is_the_structure_alone():
    plain = RnaDesignConfig(state_radius=6, local_improvement=0)
    env = RnaDesignEnv(["((..))"], plain)
    env.reset(seed=0)
    window = env.step(1)[0]
    assert window.max() <= 3 and env.observation_space.high.max() == 3


def test_the_vector_env_sees_what_the_gym_env_sees_and_starts_each_episode_blank():
    rng = np.random.default_rng(0)
    for target in TARGETS:
        single = RnaDesignEnv([target], CONFIG)
        vector = RnaDesignVecEnv([target], CONFIG, n_envs=3, seed=0)
        observation, _ = single.reset(seed=0)
        observations = vector.reset()
        steps = single.encodings[0].num_steps
        for episode in range(2):
            for _ in range(steps):
                np.testing.assert_array_equal(observations[0], observation)
                actions = rng.integers(4, size=3)
                observation, _, done, _, info = single.step(int(actions[0]))
                vector.step_async(actions)
                observations, _, dones, infos = vector.step_wait()
            assert done and dones.all()
            # The terminal window holds the whole design; the next episode starts blank.
            np.testing.assert_array_equal(infos[0]["terminal_observation"], observation)
            assert np.count_nonzero(_letters(observation)) > 0
            assert np.count_nonzero(_letters(observations)) == 0
            observation, _ = single.reset(seed=episode + 1)
        vector.close()


def test_the_letters_shown_are_the_design_folded():
    env = RnaDesignVecEnv([TARGETS[0]], CONFIG, n_envs=1, seed=0)
    observation = env.reset()
    encoding = env.encodings[0]
    rng = np.random.default_rng(3)
    for _ in range(encoding.num_steps):
        env.step_async(rng.integers(4, size=1))
        observation, _, _, infos = env.step_wait()
    terminal = infos[0]["terminal_observation"]
    start = encoding.sites[-1] - CONFIG.state_radius  # the window's first position
    for offset, code in enumerate(terminal):
        position = start + offset
        if 0 <= position < len(encoding.target):
            assert "GAUC"[code // 4 - 1] == infos[0]["sequence"][position]
        else:
            assert code == 3


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"observe_letters": 1}, "observe_letters must be true or false"),
        ({"observe_letters": True, "encoding": "binary"}, "needs encoding 'tokens'"),
    ],
)
def test_observe_letters_is_validated(values, match):
    with pytest.raises(ValueError, match=match):
        RnaDesignConfig(**values)


def test_an_agent_configuration_without_an_embedding_cannot_observe_letters():
    with pytest.raises(ValueError, match="observe_letters needs encoding 'tokens'"):
        LearnaConfig.from_flat({"embedding_size": 0, "observe_letters": True})


SMALL = META_LEARNA.updated(
    {"n_envs": 2, "batch_size": 32, "observe_letters": True, "local_improvement": 0}
)
TRAIN = [Target("a", "((((((....))))))....((((....))))..."), Target("b", "(((((.....)))))")]


def _trained(tmp_path, config=SMALL):
    env = RNA_AGENT.make_env(2, 0, targets=TRAIN, config=config)
    model = RNA_AGENT.build_model(config, env, 0, "cpu", n_steps=16)
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(64)
    env.close()
    changed = any(not torch.equal(a, b) for a, b in zip(before, model.policy.parameters()))
    path = tmp_path / "letters.zip"
    save_checkpoint(model, config, path, {"timesteps": 64, "seed": 0})
    return model, changed, load_checkpoint(path)


def test_a_policy_that_observes_letters_trains_in_torch_saves_loads_and_designs(tmp_path):
    model, changed, checkpoint = _trained(tmp_path)
    embedding = model.policy.features_extractor.embedding
    assert embedding.num_embeddings == 20 and changed
    assert WindowNetwork.build(model.policy) is None  # the torch update ran
    assert checkpoint.config.env.observe_letters
    target = Target("t", "((((((....))))))....((((....))))...")
    result = design(target, method="meta-learna", model=checkpoint, time_limit=10, device="cpu")
    assert result.episodes > 0
    folded = mfe_structure(result.sequence)  # the design it reports is the one it folded
    assert result.distance == sum(a != b for a, b in zip(folded, target.structure))
    plain = META_LEARNA.updated({"n_envs": 2})
    env = RNA_AGENT.make_env(2, 0, targets=TRAIN, config=plain)
    other = RNA_AGENT.build_model(plain, env, 0, "cpu", n_steps=8)
    env.close()
    assert other.policy.features_extractor.embedding.num_embeddings == 4


def test_a_policy_that_observes_letters_gives_no_prior_and_is_read_along_its_episodes(
    tmp_path,
):
    model, _, checkpoint = _trained(tmp_path)
    env = RNA_AGENT.make_env(1, 0, targets=TRAIN[:1], config=SMALL)
    assert policy_prior(model, env.encodings[0], SMALL.env) is None
    env.close()
    report = context_report(checkpoint, TRAIN, seed=1)
    steps = sum(RnaDesignEnv([t], SMALL.env).encodings[0].num_steps for t in TRAIN)
    assert report.steps == steps and report.targets == 2
    assert report.spread > 0 and sum(report.argmax) == steps
    # Read along the episodes it samples: the same seed, the same report; another seed
    # writes other letters, and the policy's probabilities follow them.
    assert context_report(checkpoint, TRAIN, seed=1) == report
    assert context_report(checkpoint, TRAIN, seed=2).mean != report.mean


def test_a_masked_letters_policy_is_read_without_its_masked_actions(tmp_path):
    # With GU pairs, actions 4 and 5 are masked at every loop site: the episodes that
    # context_report samples must not take them (the environment would refuse them).
    config = SMALL.updated({"gu_pairs": True})
    _, _, checkpoint = _trained(tmp_path, config)
    report = context_report(checkpoint, TRAIN, seed=0)
    assert len(report.mean) == 6 and report.steps > 0
