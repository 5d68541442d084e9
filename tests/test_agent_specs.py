"""Agent specs: one interface (meta.agents.DomainSpec) for RNA design and the vector tasks."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from sb3_contrib import MaskablePPO
from stable_baselines3 import PPO

from envs.dot_bracket import Target
from meta import checkpoints
from meta.agents import (
    AGENTS,
    DOMAINS,
    RNA,
    ZOO_CARTPOLE,
    AgentConfig,
    DomainSpec,
    FlatConfig,
    agent_spec,
    build_model,
    domain_spec,
)
from meta.checkpoints import CheckpointError, load_checkpoint, load_weights, save_checkpoint
from meta.config import LEARNA, META_LEARNA, LearnaConfig
from meta.nas_controller import ControllerConfig
from meta.rna_agent import RNA_AGENT, RnaAgentSpec
from policies.extractors import policy_kwargs

HAIRPIN = "((((....))))"
#: A hairpin whose loop must be AAAA: the constraint masks actions there.
CONSTRAINED = Target("c", HAIRPIN, "NNNNAAAANNNN")
#: A small RNA configuration (window 9) that builds fast.
SMALL = LEARNA.updated(
    {
        "state_radius": 4,
        "conv_kernel_1": 3,
        "conv_channels_1": 2,
        "conv_kernel_2": 0,
        "lstm_layers": 0,
        "fc_units": 8,
        "n_envs": 2,
    }
)


def _state(model) -> dict[str, torch.Tensor]:
    return {key: value.clone() for key, value in model.policy.state_dict().items()}


def _same_state(first, second) -> bool:
    a, b = _state(first), _state(second)
    return a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)


# --- the registry -------------------------------------------------------------------------


@pytest.mark.parametrize("name", DOMAINS)
def test_every_domain_implements_the_spec(name: str):
    spec = domain_spec(name)
    assert isinstance(spec, DomainSpec) and spec.name == name and spec.summary
    assert isinstance(spec.default, spec.config_type) and isinstance(spec.default, FlatConfig)


def test_rna_is_found_by_name_and_the_vector_tasks_stay_the_train_tasks():
    assert domain_spec(RNA) is RNA_AGENT and isinstance(RNA_AGENT, RnaAgentSpec)
    assert RNA_AGENT.config_type is LearnaConfig and RNA_AGENT.default == LEARNA
    assert RNA_AGENT.threshold is None  # solved is a structure, not a return
    assert all(domain_spec(name) is AGENTS[name] for name in AGENTS)
    assert set(DOMAINS) == {RNA, "nas", *AGENTS}
    with pytest.raises(ValueError, match="unknown agent 'pong'; known agents: rna, nas, cartpole"):
        domain_spec("pong")
    with pytest.raises(ValueError, match="unknown task 'rna'"):
        agent_spec("rna")  # `autorl train` runs the vector tasks only


# --- configurations: the flat JSON round trip ----------------------------------------------


@pytest.mark.parametrize(
    ("name", "config"),
    [
        (RNA, META_LEARNA),
        ("cartpole", ZOO_CARTPOLE),
        ("nas", ControllerConfig(lstm_units=32, reward_power=3.0)),
    ],
    ids=["rna", "cartpole", "nas"],
)
def test_flat_json_round_trip(name: str, config, tmp_path: Path):
    spec = domain_spec(name)
    flat = config.to_flat()
    assert spec.config_type.from_flat(flat) == config
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**flat, "_meta": {"note": "ignored"}}))
    assert spec.config_type.load(path, base=spec.default) == config
    partial = spec.config_type.from_flat({"learning_rate": 1e-4}, base=config)
    assert partial.to_flat() == {**flat, "learning_rate": 1e-4}
    with pytest.raises(ValueError, match="unknown key 'nope'"):
        spec.config_type.from_flat({"nope": 1})


def test_learna_from_flat_defaults_to_learna_and_keeps_the_base():
    assert LearnaConfig.from_flat({}) == LEARNA
    assert LearnaConfig.from_flat({"batch_size": 64}, base=META_LEARNA) == META_LEARNA.updated(
        {"batch_size": 64}
    )
    with pytest.raises(ValueError, match="batch_size must be an integer"):
        LearnaConfig.from_flat({"batch_size": "64"})


# --- the RNA model factory -----------------------------------------------------------------


def _old_build_ppo(env, config: LearnaConfig, n_steps: int, seed: int):
    """meta.design.build_ppo as it was before the agent specs (the reference)."""
    algorithm = PPO
    if env.masked:
        from sb3_contrib import MaskablePPO

        algorithm = MaskablePPO
    ppo = config.ppo
    return algorithm(
        "MlpPolicy",
        env,
        learning_rate=ppo.learning_rate,
        n_steps=n_steps,
        batch_size=ppo.batch_size,
        n_epochs=ppo.n_epochs,
        gamma=1.0,
        gae_lambda=1.0,
        clip_range=ppo.clip_range,
        ent_coef=ppo.entropy_coef,
        vf_coef=ppo.vf_coef,
        max_grad_norm=ppo.max_grad_norm,
        policy_kwargs=policy_kwargs(config.policy),
        seed=seed,
        device="cpu",
        verbose=0,
    )


@pytest.mark.filterwarnings("ignore:You have specified a mini-batch size")
@pytest.mark.parametrize(
    ("target", "algorithm"),
    [(Target("t", HAIRPIN), "PPO"), (CONSTRAINED, "MaskablePPO")],
    ids=["plain", "constrained"],
)
def test_rna_spec_builds_ppo_or_maskable_ppo_as_the_old_path_did(target: Target, algorithm: str):
    env = RNA_AGENT.make_env(2, 0, targets=[target], config=SMALL)
    try:
        assert env.masked == (algorithm == "MaskablePPO")
        model = RNA_AGENT.build_model(SMALL, env, seed=7, device="cpu")
        # SB3's classes, with the numpy update of meta.numpy_ppo
        assert isinstance(model, MaskablePPO) == (algorithm == "MaskablePPO")
        assert isinstance(model, PPO) == (algorithm == "PPO")
        # One episode per environment per rollout by default: the design loop's choice.
        assert model.n_steps == env.encodings[0].num_steps
        assert (model.gamma, model.gae_lambda, model.batch_size) == (1.0, 1.0, 126)
        assert model.logger.output_formats == []  # writes nothing
        old = _old_build_ppo(env, SMALL, model.n_steps, seed=7)
        # the same algorithm (the numpy-update subclass of it) and the same initial state
        assert isinstance(model, type(old)) and _same_state(model, old)
        other = RNA_AGENT.build_model(SMALL, env, seed=8, device="cpu")
        assert not _same_state(model, other)
    finally:
        env.close()


def test_rna_spec_through_the_generic_build_model(tmp_path: Path):
    env = RNA_AGENT.make_env(2, 0, targets=[HAIRPIN], config=SMALL)
    try:
        model = build_model(RNA_AGENT, SMALL, env, 3, "cpu", str(tmp_path))
        assert model.tensorboard_log == str(tmp_path)
        assert _same_state(model, RNA_AGENT.build_model(SMALL, env, 3, "cpu", n_steps=16))
        assert RNA_AGENT.build_model(SMALL, env, 3, "cpu", n_steps=16).n_steps == 16
        with pytest.raises(ValueError, match="n_steps must be an integer >= 1"):
            RNA_AGENT.build_model(SMALL, env, 3, "cpu", n_steps=0)
    finally:
        env.close()
    cartpole = agent_spec("cartpole").make_env(2, 0, None)
    try:
        with pytest.raises(ValueError, match="n_steps is needed"):
            RNA_AGENT.build_model(SMALL, cartpole, 3, "cpu")
    finally:
        cartpole.close()


def test_rna_env_factory_is_the_vector_env_of_the_targets():
    targets = [Target("a", HAIRPIN), Target("b", "((((((....))))))")]
    env = RNA_AGENT.make_env(3, 5, targets=targets, config=SMALL, deferred=True)
    try:
        assert env.num_envs == 3 and env.deferred and env.config == SMALL.env
        assert [e.target.structure for e in env.encodings] == [t.structure for t in targets]
    finally:
        env.close()
    with pytest.raises(ValueError, match="n_envs and workers must be >= 1"):
        RNA_AGENT.make_env(0, 5, targets=targets, config=SMALL)


# --- the design loop and meta-training build through the spec ------------------------------


@pytest.fixture
def recorded(monkeypatch) -> list[tuple[str, dict]]:
    """Calls of RNA_AGENT.make_env / build_model: (name, keyword arguments)."""
    calls: list[tuple[str, dict]] = []
    for name in ("make_env", "build_model"):
        original = getattr(RnaAgentSpec, name)

        def recording(self, *args, _original=original, _name=name, **kwargs):
            calls.append((_name, kwargs))
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(RnaAgentSpec, name, recording)
    return calls


def test_the_design_loop_builds_env_and_agent_through_the_spec(recorded):
    from meta.design import design

    result = design(
        CONSTRAINED, time_limit=math.inf, max_episodes=4, seed=0, device="cpu", metrics=False
    )
    assert result.episodes == 4 or (result.solved and result.episodes < 4)  # stops at it
    names = [name for name, _ in recorded]
    assert names[:2] == ["make_env", "build_model"]
    assert recorded[0][1]["constraints"] == result.constraints
    assert recorded[1][1]["n_steps"] == 8  # one episode: 4 pairs and 4 unpaired sites


def test_meta_training_builds_env_and_agent_through_the_spec(recorded, tmp_path: Path):
    from meta.training import MetaTrainer, MetaTrainSettings

    train = tmp_path / "train.txt"
    train.write_text(f"a\t{HAIRPIN}\nb\t((((((....))))))\n")
    settings = MetaTrainSettings(
        train_data=train,
        out=tmp_path / "run",
        config=SMALL,
        timesteps=32,
        n_steps=16,
        device="cpu",
    )
    MetaTrainer(settings).run()
    [(_, env_kwargs), (_, model_kwargs)] = recorded
    assert env_kwargs["deferred"] and env_kwargs["config"] == SMALL
    assert model_kwargs["n_steps"] == 16
    assert load_checkpoint(tmp_path / "run" / "latest.zip").agent == RNA


# --- checkpoints record their agent --------------------------------------------------------


def _rna_model(seed: int = 0):
    env = RNA_AGENT.make_env(2, 0, targets=[HAIRPIN], config=SMALL)
    return env, RNA_AGENT.build_model(SMALL, env, seed, "cpu", n_steps=8)


def test_an_rna_checkpoint_records_its_agent_and_keeps_the_flat_format(tmp_path: Path):
    env, model = _rna_model()
    try:
        save_checkpoint(model, SMALL, tmp_path / "new.zip", {"timesteps": 8, "seed": 0})
    finally:
        env.close()
    written = (tmp_path / "new.json").read_text()
    # Byte for byte what LearnaConfig.save writes: the flat keys, then _meta.
    SMALL.save(tmp_path / "reference.json", extra={"agent": RNA, "timesteps": 8, "seed": 0})
    assert written == (tmp_path / "reference.json").read_text()
    checkpoint = load_checkpoint(tmp_path / "new.zip")
    assert checkpoint.agent == RNA and checkpoint.config == SMALL and checkpoint.timesteps == 8


def test_a_checkpoint_without_agent_loads_and_designs_as_the_rna_agent(tmp_path: Path):
    """Checkpoints saved before agent specs existed (the session-2 shipped model among
    them) have no ``agent`` in their metadata: they load as the RNA agent and design
    exactly as the same weights saved with it."""
    from meta.design import design

    shipped = checkpoints.shipped_model_path()
    settings = json.loads(checkpoints.config_path(shipped).read_text())
    assert settings["_meta"].pop("agent") == RNA
    copy = tmp_path / "old.zip"
    shutil.copyfile(shipped, copy)
    checkpoints.config_path(copy).write_text(json.dumps(settings))
    checkpoint = load_checkpoint(copy)
    assert checkpoint.agent == RNA and checkpoint.config == load_checkpoint().config
    assert load_checkpoint(copy, agent=None).config == checkpoint.config
    target = Target("h", "((((((....))))))..((((....))))")

    def designed(model):
        result = design(
            target,
            method="meta-learna",
            model=model,
            time_limit=math.inf,
            max_episodes=300,
            seed=5,
            device="cpu",
            metrics=False,
        )
        return result.sequence, result.distance, result.episodes

    assert designed(checkpoint) == designed(load_checkpoint())


def test_a_vector_checkpoint_loads_only_when_asked_for(tmp_path: Path):
    spec = agent_spec("cartpole")
    config = AgentConfig.from_flat({"n_steps": 16, "policy_units": 8})
    env = spec.make_env(1, 0, None)
    try:
        model = spec.build_model(config, env, 0, "cpu")
        save_checkpoint(model, config, tmp_path / "cp.zip", {"timesteps": 0}, agent="cartpole")
        with pytest.raises(CheckpointError, match="a checkpoint of the 'cartpole' agent, not of"):
            load_checkpoint(tmp_path / "cp.zip")  # RNA by default
        checkpoint = load_checkpoint(tmp_path / "cp.zip", agent=None)
        assert checkpoint.agent == "cartpole" and checkpoint.config == config
        fresh = spec.build_model(checkpoint.config, env, 1, "cpu")
        assert not _same_state(fresh, model)
        load_weights(fresh, checkpoint, with_optimizer=False)
        assert _same_state(fresh, model)
    finally:
        env.close()
    from meta.design import design

    with pytest.raises(CheckpointError, match="'cartpole' agent, not an RNA design policy"):
        design(Target("t", HAIRPIN), method="meta-learna", model=checkpoint, time_limit=1)


def test_a_train_checkpoint_names_its_agent_by_task(tmp_path: Path):
    """`autorl train` records ``task`` (no ``agent``): that names the agent spec."""
    shutil.copyfile(checkpoints.shipped_model_path(), tmp_path / "cp.zip")
    flat = ZOO_CARTPOLE.to_flat()
    (tmp_path / "cp.json").write_text(json.dumps({**flat, "_meta": {"task": "cartpole"}}))
    checkpoint = load_checkpoint(tmp_path / "cp.zip", agent="cartpole")
    assert checkpoint.agent == "cartpole" and checkpoint.config == ZOO_CARTPOLE
    (tmp_path / "cp.json").write_text(json.dumps({**flat, "_meta": {"agent": "pong"}}))
    with pytest.raises(CheckpointError, match="unknown agent 'pong'"):
        load_checkpoint(tmp_path / "cp.zip", agent=None)
    (tmp_path / "cp.json").write_text(json.dumps({**flat, "_meta": {"agent": 3}}))
    with pytest.raises(CheckpointError, match="agent must be a name"):
        load_checkpoint(tmp_path / "cp.zip", agent=None)


def test_save_checkpoint_refuses_a_mismatched_agent(tmp_path: Path):
    env, model = _rna_model()
    try:
        with pytest.raises(ValueError, match="agent 'cartpole' saves a AgentConfig"):
            save_checkpoint(model, SMALL, tmp_path / "x.zip", {}, agent="cartpole")
        with pytest.raises(ValueError, match="unknown agent 'pong'"):
            save_checkpoint(model, SMALL, tmp_path / "x.zip", {}, agent="pong")
        with pytest.raises(ValueError, match="meta names agent 'cartpole'"):
            save_checkpoint(model, SMALL, tmp_path / "x.zip", {"agent": "cartpole"})
    finally:
        env.close()
    assert not list(tmp_path.iterdir())
