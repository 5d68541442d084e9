"""scripts/compare_models.py: how a candidate for the shipped model is judged.

Two models trained with different local-improvement settings must be judged alike, so
``--local-improvement D`` sets every checkpoint's setting; without it each keeps its own.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from meta import checkpoints

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "compare_models.py"


def _script():
    """The script as a module (scripts/ is no package)."""
    spec = importlib.util.spec_from_file_location("compare_models_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _checkpoint(folder: Path, local_improvement: int) -> str:
    """A copy of the shipped model whose configuration has this local-improvement distance."""
    shipped = checkpoints.shipped_model_path()
    copy = folder / "model.zip"
    shutil.copyfile(shipped, copy)
    settings = json.loads(checkpoints.config_path(shipped).read_text())
    settings["local_improvement"] = local_improvement
    checkpoints.config_path(copy).write_text(json.dumps(settings))
    return str(copy)


def test_each_checkpoint_keeps_its_own_setting_unless_one_is_given(tmp_path):
    script = _script()
    model = _checkpoint(tmp_path, 3)
    _, kept = script._agent(model)
    _, overridden = script._agent(model, 0)
    assert kept.env.local_improvement == 3
    assert overridden.env.local_improvement == 0
    assert overridden.ppo.n_envs == kept.ppo.n_envs == 16


def test_the_setting_reaches_the_validation_and_is_recorded(tmp_path, capsys):
    script = _script()
    data = tmp_path / "targets.txt"
    data.write_text("((((....))))\n")
    seen: list[int] = []

    def fake_validate(model, config, targets, seconds, seed):
        seen.append(config.env.local_improvement)
        return SimpleNamespace(solved=1, total=1, mean_distance=0.0, solved_ids=["1"])

    script.validate = fake_validate
    model = _checkpoint(tmp_path, 3)
    assert script.main([model, "--data", str(data), "--local-improvement", "0"]) == 0
    assert seen == [0]
    figures = json.loads(capsys.readouterr().out)
    assert figures["local_improvement"] == 0
    assert figures[f"{model} | targets.txt"]["solved"] == 1
    assert script.main([model, "--data", str(data)]) == 0
    assert seen == [0, 3]
    assert json.loads(capsys.readouterr().out)["local_improvement"] is None


@pytest.mark.parametrize(
    ("text", "message"), [("-1", "must be in [0, inf], got -1"), ("1.5", "not an integer: '1.5'")]
)
def test_a_bad_distance_is_refused(tmp_path, capsys, text, message):
    script = _script()
    data = tmp_path / "targets.txt"
    data.write_text("((((....))))\n")
    shipped = str(checkpoints.shipped_model_path())
    with pytest.raises(SystemExit) as exit_info:
        script.main([shipped, "--data", str(data), "--local-improvement", text])
    assert exit_info.value.code == 2
    assert f"argument --local-improvement: {message}" in capsys.readouterr().err
