"""The rna-meta-learna task: building, the objective on a tiny budget, loss, incumbent."""

from __future__ import annotations

import json
import math
import pickle
from pathlib import Path

import pytest

from autorl.bohb.executor import TrialResult
from autorl.cli import build_parser
from autorl.commands import meta_train
from autorl.spaces import meta_learna_space, to_flat_config
from autorl.tasks import TaskOptions, make_task
from autorl.tasks import rna_meta_learna as rml
from envs.dot_bracket import Target
from meta.config import META_LEARNA
from meta.training_data import GeneratorSettings, write_training_file

#: A small training set of short structures (generated in well under a second).
TINY_TRAINING = GeneratorSettings(count=30, min_length=20, max_length=40, seed=1)
VALIDATION = (
    Target("hairpins", "((((....))))....((((....))))"),
    Target("stem", "(((((.....)))))....."),
)


def _target_file(path: Path) -> Path:
    path.write_text("".join(f"{t.id}\t{t.structure}\n" for t in VALIDATION), encoding="utf-8")
    return path


def test_task_builds_from_a_target_file(tmp_path, monkeypatch):
    monkeypatch.setattr(rml, "DEFAULT_TRAINING", TINY_TRAINING)
    task = make_task("rna-meta-learna", targets=str(_target_file(tmp_path / "val.txt")))
    assert task.name == "rna-meta-learna" and task.budget_unit == "seconds of meta-training"
    assert (task.min_budget, task.max_budget, task.eta) == (60.0, 540.0, 3.0)
    assert task.common_random_numbers and task.write_incumbent is not None
    assert list(task.space) == list(meta_learna_space())
    assert task.options["targets"] == {t.id: t.structure for t in VALIDATION}
    training = task.options["training"]
    assert training["count"] == 30 and training["seed"] == 1 and len(training["sha256"]) == 64
    json.dumps(dict(task.options))  # recorded in the run header
    objective = task.objective
    assert isinstance(objective, rml.RnaMetaLearnaObjective)
    assert not set(objective.training_structures) & {t.structure for t in VALIDATION}
    assert pickle.loads(pickle.dumps(objective)) == objective
    assert task.timeout is not None
    assert task.timeout(60) > 60 + len(VALIDATION) * rml.DEFAULT_VALIDATION_SECONDS


def test_validation_targets_are_dropped_from_the_training_set():
    generated = rml.training_structures(TINY_TRAINING)
    kept, record = rml.training_set(TINY_TRAINING, [Target("clash", generated[3])])
    assert kept == generated[:3] + generated[4:] and record["dropped_validation"] == 1


def test_bad_budget_unit_is_refused():
    with pytest.raises(ValueError, match="seconds"):
        make_task("rna-meta-learna", budget_unit="episodes")
    with pytest.raises(ValueError, match="seconds"):
        rml.build("rna-meta-learna", TaskOptions(budget_unit="episodes"))


def test_loss_orders_solved_before_distance():
    # One more solved target beats any distances, even the worst against the best.
    more_solved = rml.validation_loss([True, False, False], [0.0, 1.0, 1.0])
    closer = rml.validation_loss([False, False, False], [0.01, 0.01, 0.01])
    assert more_solved < closer
    # Equal counts: the smaller mean distance wins.
    assert rml.validation_loss([True, False], [0.0, 0.1]) < rml.validation_loss(
        [True, False], [0.0, 0.2]
    )
    assert rml.validation_loss([True, True], [0.0, 0.0]) == 0.0
    worst = rml.validation_loss([False] * 4, [1.0] * 4)
    assert worst == pytest.approx(1 + 1 / 5) and worst < 2
    # All solved: the faster policy wins, and time never outweighs distance or a target.
    w = 0.1 / (2 * 50)
    fast = rml.validation_loss([True, True], [0.0, 0.0], [0.1, 0.2], w)
    slow = rml.validation_loss([True, True], [0.0, 0.0], [0.9, 1.0], w)
    assert 0 < fast < slow < 1 / 3
    closer_but_slow = rml.validation_loss([True, False], [0.0, 0.10], [1.0, 1.0], w)
    farther_but_fast = rml.validation_loss([True, False], [0.0, 0.11], [0.0, 1.0], w)
    assert closer_but_slow < farther_but_fast
    assert rml.validation_loss([True, True], [0.0, 0.0], [1.0, 1.0], w) < rml.validation_loss(
        [True, False], [0.0, 0.0], [0.0, 0.0], w
    )
    with pytest.raises(ValueError):
        rml.validation_loss([], [])


def test_objective_meta_trains_and_validates_on_a_tiny_budget():
    objective = rml.RnaMetaLearnaObjective(
        VALIDATION,
        rml.training_structures(TINY_TRAINING),
        TINY_TRAINING,
        validation_seconds=1.0,
        cores=1,
        device="cpu",
    )
    config = dict(meta_learna_space(seed=0).get_default_configuration())
    result = objective(config, 4.0, seed=3)
    assert isinstance(result, TrialResult)
    assert math.isfinite(result.loss) and 0 <= result.loss < 2
    info = result.info
    for key in ("solved_fraction", "mean_distance", "training_episodes", "training_timesteps"):
        assert key in info
    assert info["training_timesteps"] > 0 and info["flat_config"] == to_flat_config(config)
    assert set(info["targets"]) == {t.id for t in VALIDATION}
    solved = [v["solved"] for v in info["targets"].values()]
    distances = [v["normalized_distance"] for v in info["targets"].values()]
    used = [min(1.0, v["seconds"] / 1.0) if v["solved"] else 1.0 for v in info["targets"].values()]
    assert info["validation_time_used"] == pytest.approx(sum(used) / len(used))
    assert result.loss == pytest.approx(
        rml.validation_loss(solved, distances, used, objective.tie_weight)
    )
    json.dumps(dict(info))  # the run log stores it


def test_incumbent_is_accepted_by_meta_train_config(tmp_path):
    config = dict(meta_learna_space(seed=1).sample_configuration())
    path = tmp_path / "incumbent.json"
    rml.write_incumbent(path, config, {"task": "rna-meta-learna", "loss": 0.5})
    assert json.loads(path.read_text())["_meta"]["search_config"] == json.loads(json.dumps(config))
    train = tmp_path / "train.txt"
    write_training_file(train, rml.training_structures(TINY_TRAINING)[:5], TINY_TRAINING)
    args = build_parser().parse_args(
        [
            "meta-train",
            "--train-data",
            str(train),
            "--config",
            str(path),
            "--time-limit",
            "5",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    settings = meta_train._settings(args)  # what `autorl meta-train --config` runs
    assert settings.config == META_LEARNA.updated(to_flat_config(config))
