"""Task ``nas`` (autorl.tasks.nas): space, objective, budgets, child cache, CLI."""

from __future__ import annotations

import functools
import json
import pickle
from pathlib import Path

import pytest

from autorl.bohb.runlog import load_trials
from autorl.cli import main
from autorl.tasks import TASKS, TaskOptions, make_task
from autorl.tasks import nas as nas_module
from autorl.tasks.nas import (
    CACHE_FILE,
    NasObjective,
    nas_space,
    nas_task,
    to_controller_config,
    trial_cores,
)
from meta.nas_controller import FLAT_KEYS, ControllerConfig

#: A controller that updates after every 2 episodes (tiny searches still train it).
SMALL = {**dict(nas_space().get_default_configuration()), "episodes_per_update": 4}


@pytest.fixture(scope="module", autouse=True)
def _stop_child_workers():
    """The trials' child workers live as long as their process: stop this module's."""
    yield
    for executor in nas_module._EXECUTORS.values():
        executor.shutdown()
    nas_module._EXECUTORS.clear()


def test_space_defaults_and_samples_are_controller_configs():
    space = nas_space(seed=0)
    default = to_controller_config(dict(space.get_default_configuration()))
    assert default == ControllerConfig()
    assert set(space.keys()) <= set(FLAT_KEYS)
    for config in space.sample_configuration(200):
        controller = to_controller_config(dict(config))
        assert 16 <= controller.lstm_units <= 128 and 4 <= controller.embedding_size <= 32
        assert 4 <= controller.episodes_per_update <= 20 and 1 <= controller.n_epochs <= 10
        assert 1e-4 <= controller.learning_rate <= 1e-2 and 1 <= controller.reward_power <= 3
        flat = json.loads(json.dumps(controller.to_flat()))
        assert ControllerConfig().updated(flat) == controller
    with pytest.raises(ValueError, match="unknown key 'units'"):
        to_controller_config({**SMALL, "units": 3})


def test_registry_budgets_seeding_timeouts_and_options(tmp_path: Path):
    assert "nas" in TASKS
    task = make_task("nas")
    assert (task.min_budget, task.max_budget, task.eta) == (30, 270, 3)
    assert task.budget_unit == "evaluations" and task.common_random_numbers
    assert task.options == {"dataset": "mnist1d", "layers": 6, "epochs": 3}
    assert task.objective.cache is None  # no run directory: each trial caches in memory
    assert task.timeout(270) > 3 * task.timeout(90) - 1000 > 0
    assert task.timeout(30) >= 30 * 3 * 5  # generous: >= 5 s per child-epoch
    pickle.loads(pickle.dumps(task.objective))  # trials run in worker processes
    digits = make_task("nas", TaskOptions(dataset="digits", device="cpu", run_dir=str(tmp_path)))
    assert digits.options["dataset"] == "digits"  # the device and run directory are not
    assert digits.objective.cache == str(tmp_path.resolve() / CACHE_FILE)
    assert digits.objective.device == "cpu"
    assert trial_cores(2, 8) == 4 and trial_cores(4, 2) == 1 and trial_cores(0, 3) == 3
    assert make_task("nas", TaskOptions(workers=2, cpus=6)).objective.cores == 3
    with pytest.raises(ValueError, match="counts its budget in evaluations"):
        make_task("nas", budget_unit="seconds")
    with pytest.raises(ValueError, match="unknown dataset 'cifar'"):
        make_task("nas", dataset="cifar")
    with pytest.raises(ValueError, match="--device"):
        make_task("nas", device="gpu")
    with pytest.raises(ValueError, match="layers"):
        nas_task(layers=0)
    with pytest.raises(ValueError, match="epochs"):
        nas_task(epochs=0)


@pytest.mark.slow
def test_objective_loss_and_a_larger_budget_continuing_the_same_search(tmp_path: Path):
    cache = str(tmp_path / CACHE_FILE)
    objective = NasObjective("digits", layers=1, epochs=1, cores=1, device="cpu", cache=cache)
    small = objective(SMALL, 3, seed=5)
    assert 0 <= small.loss <= 1
    assert small.loss == pytest.approx(1 - small.info["best_val_accuracy"])
    assert small.info["evaluations"] == 3 and small.info["cached"] == 0
    assert small.info["flat_config"]["episodes_per_update"] == 4
    json.dumps(small.info)  # kept in trials.jsonl
    # Common random numbers: the same seed with more budget repeats the first evaluations
    # (read from the shared cache) and continues, so the loss can only fall.
    large = objective(SMALL, 5, seed=5)
    assert large.info["evaluations"] == 5 and large.info["cached"] == 3
    assert large.loss <= small.loss
    assert len(Path(cache).read_text().splitlines()) == 5


@pytest.mark.slow
def test_optimize_cli_writes_the_run_log_and_a_loadable_incumbent(tmp_path, monkeypatch):
    # The real factory (options, run directory) with a tiny problem: 1 layer, 1 epoch.
    monkeypatch.setattr(nas_module, "nas_task", functools.partial(nas_task, layers=1, epochs=1))
    out = tmp_path / "run"
    args = ["optimize", "--task", "nas", "--dataset", "digits", "--device", "cpu"]
    args += ["--min-budget", "2", "--max-budget", "6", "--iterations", "1", "--workers", "0"]
    assert main([*args, "--seed", "1", "--out", str(out), "--quiet"]) == 0
    header = json.loads((out / "run.json").read_text())
    assert header["task"] == "nas"
    records = load_trials(out)
    assert {r["budget"] for r in records} == {2, 6}
    for record in records:
        assert record["loss"] == pytest.approx(1 - record["info"]["best_val_accuracy"])
        assert record["info"]["evaluations"] == record["budget"]
    promoted = next(r for r in records if r["budget"] == 6)
    first = next(r for r in records if r["budget"] == 2 and r["config_id"] == promoted["config_id"])
    assert promoted["seed"] == first["seed"] and promoted["info"]["cached"] >= 2
    assert (out / CACHE_FILE).is_file()  # shared by the trials
    incumbent = json.loads((out / "incumbent.json").read_text())
    meta = incumbent["_meta"]
    assert meta["best_val_accuracy"] == pytest.approx(1 - meta["loss"])
    assert meta["problem"] == {"dataset": "digits", "layers": 1, "epochs": 1}
    loaded = ControllerConfig.load(out / "incumbent.json")
    assert loaded == to_controller_config(meta["search_config"])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--task", "nas", "--budget-unit", "seconds"], "counts its budget in evaluations"),
        (["--task", "nas", "--dataset", "cifar"], "unknown dataset 'cifar'"),
        (["--task", "cartpole", "--dataset", "digits"], "--dataset does not apply to --task"),
    ],
)
def test_optimize_cli_rejects_bad_nas_input(tmp_path, capsys, extra, message):
    out = tmp_path / "run"
    assert main(["optimize", *extra, "--iterations", "1", "--out", str(out), "--quiet"]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()
