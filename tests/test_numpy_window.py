"""The numpy mirror of the window policy against torch and SB3's own PPO update.

Every check runs SB3's (or sb3-contrib's) code as the reference on an identical twin of
the agent: the same weights, optimizer state, rollout buffer and numpy generator state
(which draws the minibatches), and compares the results.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from sb3_contrib import MaskablePPO
from stable_baselines3 import PPO
from stable_baselines3.common.utils import obs_as_tensor

from envs.dot_bracket import Target
from meta.config import LEARNA, LearnaConfig
from meta.numpy_ppo import MaskableWindowPPO, WindowPPO
from meta.rna_agent import RNA_AGENT
from policies.numpy_window import WindowNetwork

TARGET = Target("t", "((((...((((....))))..))))...((((....))))")

#: A small network of each form the mirror computes (the shipped one is 2 convolutions,
#: one FC layer, tanh, shared extractor, token embedding).
SMALL = {
    "state_radius": 6,
    "conv_kernel_1": 5,
    "conv_channels_1": 4,
    "conv_kernel_2": 3,
    "conv_channels_2": 3,
    "lstm_layers": 0,
    "fc_layers": 1,
    "fc_units": 8,
    "n_envs": 6,
    "batch_size": 17,
    "n_epochs": 2,
    "local_improvement": 0,
    "entropy_coef": 0.05,
    "learning_rate": 3e-3,
}
VARIANTS = {
    "shipped-form": {},
    "binary-relu-separate": {"embedding_size": 0, "activation": "relu", "shared_extractor": False},
    "one-conv-two-fc": {"conv_kernel_2": 0, "fc_layers": 2},
    "no-conv": {"conv_kernel_1": 0, "conv_kernel_2": 0},
    "gu-masks": {"gu_pairs": True},
}


def _config(variant: str) -> LearnaConfig:
    return LEARNA.updated({**SMALL, **VARIANTS[variant]})


def _agent(config: LearnaConfig, seed: int = 0):
    env = RNA_AGENT.make_env(config.ppo.n_envs, seed, targets=[TARGET], config=config)
    return RNA_AGENT.build_model(config, env, seed, "cpu"), env


def _twins(config: LearnaConfig):
    """Two agents in the same state with a full rollout buffer (after one update)."""
    model, env = _agent(config)
    model.learn(total_timesteps=model.n_steps * model.n_envs * 2)  # two rollouts, updates
    twin, twin_env = _agent(config, seed=1)
    twin.policy.load_state_dict(model.policy.state_dict())
    # a deep copy: load_state_dict keeps the very tensors of a state on the same device
    twin.policy.optimizer.load_state_dict(copy.deepcopy(model.policy.optimizer.state_dict()))
    twin.rollout_buffer = copy.deepcopy(model.rollout_buffer)
    twin._current_progress_remaining = model._current_progress_remaining
    twin._n_updates = model._n_updates
    return model, twin, (env, twin_env)


def _assert_same_state(reference, model) -> None:
    for (name, expected), actual in zip(
        reference.policy.state_dict().items(), model.policy.state_dict().values(), strict=True
    ):
        np.testing.assert_allclose(
            actual.numpy(), expected.numpy(), rtol=2e-4, atol=2e-6, err_msg=name
        )
    expected_state = reference.policy.optimizer.state_dict()["state"]
    actual_state = model.policy.optimizer.state_dict()["state"]
    assert expected_state.keys() == actual_state.keys()
    for key, expected in expected_state.items():
        assert float(actual_state[key]["step"]) == float(expected["step"])
        for moment in ("exp_avg", "exp_avg_sq"):
            np.testing.assert_allclose(
                actual_state[key][moment].numpy(),
                expected[moment].numpy(),
                rtol=2e-4,
                atol=1e-7,
                err_msg=f"{key} {moment}",
            )


def _assert_same_records(reference, model) -> None:
    """SB3's ``train/*`` logger records (meta-training's TensorBoard curves)."""
    expected = {k: v for k, v in reference.logger.name_to_value.items() if k.startswith("train/")}
    actual = {k: v for k, v in model.logger.name_to_value.items() if k.startswith("train/")}
    assert actual.keys() == expected.keys() and len(expected) >= 9
    for key, value in expected.items():
        np.testing.assert_allclose(actual[key], value, rtol=1e-3, atol=1e-6, err_msg=key)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_mirror_supports_every_window_form(variant: str) -> None:
    model, env = _agent(_config(variant))
    try:
        expected = MaskableWindowPPO if variant == "gu-masks" else WindowPPO
        assert type(model) is expected
        assert model.numpy_update_supported()
    finally:
        env.close()


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_numpy_update_is_sb3s_update(variant: str) -> None:
    """Two updates in a row: parameters and Adam's moments as SB3's torch update leaves them."""
    reference, model, envs = _twins(_config(variant))
    reference_train = MaskablePPO.train if variant == "gu-masks" else PPO.train
    try:
        for round_ in range(2):
            np.random.seed(100 + round_)
            reference_train(reference)
            np.random.seed(100 + round_)
            model.train()
            _assert_same_state(reference, model)
            _assert_same_records(reference, model)
        assert model._n_updates == reference._n_updates
    finally:
        for env in envs:
            env.close()


@pytest.mark.parametrize("clip_range_vf", [None, 0.05])
def test_value_clipping_and_target_kl_follow_sb3(clip_range_vf: float | None) -> None:
    reference, model, envs = _twins(_config("shipped-form"))
    for agent in (reference, model):
        agent.clip_range_vf = (lambda _: clip_range_vf) if clip_range_vf else None
        agent.target_kl = 0.002  # stops the second epoch early
    try:
        np.random.seed(7)
        PPO.train(reference)
        np.random.seed(7)
        model.train()
        _assert_same_state(reference, model)
    finally:
        for env in envs:
            env.close()


def _episode_windows(model, env) -> tuple[torch.Tensor, np.ndarray]:
    """The windows and action masks of one episode's steps, one row per step."""
    observations, rows, masks = env.reset(), [], []
    for _ in range(model.n_steps):
        rows.append(observations[0])
        masks.append(env.action_masks()[0])
        observations, _, _, _ = env.step(np.zeros(env.num_envs, dtype=np.int64))
    return obs_as_tensor(np.stack(rows), "cpu"), np.stack(masks)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_sampling_has_torchs_values_and_probabilities(variant: str) -> None:
    """Windows of every step of an episode (and their masks) through numpy and torch."""
    model, env = _agent(_config(variant))
    try:
        model.learn(total_timesteps=model.n_steps * model.n_envs)
        observations, masks = _episode_windows(model, env)
        assert len(np.unique(observations.numpy(), axis=0)) > 5
        kwargs = {"action_masks": masks} if variant == "gu-masks" else {}
        base = type(model.policy).__mro__[2]  # SB3's own policy class
        assert base.__name__.endswith("ActorCriticPolicy")
        with torch.no_grad():
            torch.manual_seed(3)
            actions, values, log_probs = model.policy(observations, **kwargs)
            torch.manual_seed(3)
            expected = base.forward(model.policy, observations, **kwargs)
            distribution = model.policy.get_distribution(observations, **kwargs)
            expected_log_probs = distribution.log_prob(actions).numpy()
            greedy = model.policy._predict(observations, True, **kwargs)
            expected_greedy = base._predict(model.policy, observations, True, **kwargs)
        assert torch.equal(actions, expected[0])
        assert torch.equal(greedy, expected_greedy)
        np.testing.assert_allclose(values.numpy(), expected[1].numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(log_probs.numpy(), expected_log_probs, rtol=1e-5, atol=1e-6)
    finally:
        env.close()


def test_sampling_follows_every_change_of_the_weights() -> None:
    """Logits are kept per window between changes: an update or loaded weights renew them."""
    model, env = _agent(_config("shipped-form"))
    other, other_env = _agent(_config("shipped-form"), seed=5)
    base = type(model.policy).__mro__[2]

    def assert_torchs_values() -> None:
        with torch.no_grad():
            _, values, _ = model.policy(observations)
            expected = base.predict_values(model.policy, observations)
        np.testing.assert_allclose(values.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)

    try:
        observations, _ = _episode_windows(model, env)
        assert_torchs_values()
        model.learn(total_timesteps=model.n_steps * model.n_envs)  # a numpy update
        assert_torchs_values()
        model.policy.load_state_dict(other.policy.state_dict())
        assert_torchs_values()
        with torch.no_grad():
            model.policy.value_net.bias.add_(1.0)
        assert_torchs_values()
    finally:
        env.close()
        other_env.close()


def test_masked_actions_are_never_sampled() -> None:
    """Even with all the probability pushed onto GU pairs, unpaired sites never get one."""
    model, env = _agent(_config("gu-masks"))
    try:
        policy = model.policy
        with torch.no_grad():
            policy.action_net.weight.zero_()
            policy.action_net.bias.copy_(torch.tensor([-20.0] * 4 + [20.0, 20.0]))
        observations = env.reset()
        masked_steps = 0
        for _ in range(model.n_steps):
            masks = env.action_masks()
            masked_steps += int((~masks).any())
            with torch.no_grad():
                tensor = obs_as_tensor(observations, "cpu")
                actions, _, log_probs = policy(tensor, action_masks=masks)
            assert masks[np.arange(len(actions)), actions.numpy()].all()
            assert np.isfinite(log_probs.numpy()).all()
            predicted, _ = model.predict(observations, action_masks=masks)
            assert masks[np.arange(len(predicted)), predicted].all()
            observations, _, _, _ = env.step(actions.numpy())
        assert masked_steps >= 10  # the target's 14 unpaired sites
    finally:
        env.close()


def test_unsupported_policies_fall_back_to_torch() -> None:
    """An LSTM over the window, or parameters on another dtype, keep SB3's code paths."""
    model, env = _agent(LEARNA.updated({**SMALL, "lstm_layers": 1, "lstm_units": 4}))
    try:
        assert WindowNetwork.build(model.policy) is None
        assert not model.numpy_update_supported()
        before = [p.detach().clone() for p in model.policy.parameters()]
        model.learn(total_timesteps=model.n_steps * model.n_envs)  # torch rollouts and update
        assert any(not torch.equal(a, b) for a, b in zip(before, model.policy.parameters()))
    finally:
        env.close()
    model, env = _agent(_config("shipped-form"))
    try:
        model.policy.double()
        assert WindowNetwork.build(model.policy) is None
    finally:
        env.close()


def test_the_first_update_estimate_times_the_numpy_update(monkeypatch) -> None:
    """The design loop's estimate times the update that will run, and leaves the agent be."""
    import meta.design as md
    import meta.numpy_ppo as numpy_ppo

    calls = []

    def spy(model, windows, repeats):
        calls.append((len(windows), repeats))
        return real(model, windows, repeats)

    real = numpy_ppo.time_minibatch
    monkeypatch.setattr(md, "time_minibatch", spy)
    model, env = _agent(_config("shipped-form"))
    try:
        before = [p.detach().clone() for p in model.policy.parameters()]
        random_state = np.random.get_state()[1].copy()
        seconds = md.estimate_update_seconds(model, env.encodings[0], 1)
        assert seconds > 0 and calls == [(env.encodings[0].num_steps, md._TIMED_MINIBATCHES)]
        assert all(torch.equal(a, b) for a, b in zip(before, model.policy.parameters()))
        assert not model.policy.optimizer.state  # no Adam state was written
        assert (np.random.get_state()[1] == random_state).all()
    finally:
        env.close()
    model, env = _agent(LEARNA.updated({**SMALL, "lstm_layers": 1, "lstm_units": 4}))
    try:
        assert md.estimate_update_seconds(model, env.encodings[0], 1) > 0
        assert len(calls) == 1  # torch's minibatches were timed
    finally:
        env.close()


def test_the_switch_runs_sb3s_torch_code(monkeypatch) -> None:
    """``policies.numpy_window.ENABLED = False``: SB3's own sampling and update run."""
    from policies import numpy_window

    model, env = _agent(_config("shipped-form"))
    try:
        model.learn(total_timesteps=model.n_steps * model.n_envs)
        observations, _ = _episode_windows(model, env)
        with torch.no_grad():
            assert model.policy.window_network() is not None
        monkeypatch.setattr(numpy_window, "ENABLED", False)
        assert not model.numpy_update_supported()
        with torch.no_grad():
            assert model.policy.window_network() is None
        calls = []
        monkeypatch.setattr(PPO, "train", lambda self: calls.append(self))
        model.train()
        assert calls == [model]
    finally:
        env.close()


def _forward_backward(network, params, windows, seed: int):
    """Logits, values and every parameter's gradient of a fixed random loss on ``windows``."""
    rows = np.arange(len(windows.observations))
    logits, values, cache = network.forward_windows(params, windows, rows)
    rng = np.random.default_rng(seed)
    d_logits = rng.standard_normal(logits.shape).astype(np.float32)
    d_values = rng.standard_normal(values.shape).astype(np.float32)
    return logits, values, network.backward(params, cache, d_logits, d_values)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_shared_receptive_fields_compute_what_every_window_computes(
    variant: str, monkeypatch
) -> None:
    """The convolutions run once per distinct field: outputs and gradients are unchanged.

    The windows are every step's window of two targets (they share fields within a
    target), in a shuffled order, so a field's first occurrence is not its window's.
    """
    from policies import numpy_window

    model, env = _agent(_config(variant))
    other = Target("u", "..((((((....))).)))....(((...)))..((((....))))")
    other_env = RNA_AGENT.make_env(2, 0, targets=[other], config=_config(variant))
    try:
        model.learn(total_timesteps=model.n_steps * model.n_envs)
        network = WindowNetwork.build(model.policy)
        params = WindowNetwork.parameters_of(model.policy)
        tower = network.pi_tower
        kernels = tuple(conv.kernel for conv in tower.convs)
        rows = np.concatenate(
            [_episode_windows(model, env)[0].numpy(), _episode_windows(model, other_env)[0].numpy()]
        )
        rows = np.random.default_rng(4).permutation(np.unique(rows, axis=0))
        shared = numpy_window.Windows(rows)
        plan = shared.fields(tower.embedding is not None, kernels)
        if not kernels:  # no convolution: nothing to share
            assert plan is None
            return
        assert plan is not None and len(plan.children) == len(kernels) - 1
        assert len(plan.columns) < len(rows) * (rows.shape[1] - kernels[0] + 1) / 2
        monkeypatch.setattr(numpy_window, "SHARED_FIELDS", -1.0)  # every window on its own
        alone = numpy_window.Windows(rows)
        assert alone.fields(tower.embedding is not None, kernels) is None
        expected_logits, expected_values, expected_grads = _forward_backward(
            network, params, alone, 9
        )
        logits, values, grads = _forward_backward(network, params, shared, 9)
        np.testing.assert_allclose(logits, expected_logits, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(values, expected_values, rtol=1e-5, atol=1e-5)
        for index, (actual, expected) in enumerate(zip(grads, expected_grads, strict=True)):
            assert np.abs(expected).max() > 0, index
            np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5, err_msg=str(index))
    finally:
        env.close()
        other_env.close()


def test_fields_are_not_shared_between_unrelated_windows() -> None:
    """Windows without common fields (or a single window) keep the per-window computation."""
    from policies import numpy_window

    rng = np.random.default_rng(0)
    random_rows = rng.integers(0, 4, size=(50, 13)).astype(np.float32)
    assert numpy_window.Windows(random_rows).fields(True, (5, 3)) is None
    one_window = np.zeros((1, 13), np.float32)  # all its fields alike, but it is alone
    assert numpy_window.Windows(one_window).fields(True, (5, 3)) is None
    repeated = np.tile(random_rows[:1], (50, 1))
    repeated[::2, 0] = 3.0 - repeated[::2, 0]  # two distinct windows, fields mostly shared
    plan = numpy_window.Windows(repeated).fields(True, (5, 3))
    assert plan is not None and plan.last.shape == (50, 13 - 7 + 1)
    assert len(plan.columns) <= 2 * (13 - 5 + 1)


@pytest.mark.parametrize(
    "changes", [{}, {"conv_kernel_2": 0, "fc_layers": 2}, {"shared_extractor": False}]
)
def test_the_field_table_samples_what_every_window_computes(changes: dict) -> None:
    """Sampling keeps each receptive field's tower output across steps (meta-training).

    Batches of windows of three targets, step after step as parallel episodes meet them,
    through one field table: every batch's logits and values are those of the per-window
    computation, and each distinct field is computed once (per tower).
    """
    from policies import numpy_window

    config = LEARNA.updated({**SMALL, **changes})
    model, env = _agent(config)
    others = [
        Target("u", "..((((((....))).)))....(((...)))..((((....))))"),
        Target("v", ".((((....))))((((((...)))))).."),
    ]
    envs = [env] + [RNA_AGENT.make_env(2, 0, targets=[t], config=config) for t in others]
    try:
        model.learn(total_timesteps=model.n_steps * model.n_envs)
        network = WindowNetwork.build(model.policy)
        params = WindowNetwork.parameters_of(model.policy)
        table = numpy_window._FieldTable.of(network, params)
        assert table is not None
        assert len(table.towers) == (1 if config.policy.shared_extractor else 2)
        episodes = [_episode_windows(model, e)[0].numpy() for e in envs]
        seen: list[set[bytes]] = [set() for _ in table.towers]
        positions = 0
        for step in range(max(len(e) for e in episodes)):
            batch = np.stack([e[min(step, len(e) - 1)] for e in episodes])
            logits, values = table.forward(batch)
            expected_logits, expected_values, _ = network.forward_windows(
                params, numpy_window.Windows(batch), np.arange(len(batch))
            )
            np.testing.assert_allclose(logits, expected_logits, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(values, expected_values, rtol=1e-5, atol=1e-5)
            for fields, (_, span) in zip(seen, table.towers, strict=True):
                for row in batch.astype(np.int64):
                    fields.update(row[k : k + span].tobytes() for k in range(len(row) - span + 1))
                    positions += len(row) - span + 1
        for fields, keys in zip(seen, table.keys, strict=True):
            assert len(keys) == len(np.unique(keys)) == len(fields)  # each computed once
        assert sum(len(keys) for keys in table.keys) < positions / 2  # most were met before
    finally:
        for e in envs:
            e.close()


def test_the_field_table_leaves_other_networks_to_the_window_path() -> None:
    """Binary inputs and towers without convolutions have no field table."""
    from policies import numpy_window

    for variant in ("binary-relu-separate", "no-conv"):
        model, env = _agent(_config(variant))
        try:
            network = WindowNetwork.build(model.policy)
            params = WindowNetwork.parameters_of(model.policy)
            assert numpy_window._FieldTable.of(network, params) is None
        finally:
            env.close()
