"""LEARNA's recurrent policy form (``lstm_mode="episode"``): config, state, training, saving."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from sb3_contrib import RecurrentPPO
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from sb3_contrib.common.recurrent.type_aliases import RNNStates
from stable_baselines3 import PPO

from autorl.spaces import learna_space, meta_learna_space, to_flat_config
from envs.dot_bracket import Target
from envs.rna_design import reward
from meta.checkpoints import CheckpointError, load_checkpoint, load_weights, save_checkpoint
from meta.config import LEARNA, META_LEARNA, LearnaConfig
from meta.deferred_rewards import DeferredRewards
from meta.design import design, estimate_update_seconds
from meta.rna_agent import RNA_AGENT
from meta.training import MetaTrainer, MetaTrainSettings
from policies.config import PolicyConfig
from policies.minibatches import GuardedRecurrentPPO
from policies.recurrent import EpisodeMemory, LearnaRecurrentPolicy, update_minibatch

pytestmark = [
    pytest.mark.filterwarnings("ignore:You have specified a mini-batch size"),
    pytest.mark.usefixtures("one_thread"),
]

TARGET = Target("t", "((((....))))...((((....))))")
#: A small agent of each form (8 parallel episodes, a small LSTM).
SMALL = {
    "window": LEARNA.updated({"n_envs": 8, "lstm_units": 8}),
    "episode": LEARNA.updated({"n_envs": 8, "lstm_units": 8, "lstm_mode": "episode"}),
}


def _model(config: LearnaConfig, n_envs: int = 1, target: Target = TARGET, seed: int = 0):
    env = RNA_AGENT.make_env(n_envs, 0, targets=[target], config=config)
    model = RNA_AGENT.build_model(config, env, seed, "cpu", n_steps=env.encodings[0].num_steps)
    return env, model


def _windows(env) -> np.ndarray:
    encoding, width = env.encodings[0], env.config.window
    return np.stack([encoding.padded[site : site + width] for site in encoding.sites])


# --- configuration ----------------------------------------------------------------------


def test_lstm_mode_is_validated():
    assert PolicyConfig().lstm_mode == "window" and not PolicyConfig().recurrent
    assert PolicyConfig(lstm_mode="episode").recurrent
    with pytest.raises(ValueError, match="lstm_mode must be one of"):
        PolicyConfig(lstm_mode="steps")
    with pytest.raises(ValueError, match="needs lstm_layers >= 1"):
        PolicyConfig(lstm_mode="episode", lstm_layers=0)
    with pytest.raises(ValueError, match="lstm_mode"):
        LEARNA.updated({"lstm_mode": 1})
    with pytest.raises(ValueError, match="needs lstm_layers"):
        META_LEARNA.updated({"lstm_mode": "episode"})  # Meta-LEARNA has no LSTM


def test_published_configurations_keep_the_window_form():
    assert LEARNA.policy.lstm_mode == META_LEARNA.policy.lstm_mode == "window"
    assert load_checkpoint().config.policy.lstm_mode == "window"  # the shipped model


def test_flat_round_trip_with_lstm_mode(tmp_path: Path):
    config = SMALL["episode"]
    assert config.to_flat()["lstm_mode"] == "episode"
    assert LearnaConfig.from_flat(config.to_flat()) == config
    config.save(tmp_path / "c.json")
    assert LearnaConfig.load(tmp_path / "c.json") == config
    # A file written before the field existed reads as the window form.
    flat = LEARNA.to_flat()
    del flat["lstm_mode"]
    assert LearnaConfig.from_flat(flat).policy.lstm_mode == "window"


@pytest.mark.parametrize("make", [learna_space, meta_learna_space])
def test_the_spaces_choose_lstm_mode_only_with_an_lstm(make):
    modes = set()
    for sampled in make(seed=3).sample_configuration(200):
        sampled = dict(sampled)
        assert ("lstm_mode" in sampled) == (sampled["lstm_layers"] > 0)
        flat = to_flat_config(sampled)
        agent = LEARNA.updated(flat)
        assert agent.policy.lstm_mode == sampled.get("lstm_mode", "window")
        modes.add(agent.policy.lstm_mode)
    assert modes == {"window", "episode"}


# --- the networks -----------------------------------------------------------------------


@pytest.mark.parametrize("shared", [True, False])
def test_episode_form_is_recurrent_ppo_with_the_lstm_after_the_features(shared: bool):
    config = SMALL["episode"].updated({"lstm_layers": 2, "shared_extractor": shared})
    env, model = _model(config)
    try:
        policy = model.policy
        assert type(model) is GuardedRecurrentPPO and isinstance(model, RecurrentPPO)
        assert isinstance(policy, LearnaRecurrentPolicy)
        assert policy.features_extractor.lstm is None  # no LSTM over the window
        conv_out = 3 * (config.env.window - config.policy.receptive_field + 1)  # 18 channels
        assert policy.features_dim == 6 * conv_out
        lstm = policy.lstm_actor
        assert (lstm.input_size, lstm.hidden_size, lstm.num_layers) == (policy.features_dim, 8, 2)
        assert policy.shared_lstm is shared and (policy.lstm_critic is None) is shared
        assert policy.share_features_extractor is shared
    finally:
        env.close()
    env, window = _model(SMALL["window"])
    try:
        assert isinstance(window, PPO) and window.policy.features_extractor.lstm is not None
    finally:
        env.close()


def test_the_value_loss_trains_a_shared_lstm():
    env, model = _model(SMALL["episode"], n_envs=2)
    try:
        policy = model.policy
        data = update_minibatch(policy, _windows(env), model.n_steps, 2, 16)
        values, _, _ = policy.evaluate_actions(
            data.observations, data.actions.long().flatten(), data.lstm_states, data.episode_starts
        )
        values.sum().backward()
        assert policy.lstm_actor.weight_ih_l0.grad.abs().sum() > 0
        assert policy.features_extractor.convs[0].weight.grad.abs().sum() > 0
    finally:
        env.close()


def test_one_call_over_a_sequence_equals_the_step_by_step_loop():
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(5, 4, num_layers=2)
    features = torch.randn(3 * 6, 5)  # 3 sequences of 6 steps
    states = (torch.randn(2, 3, 4), torch.randn(2, 3, 4))
    starts = torch.zeros(3, 6)
    starts[[0, 2], 0] = 1.0  # sequences 0 and 2 begin an episode, 1 continues one
    fast = LearnaRecurrentPolicy._process_sequence(features, states, starts.flatten(), lstm)
    loop = RecurrentActorCriticPolicy._process_sequence(features, states, starts.flatten(), lstm)
    torch.testing.assert_close(fast[0], loop[0])
    torch.testing.assert_close(fast[1][0], loop[1][0])
    starts[1, 3] = 1.0  # a start inside a sequence: sb3-contrib's loop, unchanged
    fast = LearnaRecurrentPolicy._process_sequence(features, states, starts.flatten(), lstm)
    loop = RecurrentActorCriticPolicy._process_sequence(features, states, starts.flatten(), lstm)
    torch.testing.assert_close(fast[0], loop[0])


# --- state across steps -----------------------------------------------------------------


def test_the_lstm_state_is_carried_across_steps_and_reset_at_episode_start():
    env, model = _model(SMALL["episode"])
    try:
        windows = _windows(env)
        current = windows[3:4]
        probabilities = []
        for history in ([0, 1, 2], [7, 12, 15]):
            memory = EpisodeMemory(model.policy, 1)
            for step in history:
                memory.act(windows[step : step + 1])
            probabilities.append(memory.distribution(current).distribution.probs)
        # The same window after two different histories: two different distributions.
        assert not torch.allclose(probabilities[0], probabilities[1], atol=1e-6)
        memory.episodes_ended(np.array([True]))
        assert all(bool((state == 0).all()) for state in memory.states)
        fresh = EpisodeMemory(model.policy, 1).distribution(current).distribution.probs
        torch.testing.assert_close(memory.distribution(current).distribution.probs, fresh)
    finally:
        env.close()
    env, window = _model(SMALL["window"])  # the window form has no memory
    try:
        observation = torch.as_tensor(windows[3:4])
        first = window.policy.get_distribution(observation).distribution.probs
        window.policy.get_distribution(torch.as_tensor(windows[:3]))
        again = window.policy.get_distribution(observation).distribution.probs
        torch.testing.assert_close(again, first)
    finally:
        env.close()


def test_sampling_memory_matches_what_the_update_replays():
    """Log-likelihoods of sampled episodes equal the update's, from zero state at the start."""
    env, model = _model(SMALL["episode"], n_envs=3, seed=4)
    try:
        steps = env.encodings[0].num_steps
        memory = EpisodeMemory(model.policy, 3)
        observations, actions, log_probs = [], [], []
        obs = env.reset()
        for _ in range(steps + 2):  # into the next episodes: the state is reset there
            distribution = memory.distribution(obs)
            action = distribution.get_actions()
            observations.append(obs)
            actions.append(action)
            log_probs.append(distribution.log_prob(action))
            obs, _, dones, _ = env.step(action.numpy())
            memory.episodes_ended(dones)
        starts = np.zeros((steps + 2, 3), dtype=np.float32)
        starts[[0, steps]] = 1.0
        zeros = torch.zeros(1, 3, 8)
        states = RNNStates((zeros, zeros), (zeros, zeros))
        # Sequence after sequence (one per environment), as the rollout buffer orders them.
        order = lambda x: torch.as_tensor(np.asarray(x)).swapaxes(0, 1).flatten(0, 1)  # noqa: E731
        _, replayed, _ = model.policy.evaluate_actions(
            order(np.stack(observations)).float(),
            order(torch.stack(actions)),
            states,
            order(starts),
        )
        torch.testing.assert_close(replayed, order(torch.stack(log_probs).detach()))
    finally:
        env.close()


# --- refusals -----------------------------------------------------------------------------


def test_episode_form_is_refused_where_actions_are_masked():
    with pytest.raises(ValueError, match="lstm_mode 'episode' cannot be used with gu_pairs"):
        _model(SMALL["episode"].updated({"gu_pairs": True}))
    constrained = Target("c", TARGET.structure, "N" * 4 + "A" + "N" * 22)
    with pytest.raises(ValueError, match="with sequence constraints"):
        design(constrained, method="learna", config=SMALL["episode"], time_limit=5, device="cpu")


# --- design loop, checkpoints, meta-training ------------------------------------------------


def test_update_estimate_of_the_recurrent_agent():
    env, model = _model(SMALL["episode"], n_envs=8)
    try:
        before = np.random.get_state()[1].copy()
        seconds = estimate_update_seconds(model, env.encodings[0], 1)
        assert 0 < seconds < 30
        assert (np.random.get_state()[1] == before).all()  # NumPy's global state untouched
    finally:
        env.close()


@pytest.mark.parametrize("mode", ["window", "episode"])
def test_train_save_load_and_design_with_either_form(mode: str, tmp_path: Path, monkeypatch):
    config = SMALL[mode]
    algorithm = RecurrentPPO if mode == "episode" else PPO
    updates = []
    train = algorithm.train
    monkeypatch.setattr(algorithm, "train", lambda self: updates.append(1) or train(self))
    # learna: PPO from scratch; many solutions wanted, so it keeps updating to the budget.
    result = design(
        TARGET,
        method="learna",
        config=config,
        time_limit=30,
        max_episodes=40,
        num_solutions=1000,
        device="cpu",
        metrics=False,
    )
    assert result.episodes == 40 and result.sequence
    assert len(updates) >= 3  # 5 rollouts of 8 episodes: updates between them
    env, model = _model(config, n_envs=8)
    try:
        model.learn(total_timesteps=3 * 8 * model.n_steps)
        path = tmp_path / "model.zip"
        save_checkpoint(model, config, path, {"timesteps": model.num_timesteps})
    finally:
        env.close()
    checkpoint = load_checkpoint(path)
    assert checkpoint.config == config
    env, fresh = _model(checkpoint.config, n_envs=8, seed=9)
    try:
        load_weights(fresh, checkpoint, with_optimizer=True)
        for name, tensor in model.policy.state_dict().items():
            torch.testing.assert_close(fresh.policy.state_dict()[name], tensor)
    finally:
        env.close()
    for method in ("meta-learna", "meta-learna-adapt"):
        result = design(
            TARGET,
            method=method,
            model=path,
            time_limit=30,
            max_episodes=24,
            num_solutions=1000,
            device="cpu",
            metrics=False,
        )
        assert result.episodes == 24 and result.method == method and result.sequence
    # The zip under a configuration of the other form does not load.
    other = "window" if mode == "episode" else "episode"
    flipped = tmp_path / "flipped.zip"
    shutil.copyfile(path, flipped)
    config.updated({"lstm_mode": other}).save(flipped.with_suffix(".json"))
    with pytest.raises(CheckpointError, match="do not match"):
        design(TARGET, method="meta-learna", model=flipped, time_limit=5, device="cpu")


def test_deferred_rewards_reach_the_recurrent_rollout_buffer():
    config = SMALL["episode"].updated({"reward_exponent": 1.0})
    targets = [TARGET, Target("u", "((((((....))))))..((....))")]
    env = RNA_AGENT.make_env(4, 0, targets=targets, config=config, deferred=True)
    try:
        model = RNA_AGENT.build_model(config, env, 0, "cpu", n_steps=40)
        infos: list[dict] = []
        model.learn(total_timesteps=4 * 40, callback=DeferredRewards(infos.append))
        rewards = model.rollout_buffer.rewards  # (n_steps, n_envs): not flattened by train
        expected = sorted(reward(info["distance"], len(info["structure"]), 1.0) for info in infos)
        assert len(infos) >= 4  # episodes of 19 and 18 steps: they end at different steps
        np.testing.assert_allclose(sorted(rewards[rewards != 0]), expected, rtol=1e-5)
    finally:
        env.close()


TRAIN = [
    "((((((....))))))........",
    "..((((((.....))))))...((((....))))",
    "(((((.....)))))..(((....)))",
    "((((....))))...((((((....))))))..",
]


def test_tiny_meta_training_with_the_episode_form(tmp_path: Path):
    train = tmp_path / "train.txt"
    train.write_text("".join(f"t{i}\t{s}\n" for i, s in enumerate(TRAIN)))
    validation = tmp_path / "validation.txt"
    validation.write_text("v0\t((((...))))..((...))\n")
    config = META_LEARNA.updated(
        {"lstm_layers": 1, "lstm_units": 8, "lstm_mode": "episode", "n_envs": 8}
    )
    episodes = []
    trainer = MetaTrainer(
        MetaTrainSettings(
            train_data=train,
            out=tmp_path / "run",
            config=config,
            timesteps=256,
            n_steps=16,
            device="cpu",
            seed=1,
            validation_data=validation,
            validation_time=1.0,
            validation_envs=4,
        ),
        on_progress=episodes.append,
    )
    trainer.run()
    assert episodes and episodes[-1].episodes > 0  # deferred rewards reached the rollouts
    checkpoint = load_checkpoint(tmp_path / "run" / "latest.zip")
    assert checkpoint.timesteps >= 256 and checkpoint.config == config
    assert (tmp_path / "run" / "validation.csv").is_file()
    result = design(
        Target("d", "((((....))))..((...))"),
        method="meta-learna",
        model=checkpoint,
        time_limit=10,
        max_episodes=8,
        device="cpu",
        metrics=False,
    )
    assert result.episodes >= 1 and result.sequence
