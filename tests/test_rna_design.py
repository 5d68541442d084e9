import time

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import envs
from envs.dot_bracket import Target
from envs.evaluation import evaluate_batch, evaluate_design, local_improvement
from envs.folding import energy_of_structure, fold, hamming, mfe_structure
from envs.rna_design import (
    RnaDesignConfig,
    RnaDesignEnv,
    TargetEncoding,
    actions_to_sequence,
    reward,
)
from envs.vector import RnaDesignVecEnv, make_vec_env

TARGETS = ["((((....))))", "..((((...))))..((...)).", "(((.((....)).)))"]


@pytest.mark.parametrize("env_id", [envs.RNA_DESIGN_ID])  # CartPole: test_cartpole_variants
@pytest.mark.parametrize("encoding", ["tokens", "binary"])
def test_registered_envs_pass_both_checkers(env_id, encoding):
    config = RnaDesignConfig(state_radius=4, encoding=encoding)
    env = gym.make(env_id, targets=TARGETS, config=config)
    gym_check_env(env.unwrapped, skip_render_check=True)
    sb3_check_env(env.unwrapped, warn=True)


def test_same_seed_same_episode():
    def episode(seed):
        env = RnaDesignEnv(TARGETS, RnaDesignConfig(state_radius=3))
        obs, _ = env.reset(seed=seed)
        env.action_space.seed(seed)
        trace = [obs.tolist()]
        terminated = False
        while not terminated:
            obs, value, terminated, _, info = env.step(env.action_space.sample())
            trace.append(obs.tolist())
        return trace, value, info

    assert episode(3) == episode(3)


def test_observation_is_the_padded_window_and_a_fresh_array():
    env = RnaDesignEnv("((..))", RnaDesignConfig(state_radius=2))
    obs, _ = env.reset(seed=0)
    assert obs.tolist() == [3, 3, 1, 1, 0]  # padding, padding, '(' (current), '(', '.'
    obs2, *_ = env.step(0)
    assert obs2.tolist() == [3, 1, 1, 0, 0]
    assert not np.shares_memory(obs, obs2)
    binary = RnaDesignEnv("((..))", RnaDesignConfig(state_radius=2, encoding="binary"))
    assert binary.reset(seed=0)[0].tolist() == [0, 0, 1, 1, 0]


def test_paired_sites_are_set_as_pairs_in_one_step():
    encoding = TargetEncoding.build(Target("t", "((.))."), RnaDesignConfig(state_radius=1))
    assert encoding.sites.tolist() == [0, 1, 2, 5]  # closing brackets are never visited
    # actions: pair GC, pair AU, unpaired U, unpaired C
    assert actions_to_sequence(encoding, np.array([0, 2, 2, 3])) == "GAUUCC"
    gu = TargetEncoding.build(Target("t", "(.)"), RnaDesignConfig(state_radius=1, gu_pairs=True))
    assert actions_to_sequence(gu, np.array([4, 0])) == "GGU"
    assert actions_to_sequence(gu, np.array([5, 0])) == "UGG"


def test_episode_length_and_terminal_info():
    env = RnaDesignEnv("((((....))))", RnaDesignConfig(state_radius=2))
    env.reset(seed=1)
    steps, terminated = 0, False
    while not terminated:
        _, value, terminated, truncated, info = env.step(0)
        steps += 1
    assert steps == 8 and not truncated
    assert set(info) >= {"sequence", "structure", "distance", "solved", "target_id"}
    assert info["structure"] == mfe_structure(info["sequence"])
    assert info["distance"] == hamming(info["structure"], "((((....))))")
    assert info["solved"] == (info["distance"] == 0)
    assert value == pytest.approx(reward(info["distance"], 12, 9.34))


@pytest.mark.parametrize(
    ("distance", "length", "alpha", "expected"),
    [(0, 10, 9.34, 1.0), (10, 10, 1.0, 0.0), (5, 10, 1.0, 0.5), (2, 8, 2.0, 0.5625)],
)
def test_reward_formula(distance, length, alpha, expected):
    assert reward(distance, length, alpha) == pytest.approx(expected)


def test_local_improvement_returns_the_improved_sequence():
    target = "((((((....))))))"
    solution = "GGGGGGAAAACCCCCC"
    assert mfe_structure(solution) == target
    broken = "GGGGGGAAAACCCCCA"  # last pair broken
    folded = mfe_structure(broken)
    assert 0 < hamming(folded, target) <= 5
    outcome = local_improvement(broken, target, folded, np.random.default_rng(0), budget=64)
    assert outcome.distance < hamming(folded, target)
    assert mfe_structure(outcome.sequence) == outcome.structure
    assert hamming(outcome.structure, target) == outcome.distance
    assert outcome.folds >= 1


def test_evaluate_design_applies_local_improvement_only_when_close():
    target = "((((((....))))))"
    config = RnaDesignConfig(state_radius=2, local_improvement=5)
    improved = evaluate_design("GGGGGGAAAACCCCCA", target, config, seed=0)
    assert improved.distance == 0 and improved.folds > 1
    off = evaluate_design("GGGGGGAAAACCCCCA", target, RnaDesignConfig(local_improvement=0), 0)
    assert off.folds == 1 and off.distance > 0 and off.sequence == "GGGGGGAAAACCCCCA"


def test_evaluate_batch_bounds_local_improvement_by_solution_and_deadline():
    target = "((((((....))))))"
    config = RnaDesignConfig(local_improvement=5)
    close = "GGGGGGAAAACCCCCA"  # one broken pair: local improvement repairs it
    solved = "GGGGGGAAAACCCCCC"
    jobs = [(close, target, config, 0), (solved, target, config, 1), (close, target, config, 2)]
    unbounded = evaluate_batch(jobs)
    assert unbounded == [evaluate_design(*job) for job in jobs]
    assert [o.distance for o in unbounded] == [0, 0, 0] and unbounded[0].folds > 1
    # One design is solved: nobody is improved, and the designs after it are not folded.
    stopped = evaluate_batch(jobs, stop_at_solution=True)
    assert [o.folds for o in stopped[:2]] == [1, 1] and stopped[0].distance > 0
    assert stopped[1].solved and stopped[2] is None
    # Past the deadline: plain folds only, every design still reported.
    late = evaluate_batch([jobs[0], jobs[2]], deadline=time.monotonic() - 1)
    assert [o.folds for o in late] == [1, 1] and all(o.sequence == close for o in late)


def test_local_improvement_budget_bounds_the_folds():
    target = "((((((((....))))))))"
    sequence = "AAAAAAAAAAAAAAAAAAAA"
    folded = mfe_structure(sequence)
    outcome = local_improvement(sequence, target, folded, np.random.default_rng(0), budget=7)
    assert outcome.folds <= 7


def test_vec_env_steps_many_episodes_and_reports_designs():
    env = RnaDesignVecEnv(TARGETS, RnaDesignConfig(state_radius=3), n_envs=5, seed=0)
    env.reset()
    finished = []
    for _ in range(60):
        obs, rewards, dones, infos = env.step(np.random.default_rng(0).integers(0, 4, size=5))
        assert obs.shape == (5, 7)
        for done, info, value in zip(dones, infos, rewards):
            if done:
                finished.append(info)
                assert info["structure"] == mfe_structure(info["sequence"])
                assert "terminal_observation" in info
                assert value == pytest.approx(reward(info["distance"], len(info["sequence"]), 9.34))
    assert len(finished) >= 10
    assert env.total_episodes == len(finished)


@pytest.mark.parametrize("encoding", ["tokens", "binary"])
@pytest.mark.parametrize("gu_pairs", [False, True])
def test_vec_env_steps_agree_with_each_targets_encoding(encoding, gu_pairs):
    """Observations, masks and designs of the array-stepped episodes, checked per episode
    against the target's own encoding (its window, its mask rows, actions_to_sequence),
    over targets of different lengths drawn at random, terminal windows included."""
    config = RnaDesignConfig(
        state_radius=3, encoding=encoding, gu_pairs=gu_pairs, local_improvement=0
    )  # the design as the actions set it, not improved
    env = RnaDesignVecEnv(TARGETS, config, n_envs=6, seed=2)
    rng = np.random.default_rng(4)
    obs = env.reset()
    taken: list[list[int]] = [[] for _ in range(env.num_envs)]
    lengths, finished = set(), 0
    for _ in range(80):
        masks = env.action_masks()
        assert obs.dtype == env.observation_space.dtype
        for index in range(env.num_envs):
            encoding_ = env._encoding(index)
            step = len(taken[index])
            assert obs[index].tolist() == encoding_.window(step, config.window).tolist()
            assert masks[index].tolist() == encoding_.masks[step].tolist()
        actions = np.array([rng.choice(np.flatnonzero(row)) for row in masks])
        before = [env._encoding(index) for index in range(env.num_envs)]
        obs, _, dones, infos = env.step(actions)
        for index, action in enumerate(actions):
            taken[index].append(int(action))
            if dones[index]:
                encoding_ = before[index]
                assert len(taken[index]) == encoding_.num_steps
                expected = actions_to_sequence(encoding_, np.array(taken[index]))
                assert infos[index]["sequence"] == expected
                last = encoding_.window(encoding_.num_steps - 1, config.window)
                assert infos[index]["terminal_observation"].tolist() == last.tolist()
                lengths.add(len(expected))
                taken[index], finished = [], finished + 1
    assert finished >= 20 and len(lengths) == len(TARGETS)


def test_vec_env_with_worker_processes_matches_in_process():
    def designs(workers):
        env = RnaDesignVecEnv(
            TARGETS[:1], RnaDesignConfig(state_radius=3), n_envs=4, workers=workers, seed=5
        )
        env.reset()
        out = []
        rng = np.random.default_rng(1)
        for _ in range(16):
            _, _, dones, infos = env.step(rng.integers(0, 4, size=4))
            out += [info["sequence"] for info, done in zip(infos, dones) if done]
        env.close()
        return out

    assert designs(2) == designs(1)


def test_sb3_vec_env_kinds():
    env = make_vec_env(TARGETS, RnaDesignConfig(state_radius=2), n_envs=2, kind="dummy", seed=0)
    assert env.reset().shape == (2, 5)
    env.close()
    with pytest.raises(ValueError, match="kind"):
        make_vec_env(TARGETS, kind="threads")


def test_config_validation():
    with pytest.raises(ValueError, match="encoding"):
        RnaDesignConfig(encoding="onehot")
    with pytest.raises(ValueError, match="reward_exponent"):
        RnaDesignConfig(reward_exponent=0)
    with pytest.raises(ValueError, match="state_radius"):
        RnaDesignConfig(state_radius=-1)


def test_folding_wrapper():
    structure, energy = fold("GGGGAAAACCCC")
    assert structure == "((((....))))" and energy < 0
    assert energy_of_structure("GGGGAAAACCCC", structure) == pytest.approx(energy, abs=1e-3)
    with pytest.raises(ValueError):
        hamming("..", "...")
    with pytest.raises(ValueError):
        energy_of_structure("GGG", "....")


def test_step_after_the_episode_ended_is_refused():
    env = RnaDesignEnv("(...)", RnaDesignConfig(state_radius=1))
    env.reset(seed=0)
    for action in (0, 1, 2, 3):
        *_, terminated, _, _ = env.step(action)
    assert terminated
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="invalid action"):
        env.step(7)
