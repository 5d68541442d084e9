"""GU pairs: actions 4 and 5 set wobble pairs only, so they are masked at every unpaired site.

With ``gu_pairs`` on, an unpaired site chooses among exactly G, A, U and C (actions 0-3),
pair sites among GC, CG, AU, UA, GU and UG (actions 0-5), and the agent is sb3-contrib's
MaskablePPO in the design loop and in meta-training; a masked action is refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from sb3_contrib import MaskablePPO
from stable_baselines3 import PPO

from envs.constraints import action_masks
from envs.dot_bracket import Target, pair_table
from envs.rna_design import RnaDesignConfig, RnaDesignEnv, TargetEncoding, actions_to_sequence
from envs.vector import RnaDesignVecEnv
from meta.checkpoints import load_checkpoint
from meta.config import LEARNA, LearnaConfig
from meta.design import check_weights, design
from meta.rna_agent import RNA_AGENT, RnaAgentSpec
from meta.training import MetaTrainer, MetaTrainSettings

#: A small configuration (window 9) with GU pairs that builds and trains fast.
SMALL_GU = LEARNA.updated(
    {
        "gu_pairs": True,
        "state_radius": 4,
        "conv_kernel_1": 3,
        "conv_channels_1": 2,
        "conv_kernel_2": 0,
        "lstm_layers": 0,
        "fc_units": 8,
        "n_envs": 8,
        "batch_size": 32,
        "local_improvement": 0,
    }
)
#: Opening, opening, unpaired, closing, closing, unpaired: decision sites 1, 2, 3 and 6.
SMALL_TARGET = "((.))."
#: Row of the masks of an unpaired site with GU pairs and no constraint.
UNPAIRED_ROW = [True, True, True, True, False, False]
#: GU pairs without local improvement: a finished episode reports the policy's sequence.
AS_IS = RnaDesignConfig(state_radius=2, gu_pairs=True, local_improvement=0)


def _masks(structure: str, constraint: str | None, num_actions: int) -> np.ndarray:
    pairs = pair_table(structure)
    sites = np.flatnonzero([c != ")" for c in structure])
    return action_masks(structure, sites, pairs[sites], constraint, num_actions)


# --- the masks ----------------------------------------------------------------------------


def test_unpaired_sites_mask_the_gu_actions_and_pairs_keep_all_six():
    masks = _masks(SMALL_TARGET, None, 6)
    assert masks.tolist() == [[True] * 6, [True] * 6, UNPAIRED_ROW, UNPAIRED_ROW]
    # Without GU pairs there are four actions and nothing is masked.
    assert _masks(SMALL_TARGET, None, 4).tolist() == [[True] * 4] * 4


def test_gu_masks_combine_with_a_sequence_constraint():
    # Pair 1-5 K with N: GC, UA, GU, UG; pair 2-4 N with U: AU, GU; site 3 R: G, A; 6 Y: U, C.
    masks = _masks(SMALL_TARGET, "KNRUNY", 6)
    assert masks.tolist() == [
        [True, False, False, True, True, True],
        [False, False, True, False, True, False],
        [True, True, False, False, False, False],
        [False, False, True, True, False, False],
    ]
    # An unpaired site's G (action 0) stays allowed; only its GU actions go.
    assert _masks(".", "G", 6).tolist() == [[True, False, False, False, False, False]]


def test_environments_report_the_gu_masks_and_are_masked():
    config = RnaDesignConfig(state_radius=2, gu_pairs=True)
    encoding = TargetEncoding.build(Target("t", SMALL_TARGET), config)
    assert encoding.masked and encoding.masks.tolist() == _masks(SMALL_TARGET, None, 6).tolist()
    env = RnaDesignEnv(SMALL_TARGET, config)
    env.reset(seed=0)
    assert env.masked and env.action_masks().tolist() == [True] * 6
    env.step(4)
    env.step(5)
    assert env.action_masks().tolist() == UNPAIRED_ROW
    vec = RnaDesignVecEnv([SMALL_TARGET], config, n_envs=2, seed=0)
    try:
        vec.reset()
        assert vec.masked
        vec.step(np.array([4, 5]))
        vec.step(np.array([0, 1]))
        assert vec.action_masks().tolist() == [UNPAIRED_ROW] * 2
    finally:
        vec.close()
    # A target without unpaired sites: nothing to mask, but GU pairs still mean MaskablePPO.
    stem = RnaDesignVecEnv(["(())"], config, n_envs=2, seed=0)
    try:
        assert stem.masked and stem.action_masks().all()
    finally:
        stem.close()
    # Without GU pairs (and without a constraint) nothing is masked: plain PPO.
    plain = RnaDesignVecEnv([SMALL_TARGET], RnaDesignConfig(state_radius=2), n_envs=2, seed=0)
    try:
        assert not plain.masked and plain.action_masks().shape == (2, 4)
    finally:
        plain.close()


# --- refusing a masked action ----------------------------------------------------------------


@pytest.mark.parametrize("action", [4, 5])
def test_the_single_env_refuses_a_gu_action_at_an_unpaired_site(action: int):
    env = RnaDesignEnv(SMALL_TARGET, AS_IS)
    env.reset(seed=0)
    env.step(4)  # GU on pair 1-5
    env.step(5)  # UG on pair 2-4
    with pytest.raises(ValueError, match=rf"action {action} at position 3 is masked: .*unpaired"):
        env.step(action)
    assert env.action_masks().tolist() == UNPAIRED_ROW  # nothing was taken
    env.step(0)
    with pytest.raises(ValueError, match=rf"action {action} at position 6 is masked"):
        env.step(action)
    *_, terminated, _, info = env.step(3)
    assert terminated and info["sequence"] == "GUGGUC"


@pytest.mark.parametrize("action", [4, 5])
def test_the_vec_env_refuses_a_gu_action_at_an_unpaired_site(action: int):
    env = RnaDesignVecEnv([SMALL_TARGET], AS_IS, n_envs=3, seed=0)
    try:
        env.reset()
        env.step(np.array([0, 4, 5]))
        env.step(np.array([5, 4, 2]))
        with pytest.raises(ValueError, match=rf"environment 2: action {action} at position 3 "):
            env.step(np.array([0, 1, action]))
        assert env.action_masks().tolist() == [UNPAIRED_ROW] * 3  # nothing was taken
        env.step(np.array([0, 1, 2]))
        _, _, dones, infos = env.step(np.array([3, 3, 3]))
        assert dones.all()
        assert [info["sequence"] for info in infos] == ["GUGGCC", "GGAUUC", "UAUUGC"]
    finally:
        env.close()


def test_actions_to_sequence_refuses_a_gu_action_at_an_unpaired_site():
    encoding = TargetEncoding.build(
        Target("t", SMALL_TARGET), RnaDesignConfig(state_radius=1, gu_pairs=True)
    )
    with pytest.raises(ValueError, match="action 4 at unpaired position 6"):
        actions_to_sequence(encoding, np.array([0, 0, 0, 4]))
    # Pair sites keep their six options: GC, CG, AU, UA, GU, UG.
    firsts = [actions_to_sequence(encoding, np.array([a, 0, 0, 0]))[::4] for a in range(6)]
    assert firsts == ["GC", "CG", "AU", "UA", "GU", "UG"]


# --- the agents ------------------------------------------------------------------------------


@dataclass
class _Recorder:
    """What the agents asked the vector environments to do (patched into ``step_async``)."""

    unpaired_gu: int = 0
    masked: int = 0
    paired_gu: int = 0
    steps: int = 0
    models: list[type] = field(default_factory=list)


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Recorder]:
    """Records every action given to an ``RnaDesignVecEnv`` and every RNA model built."""
    record = _Recorder()
    step_async = RnaDesignVecEnv.step_async
    build_model = RnaAgentSpec.build_model

    def recording_step_async(self: RnaDesignVecEnv, actions: np.ndarray) -> None:
        actions = np.asarray(actions, dtype=np.int64).reshape(self.num_envs)
        allowed = self.action_masks()[np.arange(self.num_envs), actions]
        for index, action in enumerate(actions):
            encoding = self._encoding(index)
            step = min(int(self._steps[index]), encoding.num_steps - 1)
            unpaired = encoding.partners[step] < 0
            record.unpaired_gu += int(unpaired and action >= 4)
            record.paired_gu += int(not unpaired and action >= 4)
        record.masked += int((~allowed).sum())
        record.steps += self.num_envs
        step_async(self, actions)

    def recording_build_model(self: RnaAgentSpec, *args, **kwargs):
        model = build_model(self, *args, **kwargs)
        record.models.append(type(model))
        return model

    monkeypatch.setattr(RnaDesignVecEnv, "step_async", recording_step_async)
    monkeypatch.setattr(RnaAgentSpec, "build_model", recording_build_model)
    yield record


def _assert_masks_respected(record: _Recorder, min_steps: int) -> None:
    assert record.steps >= min_steps
    assert record.unpaired_gu == 0 and record.masked == 0
    assert record.paired_gu > 0  # pairs still choose among six actions, GU and UG included


@pytest.mark.filterwarnings("ignore:You have specified a mini-batch size")
def test_the_design_loop_uses_maskable_ppo_and_never_a_gu_action_at_a_loop(recorder):
    target = Target("t", "((((....))))..(((...)))...")
    result = design(
        target,
        method="learna",
        config=SMALL_GU,
        time_limit=30,
        num_solutions=10**6,  # keep learning until the episode budget is spent
        max_episodes=96,
        device="cpu",
        metrics=False,
    )
    assert recorder.models and all(issubclass(m, MaskablePPO) for m in recorder.models)
    assert result.episodes >= 96
    _assert_masks_respected(recorder, min_steps=96 * 18)


@pytest.mark.filterwarnings("ignore:You have specified a mini-batch size")
def test_the_shipped_model_stays_plain_ppo_with_four_actions(recorder):
    shipped = load_checkpoint()
    check_weights(shipped.config, shipped)  # its agent, once per process, beforehand
    recorder.models.clear()
    result = design(
        Target("t", "((((....))))..(((...)))..."),
        method="meta-learna",
        time_limit=30,
        num_solutions=10**6,
        max_episodes=16,
        device="cpu",
        metrics=False,
    )
    assert result.episodes >= 16
    assert len(recorder.models) == 1  # PPO (with the numpy update), not MaskablePPO
    assert issubclass(recorder.models[0], PPO)
    assert not issubclass(recorder.models[0], MaskablePPO)
    assert recorder.steps > 0 and recorder.paired_gu == 0 and recorder.masked == 0


#: Short meta-training targets.
TRAIN = ["((((....))))..", "..(((...)))...((...))", "(((((...)))))...", ".((((....)))).."]


@pytest.fixture
def gu_run(tmp_path: Path, recorder: _Recorder) -> tuple[Path, _Recorder]:
    """A tiny meta-training run with GU pairs (256 steps, with validation at the end)."""
    train = tmp_path / "train.txt"
    train.write_text("".join(f"t{i}\t{s}\n" for i, s in enumerate(TRAIN)))
    validation = tmp_path / "validation.txt"
    validation.write_text("v0\t((((...))))..((...))\n")
    out = tmp_path / "run"
    trainer = MetaTrainer(
        MetaTrainSettings(
            train_data=train,
            out=out,
            config=SMALL_GU,
            timesteps=256,
            n_steps=16,
            device="cpu",
            seed=1,
            validation_data=validation,
            validation_time=1.0,
            validation_envs=4,
        )
    )
    trainer.run()
    return out, recorder


@pytest.mark.filterwarnings("ignore:You have specified a mini-batch size")
def test_meta_training_with_gu_pairs_uses_masks_and_its_checkpoint_loads(gu_run):
    out, record = gu_run
    assert len(record.models) == 1 and issubclass(record.models[0], MaskablePPO)
    _assert_masks_respected(record, min_steps=256)
    checkpoint = load_checkpoint(out / "latest.zip")
    assert checkpoint.timesteps >= 256 and checkpoint.config == SMALL_GU
    assert (out / "validation.csv").is_file()  # validation sampled with masks too
    # The checkpoint loads into the masked agent and designs with it (its weights are
    # checked once per file first, building an agent of their own).
    check_weights(checkpoint.config, checkpoint)
    record.models.clear()
    record.steps = record.paired_gu = 0
    result = design(
        Target("d", "((((....))))..((...))"),
        method="meta-learna",
        model=checkpoint,
        time_limit=30,
        num_solutions=10**6,
        max_episodes=32,
        device="cpu",
        metrics=False,
    )
    assert len(record.models) == 1 and issubclass(record.models[0], MaskablePPO)
    assert result.episodes >= 32
    _assert_masks_respected(record, min_steps=32 * 15)


def test_build_model_picks_maskable_ppo_from_the_configuration():
    """GU pairs in the configuration mean MaskablePPO, whatever ``env.masked`` says."""

    class _Unmasked(RnaDesignVecEnv):
        masked = False

    env = _Unmasked(["((((....))))"], SMALL_GU.env, n_envs=2, seed=0)
    try:
        model = RNA_AGENT.build_model(SMALL_GU, env, seed=0, device="cpu")
        assert isinstance(model, MaskablePPO)
        plain: LearnaConfig = SMALL_GU.updated({"gu_pairs": False})
        plain_env = RnaDesignVecEnv(["((((....))))"], plain.env, n_envs=2, seed=0)
        try:
            assert isinstance(RNA_AGENT.build_model(plain, plain_env, seed=0, device="cpu"), PPO)
        finally:
            plain_env.close()
    finally:
        env.close()
