"""Whether a policy's actions depend on the structure it sees (meta.policy_context)."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from envs.dot_bracket import Target
from meta.checkpoints import load_checkpoint, save_checkpoint
from meta.config import LEARNA, META_LEARNA
from meta.policy_context import context_report
from meta.rna_agent import RNA_AGENT

TARGETS = [
    Target("a", "((((((....))))))....((((....))))..."),
    Target("b", "..((((..((((....))))..((((.....)))).))))..."),
]
SMALL = META_LEARNA.updated({"n_envs": 2})
SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "policy_context.py"


def _checkpoint(tmp_path, config=SMALL, change=None):
    """A checkpoint of a fresh agent of ``config``, its policy changed by ``change``."""
    env = RNA_AGENT.make_env(2, 0, targets=TARGETS, config=config)
    model = RNA_AGENT.build_model(config, env, 0, "cpu", n_steps=8)
    env.close()
    if change is not None:
        with torch.no_grad():
            change(model.policy)
    path = tmp_path / "model.zip"
    save_checkpoint(model, config, path, {"timesteps": 0, "seed": 0})
    return load_checkpoint(path)


def _bias_only(policy):
    policy.action_net.weight.zero_()
    policy.action_net.bias.copy_(torch.tensor([0.0, 2.0, -1.0, 0.5]))


def test_a_policy_that_ignores_its_window_has_no_spread(tmp_path):
    report = context_report(_checkpoint(tmp_path, change=_bias_only), TARGETS)
    logits = np.array([0.0, 2.0, -1.0, 0.5])
    probabilities = np.exp(logits) / np.exp(logits).sum()
    assert report.spread == pytest.approx(0.0, abs=1e-6)
    assert report.mean == pytest.approx(probabilities.tolist(), abs=1e-5)
    assert report.entropy == pytest.approx(-(probabilities * np.log(probabilities)).sum(), abs=1e-5)
    assert report.argmax == [0, report.steps, 0, 0] and report.targets == 2


def test_a_policy_that_reads_its_window_has_a_spread(tmp_path):
    def sharpen(policy):
        policy.action_net.weight.mul_(300.0)

    report = context_report(_checkpoint(tmp_path, change=sharpen), TARGETS)
    assert report.spread > 0.05
    assert sum(report.argmax) == report.steps
    assert report.steps == sum(t.structure.count("(") + t.structure.count(".") for t in TARGETS)


def test_saturated_tanh_units_are_counted(tmp_path):
    fresh = context_report(_checkpoint(tmp_path), TARGETS)
    assert fresh.saturated is not None and fresh.saturated < 0.5

    def saturate(policy):
        policy.mlp_extractor.policy_net[0].bias.fill_(50.0)

    saturated = context_report(_checkpoint(tmp_path, change=saturate), TARGETS)
    assert saturated.saturated == 1.0
    assert saturated.spread == pytest.approx(0.0, abs=1e-6)  # a saturated layer is constant
    relu = SMALL.updated({"activation": "relu"})
    assert context_report(_checkpoint(tmp_path, relu), TARGETS).saturated is None


def test_what_cannot_be_read_is_refused(tmp_path):
    with pytest.raises(ValueError, match="at least one target"):
        context_report(load_checkpoint(None), [])
    recurrent = LEARNA.updated({"n_envs": 2, "lstm_units": 8, "lstm_mode": "episode"})
    with pytest.raises(ValueError, match="recurrent"):
        context_report(_checkpoint(tmp_path, recurrent), TARGETS)


def test_the_script_prints_a_report_per_checkpoint_and_exits_2_on_bad_input(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("policy_context_script", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    main = script.main
    targets = tmp_path / "t.txt"
    targets.write_text("".join(f"{t.id}\t{t.structure}\n" for t in TARGETS))
    path = _checkpoint(tmp_path, change=_bias_only).path
    assert main([str(path), "shipped", "--data", str(targets)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["checkpoint"] for line in lines] == [str(path), "shipped"]
    assert lines[0]["spread"] == pytest.approx(0.0, abs=1e-6)
    assert math.isfinite(lines[1]["entropy"])
    assert main(["shipped", "--data", str(tmp_path / "missing.txt")]) == 2
    assert main([str(tmp_path / "missing.zip"), "--data", str(targets)]) == 2
