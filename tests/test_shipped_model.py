"""The pretrained Meta-LEARNA model that ships inside the package."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from envs.dot_bracket import Target
from envs.folding import mfe_structure
from meta.checkpoints import SHIPPED_MODEL, load_checkpoint, shipped_model_path
from meta.config import META_LEARNA, LearnaConfig
from meta.policy_context import context_report

TARGET = "((((((....))))))...((((((....))))))"
REPO = Path(__file__).resolve().parents[1]
#: scripts/train_shipped_model.sh's default CONFIG: session 27's incumbent of BOHB over
#: meta-training, with local improvement off (session 52).
INCUMBENT = REPO / "docs" / "results" / "i14ap" / "incumbent-noli.json"


def test_the_shipped_model_is_package_data_with_its_configuration():
    path = shipped_model_path()
    assert path.name == f"{SHIPPED_MODEL}.zip" and path.parent.name == "models"
    assert path.stat().st_size < 5 * 2**20, "the shipped model should stay a few MB at most"
    checkpoint = load_checkpoint()
    assert checkpoint.path == path
    assert checkpoint.timesteps > 0
    # Trained with the incumbent of session 27's BOHB run over meta-training, local
    # improvement off (README, "The shipped model"): every key of that configuration, and
    # the published Meta-LEARNA environment apart from the two keys BOHB's space sets and
    # local improvement.
    incumbent = LearnaConfig.load(INCUMBENT, base=META_LEARNA)  # as meta-train --config
    assert checkpoint.config == incumbent
    assert checkpoint.config.env == dataclasses.replace(
        META_LEARNA.env,
        state_radius=incumbent.env.state_radius,
        reward_exponent=incumbent.env.reward_exponent,
        local_improvement=0,
    )
    assert {"seed", "elapsed", "versions", "train_data_sha256"} <= set(checkpoint.meta)
    # The script's default recipe since session 63: the policy imitated the teacher's
    # solutions of the same training targets before PPO (meta-train --imitate).
    imitation = checkpoint.meta["imitation"]
    assert imitation["designs"] > 1000 and imitation["decisions"] > 100_000
    assert imitation["epochs"] == 10


def test_the_shipped_policy_reads_its_window():
    """Every model shipped before session 63 wrote A / C-G whatever the structure.

    The imitation model's action probabilities differ from site to site (spread 0.69 on
    these two targets, 0.76 on 20 generated ones; session 52's constant: 3e-5), more than
    one action is the most probable somewhere, and most of its hidden units are not
    saturated at every site (session 52's: all of them).
    """
    targets = [
        Target("hairpins", TARGET),
        Target("multiloop", "((((..((((....))))..((((....))))...((((....))))..))))"),
    ]
    report = context_report(load_checkpoint(), targets)
    assert report.spread > 0.2
    assert sum(count > 0 for count in report.argmax) >= 2
    assert report.saturated is not None and report.saturated < 0.5


def test_default_design_uses_the_shipped_model_from_an_installed_package(tmp_path: Path):
    """Run from another directory, so the package (not the checkout) provides the model."""
    code = (
        "import meta.checkpoints as c; print(c.shipped_model_path()); "
        "from autorl.cli import main; raise SystemExit(main(['design', '--target', "
        f"'{TARGET}', '--time-limit', '20', '--format', 'json', '--quiet']))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 0, proc.stderr
    first, rest = proc.stdout.split("\n", 1)
    assert first.endswith(f"{SHIPPED_MODEL}.zip")
    [result] = json.loads(rest)
    assert result["method"] == "meta-learna-adapt" and result["solved"]
    # Quickly, counted in folds rather than seconds (a loaded machine stretches seconds;
    # the benchmark runs report times): a targeted start solves it at once.
    assert result["folds"] <= 16, f"took {result['folds']} folds"
    assert mfe_structure(result["sequence"]) == TARGET


def test_sampling_from_the_shipped_model_solves_a_short_target_quickly():
    from meta.design import design

    result = design(Target("t", TARGET), method="meta-learna", time_limit=20, device="cpu")
    # Within the policy's first batch (its n_envs designs), counted in episodes rather
    # than seconds: the first call in a process also spends torch's lazy imports (1-3 s)
    # in its time, and a loaded machine stretches them.
    batch = load_checkpoint().config.ppo.n_envs
    assert result.solved and result.episodes <= batch, f"{result.episodes} episodes"
    assert mfe_structure(result.sequence) == TARGET


@pytest.mark.slow
def test_the_shipped_model_loads_from_a_built_wheel_and_designs(tmp_path: Path):
    """Build the wheel, install it alone into a folder, and design from there.

    The checkout is copied first (a build writes ``build/`` beside its sources), and the
    installed folder comes first on the path, so the model must be in the wheel.
    """
    source = tmp_path / "source"
    shutil.copytree(
        REPO,
        source,
        ignore=shutil.ignore_patterns(".git", "runs", "docs", "tests", "build", "*.egg-info"),
    )
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    wheels, site = tmp_path / "dist", tmp_path / "site"
    build = [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(source)]
    subprocess.run(build, check=True, capture_output=True, timeout=240)
    [wheel] = wheels.glob("autorl-*.whl")
    install = [*pip, "install", "--no-deps", "--no-index", "--target", str(site), str(wheel)]
    subprocess.run(install, check=True, capture_output=True, timeout=240)
    code = (
        "import meta.checkpoints as c; print(c.shipped_model_path()); "
        "from autorl.cli import main; raise SystemExit(main(['design', '--target', "
        f"'{TARGET}', '--time-limit', '30', '--format', 'json', '--quiet']))"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    first, rest = proc.stdout.split("\n", 1)
    assert Path(first).is_relative_to(site), f"the model came from {first}, not the wheel"
    [result] = json.loads(rest)
    assert result["solved"] and mfe_structure(result["sequence"]) == TARGET
