import dataclasses
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import envs
from envs.cartpole_variants import (
    DEFAULT_RANGES,
    FEATURES,
    TEST_RANGES,
    TRAINING_RANGES,
    CartPoleContext,
    CartPoleVariantsEnv,
    ContextRanges,
)

REPO = Path(__file__).resolve().parents[1]
ID = envs.CARTPOLE_VARIANTS_ID


def rna_design_kwargs():
    from envs.rna_design import RnaDesignConfig

    return {
        "targets": ["((((....))))", "..((((...)))).."],
        "config": RnaDesignConfig(state_radius=4),
    }


# How each registered id is made in the checker test: (test id, env id, kwargs factory).
CHECK_CASES = [
    ("rna-design", envs.RNA_DESIGN_ID, rna_design_kwargs),
    ("cartpole-v1-physics", ID, dict),
    ("nas-mdp-digits", envs.NAS_MDP_ID, lambda: {"dataset": "digits", "layers": 2}),
    ("train", ID, lambda: {"ranges": "train"}),
    ("train-context-obs", ID, lambda: {"ranges": "train", "context_in_observation": True}),
    (
        "test-normalized-as-train",
        ID,
        lambda: {"ranges": "test", "normalization_ranges": "train", "context_in_observation": True},
    ),
]


def test_every_registered_id_is_checked():
    assert ID in envs.ENV_IDS and envs.RNA_DESIGN_ID in envs.ENV_IDS
    assert set(envs.ENV_IDS) <= {env_id for _, env_id, _ in CHECK_CASES}
    assert all(env_id in gym.registry for env_id in envs.ENV_IDS)


# CartPole's own observation space has infinite velocity bounds; gymnasium's checker says so.
@pytest.mark.filterwarnings("ignore:.*Box observation space (minimum|maximum) value is")
@pytest.mark.parametrize(
    ("env_id", "kwargs"), [case[1:] for case in CHECK_CASES], ids=[case[0] for case in CHECK_CASES]
)
def test_registered_envs_pass_both_checkers(env_id, kwargs):
    env = gym.make(env_id, **kwargs())
    gym_check_env(env.unwrapped, skip_render_check=True)
    sb3_check_env(env.unwrapped, warn=True)


def policy_action(obs, rng):
    """A rough balancing controller with random slips: long episodes, some truncated."""
    action = int(obs[2] + 0.3 * obs[3] + 0.01 * obs[1] > 0)
    return action if rng.random() > 0.1 else 1 - action


def test_default_context_is_exactly_cartpole_v1():
    reference = gym.make("CartPole-v1")
    variants = gym.make(ID)
    assert variants.spec.max_episode_steps == reference.spec.max_episode_steps == 500
    assert variants.observation_space == reference.observation_space
    rng = np.random.default_rng(0)
    lengths, truncations = [], 0
    for episode in range(8):
        seed = 123 if episode == 0 else None  # later episodes continue the seeded stream
        obs_ref, _ = reference.reset(seed=seed)
        obs, info = variants.reset(seed=seed)
        assert np.array_equal(obs, obs_ref) and obs.dtype == obs_ref.dtype
        assert info["context"] == CartPoleContext().as_dict()
        steps, done = 0, False
        while not done:
            action = policy_action(obs_ref, rng)
            obs_ref, reward_ref, term_ref, trunc_ref, _ = reference.step(action)
            obs, reward, term, trunc, _ = variants.step(action)
            assert np.array_equal(obs, obs_ref)
            assert (reward, term, trunc) == (reward_ref, term_ref, trunc_ref)
            steps += 1
            done = term_ref or trunc_ref
        lengths.append(steps)
        truncations += trunc_ref
    assert truncations >= 1 and min(lengths) < 500  # both ways of ending an episode were seen
    physics = ("gravity", "masscart", "masspole", "total_mass", "length", "polemass_length")
    physics += ("force_mag", "tau", "kinematics_integrator", "x_threshold")
    for name in physics:
        assert getattr(variants.unwrapped, name) == getattr(reference.unwrapped, name), name


def test_explicit_default_ranges_and_point_context_are_cartpole_v1_too():
    reference = gym.make("CartPole-v1")
    for kwargs in ({"ranges": "default"}, {"ranges": DEFAULT_RANGES}, {"ranges": {"gravity": 9.8}}):
        env = gym.make(ID, **kwargs)
        rng = np.random.default_rng(1)
        obs_ref, _ = reference.reset(seed=5)
        obs, _ = env.reset(seed=5)
        for _ in range(30):
            action = int(rng.integers(2))
            obs_ref, *_ = reference.step(action)
            obs, *_ = env.step(action)
            assert np.array_equal(obs, obs_ref)


def trace(env, seed, episodes=4, steps=15):
    """Contexts and observations of a few episodes under a fixed action sequence."""
    rng = np.random.default_rng(99)
    contexts, observations = [], []
    for episode in range(episodes):
        obs, info = env.reset(seed=seed if episode == 0 else None)
        contexts.append(info["context"])
        observations.append(obs)
        for _ in range(steps):
            obs, _, term, trunc, info = env.step(int(rng.integers(2)))
            assert info["context"] == contexts[-1]
            observations.append(obs)
            if term or trunc:
                break
    return contexts, np.stack(observations)


def test_same_seed_same_contexts_and_episodes():
    first = trace(gym.make(ID, ranges="train", context_in_observation=True), seed=7)
    second = trace(gym.make(ID, ranges="train", context_in_observation=True), seed=7)
    assert first[0] == second[0]
    assert np.array_equal(first[1], second[1])
    assert len({tuple(c.values()) for c in first[0]}) == len(first[0])  # a new one per episode
    other = trace(gym.make(ID, ranges="train", context_in_observation=True), seed=8)
    assert all(a != b for a, b in zip(first[0], other[0]))


def test_reseeding_repeats_the_contexts():
    env = CartPoleVariantsEnv(ranges="train")
    first = [env.reset(seed=3 if i == 0 else None)[1]["context"] for i in range(3)]
    again = [env.reset(seed=3 if i == 0 else None)[1]["context"] for i in range(3)]
    assert first == again


def test_initial_states_do_not_depend_on_the_ranges():
    # Contexts have their own random stream: the same seed starts every context alike.
    default, train = CartPoleVariantsEnv(), CartPoleVariantsEnv(ranges="train")
    for episode in range(5):
        seed = 11 if episode == 0 else None
        assert np.array_equal(default.reset(seed=seed)[0], train.reset(seed=seed)[0])
        assert default.context != train.context


@pytest.mark.parametrize("ranges", [TRAINING_RANGES, TEST_RANGES])
def test_contexts_lie_in_the_ranges_and_set_the_physics(ranges):
    env = CartPoleVariantsEnv(ranges=ranges)
    values = []
    for episode in range(200):
        _, info = env.reset(seed=0 if episode == 0 else None)
        context = env.context
        assert info["context"] == context.as_dict()
        assert ranges.contains(context)
        values.append(context.as_array())
        unwrapped = env.unwrapped
        for name in FEATURES:
            assert getattr(unwrapped, name) == getattr(context, name)
        assert unwrapped.total_mass == context.masspole + context.masscart
        assert unwrapped.polemass_length == context.masspole * context.length
    values = np.array(values)
    # Uniform draws cover each range: min and max within 10% of its ends.
    width = ranges.high - ranges.low
    assert np.all(values.min(axis=0) < ranges.low + 0.1 * width)
    assert np.all(values.max(axis=0) > ranges.high - 0.1 * width)


def test_options_pin_the_context():
    env = gym.make(ID, ranges="train")
    _, info = env.reset(seed=0, options={"context": {"gravity": 20.0, "tau": 0.03}})
    assert info["context"]["gravity"] == 20.0 and info["context"]["tau"] == 0.03
    assert env.unwrapped.gravity == 20.0 and env.unwrapped.tau == 0.03
    assert TRAINING_RANGES.masscart[0] <= info["context"]["masscart"] <= TRAINING_RANGES.masscart[1]
    # Pinning does not change which contexts are drawn: the other features are the seed's.
    _, unpinned = env.reset(seed=0)
    assert {k: v for k, v in unpinned["context"].items() if k not in ("gravity", "tau")} == {
        k: v for k, v in info["context"].items() if k not in ("gravity", "tau")
    }
    # A full CartPoleContext, outside the ranges; the next reset draws again.
    fixed = CartPoleContext(gravity=3.0, masscart=4.0, masspole=0.5, length=2.0, force_mag=1.0)
    _, info = env.reset(options={"context": fixed})
    assert info["context"] == fixed.as_dict() and env.unwrapped.context == fixed
    assert env.unwrapped.polemass_length == 0.5 * 2.0
    assert TRAINING_RANGES.contains(env.unwrapped.context) is False
    env.reset()
    assert TRAINING_RANGES.contains(env.unwrapped.context)
    # CartPole's own reset options still work next to "context".
    obs, _ = env.reset(seed=1, options={"low": -0.01, "high": 0.01, "context": {"length": 1.0}})
    assert np.all(np.abs(obs) <= 0.01) and env.unwrapped.length == 1.0


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"gravty": 9.8}, "unknown context feature.*'gravty'"),
        ({"masspole": 0.0}, "context masspole: 0.0 must be > 0"),
        ({"length": -1}, "context length: -1.0 must be > 0"),
        ({"tau": float("nan")}, "context tau: nan is not finite"),
        ({"force_mag": "strong"}, "context force_mag: 'strong' is not a number"),
    ],
)
def test_bad_pinned_context_is_a_clear_error(context, message):
    env = gym.make(ID)
    with pytest.raises(ValueError, match=message):
        env.reset(seed=0, options={"context": context})


def test_context_in_observation():
    env = gym.make(ID, ranges="train", context_in_observation=True)
    space = env.observation_space
    assert space.shape == (10,) and space.dtype == np.float32
    base = gym.make("CartPole-v1").observation_space
    assert np.array_equal(space.low[:4], base.low) and np.array_equal(space.high[:4], base.high)
    assert np.all(space.low[4:] == -1) and np.all(space.high[4:] == 1)
    for episode in range(20):
        obs, info = env.reset(seed=2 if episode == 0 else None)
        assert obs.shape == (10,) and obs.dtype == np.float32 and space.contains(obs)
        expected = TRAINING_RANGES.normalize(CartPoleContext(**info["context"]))
        assert np.array_equal(obs[4:], expected.astype(np.float32))
        step_obs, *_ = env.step(0)
        assert np.array_equal(step_obs[4:], obs[4:])
    low, high = CartPoleContext(*TRAINING_RANGES.low), CartPoleContext(*TRAINING_RANGES.high)
    assert np.array_equal(env.reset(options={"context": low})[0][4:], -np.ones(6))
    assert np.array_equal(env.reset(options={"context": high})[0][4:], np.ones(6))
    middle = CartPoleContext(*(TRAINING_RANGES.low + TRAINING_RANGES.high) / 2)
    assert np.allclose(env.reset(options={"context": middle})[0][4:], 0, atol=1e-6)
    # A single-point range maps to 0.
    point = gym.make(ID, ranges={"gravity": (5.0, 15.0)}, context_in_observation=True)
    obs, _ = point.reset(seed=0)
    assert np.all(obs[5:] == 0) and -1 <= obs[4] <= 1
    with pytest.raises(ValueError, match=r"gravity=30.0 \(normalized 4"):
        point.reset(options={"context": {"gravity": 30.0}})
    point.reset(options={"context": {"masscart": 1.0}})  # the point itself is fine
    with pytest.raises(ValueError, match=r"masscart=2.0 \(its normalization range is the single"):
        point.reset(options={"context": {"masscart": 2.0}})


def test_test_contexts_normalized_like_training():
    env = gym.make(ID, ranges="test", normalization_ranges="train", context_in_observation=True)
    space = env.observation_space
    expected_low = TRAINING_RANGES.normalize(CartPoleContext(*TEST_RANGES.low))
    expected_high = TRAINING_RANGES.normalize(CartPoleContext(*TEST_RANGES.high))
    assert np.array_equal(space.low[4:], expected_low.astype(np.float32))
    assert np.array_equal(space.high[4:], expected_high.astype(np.float32))
    assert np.all(space.low[4:] < -1) and np.all(space.high[4:] > 1)
    outside = 0
    for episode in range(50):
        obs, info = env.reset(seed=4 if episode == 0 else None)
        assert space.contains(obs)
        assert TEST_RANGES.contains(env.unwrapped.context)
        outside += not TRAINING_RANGES.contains(env.unwrapped.context)
    assert outside > 25  # most test contexts are unseen in training
    train = gym.make(ID, ranges="train", context_in_observation=True)
    context = CartPoleContext(gravity=12.0, masscart=1.5, tau=0.03)
    obs_test, _ = env.reset(seed=0, options={"context": context})
    obs_train, _ = train.reset(seed=0, options={"context": context})
    assert np.array_equal(obs_test, obs_train)
    with pytest.raises(ValueError, match="single point"):
        CartPoleVariantsEnv(
            ranges="train", normalization_ranges="default", context_in_observation=True
        )


def steps_until_the_pole_falls(gravity):
    env = CartPoleVariantsEnv(ranges={"gravity": gravity})
    env.reset(seed=0)
    for step in range(1, 501):
        _, _, terminated, _, _ = env.step(step % 2)  # alternate pushes: the cart stays put
        if terminated:
            return step
    return 500


def test_the_context_changes_the_physics():
    low, default, high = (steps_until_the_pole_falls(g) for g in (4.9, 9.8, 19.6))
    assert low > default > high

    # One step from the same state: theta_dot changes by tau * thetaacc; thetaacc grows with
    # gravity and shrinks with the pole's length.
    def first_thetaacc(**context):
        env = CartPoleVariantsEnv(ranges=context)
        obs, _ = env.reset(seed=0)
        step_obs, *_ = env.step(1)
        return (float(step_obs[3]) - float(obs[3])) / env.tau

    reference = first_thetaacc()
    assert first_thetaacc(force_mag=20.0) < reference  # a stronger push right tips the pole left
    assert first_thetaacc(tau=0.04) == pytest.approx(reference, rel=1e-4)


@pytest.mark.parametrize(
    ("ranges", "message"),
    [
        ({"masspole": (0.2, 0.1)}, "context range masspole: min 0.2 > max 0.1"),
        ({"gravity": (15.0, 5.0)}, "context range gravity: min 15.0 > max 5.0"),
        ({"masscart": (0.0, 1.0)}, r"context range masscart: min 0.0 must be > 0"),
        ({"masspole": (-0.1, 0.1)}, r"context range masspole: min -0.1 must be > 0"),
        ({"length": (0.0, 0.0)}, r"context range length: min 0.0 must be > 0"),
        ({"tau": (-0.02, 0.02)}, r"context range tau: min -0.02 must be > 0"),
        ({"force_mag": (0, 10)}, r"context range force_mag: min 0.0 must be > 0"),
        ({"gravity": (-9.8, 9.8)}, r"context range gravity: min -9.8 must be > 0"),
        ({"length": (0.1, float("inf"))}, "context range length: inf is not finite"),
        ({"tau": (0.01, 0.02, 0.03)}, r"context range tau: .* is not a \(min, max\) pair"),
        ({"pole_length": (0.25, 1.0)}, "unknown context range feature.*'pole_length'"),
        ("hard", "unknown context ranges 'hard'; the presets are default, train, test"),
    ],
)
def test_bad_ranges_are_one_clear_error(ranges, message):
    with pytest.raises(ValueError, match=message) as error:
        gym.make(ID, ranges=ranges)
    assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match=message):
        CartPoleVariantsEnv(ranges=ranges)


def test_context_ranges_dataclass_validates_too():
    with pytest.raises(ValueError, match="context range masspole: min 0.2 > max 0.1"):
        ContextRanges(masspole=(0.2, 0.1))
    with pytest.raises(ValueError, match="context masscart: 0.0 must be > 0"):
        CartPoleContext(masscart=0.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        CartPoleContext().gravity = 1.0  # type: ignore[misc]
    assert ContextRanges.point(CartPoleContext()) == DEFAULT_RANGES
    assert DEFAULT_RANGES.varying == () and TRAINING_RANGES.varying == FEATURES
    for name in FEATURES:  # test ranges contain the training ones and reach beyond both ends
        (train_low, train_high), (test_low, test_high) = (
            getattr(TRAINING_RANGES, name),
            getattr(TEST_RANGES, name),
        )
        assert test_low < train_low <= getattr(CartPoleContext(), name) <= train_high < test_high


def test_ppo_learns_on_it():
    from stable_baselines3 import PPO

    env = gym.make(ID, ranges="train", context_in_observation=True)
    model = PPO("MlpPolicy", env, n_steps=64, batch_size=32, n_epochs=1, seed=0, device="cpu")
    model.learn(200)
    action, _ = model.predict(env.reset(seed=0)[0], deterministic=True)
    assert env.action_space.contains(int(action))


def test_cartpole_does_not_import_vienna_rna_or_torch():
    code = textwrap.dedent(
        f"""
        import sys
        import gymnasium as gym
        import envs.cartpole_variants
        env = gym.make({ID!r}, ranges="train")
        env.reset(seed=0)
        env.step(0)
        heavy = ("RNA", "torch", "envs.rna_design", "envs.folding")
        heavy = [name for name in heavy if name in sys.modules]
        assert not heavy, heavy
        import envs
        assert envs.RnaDesignEnv.__name__ == "RnaDesignEnv"  # the old names, on first use
        assert "RNA" in sys.modules
        from envs import InvalidStructureError, RnaDesignConfig, Target
        from envs import parse_structure, read_targets
        print("ok")
        """
    )
    pythonpath = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": pythonpath},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_unknown_package_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'NoSuchEnv'"):
        envs.NoSuchEnv  # noqa: B018
