"""Meta-training across CartPole physics: fixed contexts, ``train --context``, ``meta-train``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from autorl.cli import main
from envs.cartpole_variants import TEST_RANGES, TRAINING_RANGES, CartPoleContext, ContextRanges
from envs.instances import EvaluationProtocol, InstanceDistribution
from meta.agents import agent_spec, build_model
from meta.contexts import (
    CartPoleContexts,
    PolicyEvaluation,
    context_spec,
    context_text,
    parse_context,
    parse_ranges,
    unseen_contexts,
)
from meta.ppo_training import load_agent_checkpoint

SMALL = {"n_steps": 256, "batch_size": 64, "n_epochs": 2}
CONTEXT = "gravity=20,masscart=0.3,length=1.2,tau=0.03"


def _config(folder: Path) -> Path:
    path = folder / "small.json"
    path.write_text(json.dumps(SMALL), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def meta_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1024-step ``meta-train --task cartpole-variants`` run."""
    folder = tmp_path_factory.mktemp("meta")
    out = folder / "run"
    code = main(
        [
            "meta-train", "--task", "cartpole-variants", "--config", str(_config(folder)),
            "--timesteps", "1024", "--seed", "3", "--device", "cpu", "--quiet",
            "--out", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    return out


def test_parse_context_round_trips_and_names_bad_parts():
    context = parse_context(CONTEXT)
    assert context == CartPoleContext(gravity=20, masscart=0.3, length=1.2, tau=0.03)
    assert context.masspole == 0.1 and context.force_mag == 10.0  # CartPole-v1's
    assert parse_context(context_text(context)) == context
    for text, message in [
        ("", "empty"),
        ("gravity", "part 1 'gravity': expected feature=value"),
        ("gravity=1,gravity=2", "part 2: gravity is given twice"),
        ("gravity=1,tau=x", "part 2 'tau=x': 'x' is not a number"),
        ("mass=1", "unknown context feature"),
        ("length=-1", "context length: -1.0 must be > 0"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_context(text)


def test_a_context_spec_fixes_the_physics_and_keeps_the_training_normalization():
    context = parse_context(CONTEXT)
    variants = agent_spec("cartpole-variants")
    spec = context_spec(variants, context)
    assert (spec.name, spec.threshold, spec.default) == (
        variants.name,
        variants.threshold,
        variants.default,
    )
    env = spec.make_env(2, 7, None)
    try:
        observations = env.reset()
        assert observations.shape == (2, 10)
        expected = TRAINING_RANGES.normalize(context).astype(np.float32)
        np.testing.assert_allclose(observations[:, 4:], np.stack([expected] * 2), rtol=1e-6)
        assert expected[0] > 1  # gravity 20 lies outside the training range: read as such
        for _ in range(30):
            env.step(np.zeros(2, dtype=np.int64))
        physics = env.get_attr("unwrapped")[0]
        assert physics.context == context  # every episode, not only the first
    finally:
        env.close()
    plain = context_spec(agent_spec("cartpole"), context).make_env(1, 0, None)
    try:
        assert plain.reset().shape == (1, 4)
        assert plain.get_attr("unwrapped")[0].context == context
    finally:
        plain.close()


def test_contexts_follow_the_instance_distribution_protocol():
    distribution = CartPoleContexts.of("test")
    assert isinstance(distribution, InstanceDistribution)
    assert distribution.fixed(4, 1) == distribution.fixed(4, 1) == unseen_contexts(4, 1)
    assert distribution.fixed(4, 1) != distribution.fixed(4, 2)
    assert all(TEST_RANGES.contains(context) for context in distribution.fixed(50, 0))
    outside = sum(not TRAINING_RANGES.contains(c) for c in unseen_contexts(50, 0))
    assert outside > 40  # most test contexts leave the training box in some feature
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    assert distribution.sample(rng_a) == distribution.sample(rng_b)
    assert json.loads(json.dumps(distribution.describe()))["ranges"]["gravity"] == [2.5, 22.5]
    with pytest.raises(ValueError, match="must be >= 1"):
        distribution.fixed(0, 0)


class _Balancer:
    """Pushes towards the side the pole falls to: balances CartPole-v1 for 500 steps."""

    def predict(self, obs, state=None, episode_start=None, deterministic=True):
        return (obs[:, 2] + 0.5 * obs[:, 3] > 0).astype(np.int64), state


def test_policy_evaluation_protocol_on_a_balancing_and_an_untrained_policy(meta_run: Path):
    evaluation = PolicyEvaluation("cartpole-variants", episodes=3)
    assert isinstance(evaluation, EvaluationProtocol)
    context = CartPoleContext()
    balancer = _Balancer()
    assert evaluation.score(context, balancer) == 0.0
    assert evaluation.solved(context, 0.0) and evaluation.verify(context, balancer)
    spec = agent_spec("cartpole-variants")
    config, _ = load_agent_checkpoint(meta_run / "latest.json")
    env = spec.make_env(config.ppo.n_envs, 0, None)
    untrained = build_model(spec, config, env, 0, "cpu")
    env.close()
    mean = evaluation.mean_return(context, untrained)
    assert mean < 475 and evaluation.score(context, untrained) == pytest.approx(500 - mean)
    assert not evaluation.solved(context, 500 - mean) and not evaluation.verify(context, untrained)
    assert not evaluation.solved(context, 400.0) and evaluation.solved(context, 25.0)


def test_meta_train_cartpole_variants_writes_a_train_run(meta_run: Path):
    run = json.loads((meta_run / "run.json").read_text())
    assert run["task"] == "cartpole-variants" and run["context"] is None and run["seed"] == 3
    config, meta = load_agent_checkpoint(meta_run / "latest.json")
    assert meta["timesteps"] >= 1024 and config.ppo.n_steps == 256
    assert (meta_run / "learning_curve.png").is_file()


def test_train_context_init_adapts_and_resume_keeps_the_context(meta_run: Path, tmp_path: Path):
    out = tmp_path / "adapt"
    common = ["train", "--task", "cartpole-variants", "--device", "cpu", "--quiet"]
    code = main(
        [*common, "--context", CONTEXT, "--init", str(meta_run / "latest.zip"),
         "--timesteps", "256", "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    context = parse_context(CONTEXT).as_dict()
    assert json.loads((out / "run.json").read_text())["context"] == context
    _, meta = load_agent_checkpoint(out / "latest.json")
    assert meta["context"] == context and meta["init"].endswith("latest.zip")
    assert main([*common, "--timesteps", "512", "--resume", "--out", str(out)]) == 0
    _, meta = load_agent_checkpoint(out / "latest.json")
    assert meta["context"] == context and meta["timesteps"] >= 512
    # A resume with another context is refused and changes nothing.
    before = (out / "latest.json").read_text()
    assert (
        main([*common, "--context", "gravity=5", "--timesteps", "768", "--resume",
              "--out", str(out)])
        == 2
    )  # fmt: skip
    assert (out / "latest.json").read_text() == before


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["meta-train", "--task", "cartpole-variants", "--train-data", "x.txt"], "--train-data"),
        (["meta-train", "--task", "cartpole-variants", "--n-steps", "8"], "--n-steps"),
        (["meta-train", "--task", "cartpole"], "unknown task 'cartpole'"),
        (["meta-train"], "--task rna needs --train-data"),
        (["train", "--task", "cartpole", "--context", "gravity=0"], "gravity: 0.0 must be > 0"),
        (["train", "--task", "cartpole", "--context", "g=1"], "unknown context feature"),
        (["train", "--task", "cartpole-variants", "--ranges", "gravity=9:3"], "min 9.0 > max 3.0"),
        (["train", "--task", "cartpole-variants", "--ranges", "length=0:1"], "must be > 0"),
        (["train", "--task", "cartpole", "--ranges", "train"], "does not draw contexts"),
        (["meta-train", "--train-data", "x.txt", "--ranges", "test"], "--ranges: an option"),
        (["meta-train", "--task", "cartpole-variants", "--ranges", "tau=a"], "numbers min:max"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
):
    out = tmp_path / "out"
    assert main([*argv, "--timesteps", "64", "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and len(error.splitlines()) == 1
    assert not out.exists()


def test_the_cartpole_side_of_the_task_layer_does_not_import_vienna_rna():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from autorl.tasks import make_task\n"
        "task = make_task('cartpole')\n"
        "import autorl.commands.train, autorl.commands.benchmark_adaptation\n"
        "import benchmarks.adaptation, meta.contexts, meta.episodes, meta.ppo_training\n"
        "from meta.agents import agent_spec\n"
        "agent_spec('cartpole-variants').make_env(1, 0, None).reset()\n"
        "print([m for m in ('RNA', 'envs.folding', 'envs.rna_design') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_parse_ranges_presets_pairs_and_errors():
    assert parse_ranges("train") == TRAINING_RANGES and parse_ranges("test") == TEST_RANGES
    ranges = parse_ranges("gravity=6:20, tau=0.02")
    assert ranges.gravity == (6.0, 20.0) and ranges.tau == (0.02, 0.02)
    assert ranges.length == TRAINING_RANGES.length  # the others keep the training ranges
    for text, message in [
        ("", "empty"),
        ("gravity", "expected feature=min:max"),
        ("gravity=1:2,gravity=3", "given twice"),
        ("weight=1:2", "unknown context range feature"),
        ("masspole=0.2:0.1", "masspole: min 0.2 > max 0.1"),
        ("masscart=-1:2", "must be > 0"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_ranges(text)


def test_meta_train_ranges_are_recorded_kept_on_resume_and_read_by_adaptation(tmp_path: Path):
    out = tmp_path / "narrow"
    common = ["meta-train", "--task", "cartpole-variants", "--config", str(_config(tmp_path)),
              "--device", "cpu", "--quiet", "--out", str(out)]  # fmt: skip
    assert main([*common, "--ranges", "gravity=8:12", "--timesteps", "256"]) == 0
    recorded = json.loads((out / "run.json").read_text())["ranges"]
    assert recorded["gravity"] == [8.0, 12.0] and recorded["tau"] == [0.01, 0.05]
    assert main([*common, "--timesteps", "512", "--resume"]) == 0
    _, meta = load_agent_checkpoint(out / "latest.json")
    assert meta["ranges"] == recorded and meta["timesteps"] >= 512
    assert main([*common, "--ranges", "test", "--timesteps", "768", "--resume"]) == 2
    # Adapting keeps the checkpoint's normalization: gravity 12 reads +1, not its train value.
    adapted = tmp_path / "adapted"
    assert (
        main(["train", "--task", "cartpole-variants", "--context", "gravity=12", "--init",
              str(out / "latest.zip"), "--timesteps", "256", "--device", "cpu", "--quiet",
              "--out", str(adapted)])
        == 0
    )  # fmt: skip
    assert json.loads((adapted / "run.json").read_text())["ranges"] == recorded
    spec = context_spec(
        agent_spec("cartpole-variants"),
        parse_context("gravity=12"),
        ContextRanges.from_mapping(recorded),
    )
    env = spec.make_env(1, 0, None)
    try:
        assert env.reset()[0, 4] == pytest.approx(1.0)
    finally:
        env.close()
