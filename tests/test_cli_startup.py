"""``autorl --help`` stays light: building the parser imports no heavy package.

The commands import torch, ViennaRNA, ConfigSpace ... when they run, not when the parser is
built; the few constants the parser needs are literal copies in the command modules, checked
here against the originals.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: Packages ``autorl --help`` must not import (ray only with --backend ray, when run).
HEAVY = (
    "torch",
    "RNA",
    "ConfigSpace",
    "scipy",
    "stable_baselines3",
    "sb3_contrib",
    "gymnasium",
    "matplotlib",
    "ray",
    "numpy",
    "mnist1d",
    "sklearn",
)

#: The least each command parses (nothing is run).
MINIMAL = [
    ["design", "--target", "((....))"],
    ["benchmark", "--dataset", "rfam-taneda", "--method", "learna", "--out", "x"],
    ["benchmark", "report", "x"],
    ["optimize", "--task", "counting-ones", "--iterations", "1", "--out", "x"],
    ["benchmark-optimizers", "--out", "x"],
    ["benchmark-parallel", "--out", "x"],
    ["data", "generate", "--count", "3", "--out", "x"],
    ["data", "check", "x"],
    ["meta-train", "--train-data", "x", "--time-limit", "1", "--out", "x"],
    ["train", "--task", "cartpole", "--timesteps", "1", "--out", "x"],
    ["evaluate", "--task", "cartpole", "--reference", "zoo", "--timesteps", "1", "--out", "x"],
    ["nas", "search", "--out", "x"],
    ["nas", "compare", "--out", "x"],
]

#: Every (sub)command whose --help is printed.
HELP = [
    [],
    ["design"],
    ["benchmark"],
    ["benchmark", "report"],
    ["optimize"],
    ["benchmark-optimizers"],
    ["benchmark-parallel"],
    ["data"],
    ["data", "generate"],
    ["data", "check"],
    ["meta-train"],
    ["train"],
    ["evaluate"],
    ["nas"],
    ["nas", "search"],
    ["nas", "compare"],
]

_SCRIPT = """
import contextlib, io, json, sys
from autorl.cli import build_parser, main

parser = build_parser()
for argv in json.loads(sys.argv[1]):
    parser.parse_args(argv)
for command in json.loads(sys.argv[2]):
    with contextlib.redirect_stdout(io.StringIO()) as out:  # --help exits 0 after printing
        assert main([*command, "--help"]) == 0, command
    assert out.getvalue().startswith("usage: autorl"), command
print(json.dumps(sorted(sys.modules)))
"""


def test_building_the_parser_and_help_import_no_heavy_package():
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, json.dumps(MINIMAL), json.dumps(HELP)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    modules = json.loads(done.stdout)
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert not heavy, f"the parser imported heavy modules: {', '.join(heavy)}"


def _defaults(cls: type) -> dict[str, object]:
    return {f.name: f.default for f in dataclasses.fields(cls)}


def test_energy_and_refinement_copies_match():
    from autorl.commands import options
    from envs.folding import DEFAULT_ENERGY, ENERGY_PARAMETER_SETS
    from meta.design import (
        DEFAULT_ENSEMBLE_LATE_SHARE,
        DEFAULT_ENSEMBLE_RIVALS,
        DEFAULT_ENSEMBLE_SHARE,
        DEFAULT_ENSEMBLE_STARTS,
        DEFAULT_LOCAL_IMPROVEMENT,
        DEFAULT_PIPELINE,
        DEFAULT_QUICK_STARTS,
        DEFAULT_REFINEMENT,
    )

    assert DEFAULT_ENERGY.temperature == options.DEFAULT_TEMPERATURE
    assert DEFAULT_ENERGY.params == options.DEFAULT_ENERGY_PARAMS
    assert DEFAULT_ENERGY.dangles == options.DEFAULT_DANGLES
    assert tuple(ENERGY_PARAMETER_SETS) == options.ENERGY_PARAMETER_SETS
    assert options.DEFAULT_REFINEMENT == DEFAULT_REFINEMENT
    assert options.DEFAULT_ENSEMBLE_SHARE == DEFAULT_ENSEMBLE_SHARE
    assert options.DEFAULT_ENSEMBLE_STARTS == DEFAULT_ENSEMBLE_STARTS
    assert options.DEFAULT_ENSEMBLE_RIVALS == DEFAULT_ENSEMBLE_RIVALS
    assert options.DEFAULT_ENSEMBLE_LATE_SHARE == DEFAULT_ENSEMBLE_LATE_SHARE
    assert options.DEFAULT_LOCAL_IMPROVEMENT == DEFAULT_LOCAL_IMPROVEMENT
    assert options.DEFAULT_PIPELINE == DEFAULT_PIPELINE
    assert options.DEFAULT_QUICK_STARTS == DEFAULT_QUICK_STARTS


def test_designable_copy_matches():
    from autorl.commands import data
    from envs.designability import DEFAULT_MAX_ASSIGNMENTS

    assert data.MAX_ASSIGNMENTS == DEFAULT_MAX_ASSIGNMENTS


def test_design_copies_match():
    from autorl.commands import design
    from meta.design import METHODS
    from meta.quality import RANKINGS

    assert design.METHODS == METHODS
    assert design.RANKINGS == RANKINGS


def test_benchmark_copies_match():
    from autorl.commands import benchmark
    from benchmarks.datasets import DATA_ENV, DATASETS
    from benchmarks.runner import METHODS, RunnerConfig

    assert tuple(DATASETS) == benchmark.DATASETS
    assert benchmark.DATA_ENV == DATA_ENV
    assert benchmark.METHODS == METHODS
    real = _defaults(RunnerConfig)
    assert {name: real[name] for name in benchmark._DEFAULTS} == benchmark._DEFAULTS


def test_optimize_copies_match():
    from autorl.bohb.external import EXTERNAL
    from autorl.bohb.optimizer import METHODS, BOHBConfig
    from autorl.commands import benchmark_optimizers, optimize

    assert optimize.METHODS == METHODS
    assert tuple(EXTERNAL) == optimize.EXTERNAL
    real = _defaults(BOHBConfig)
    assert {name: real[name] for name in optimize._DEFAULTS} == optimize._DEFAULTS
    warm = benchmark_optimizers.WARM
    assert (*METHODS, *EXTERNAL, warm) == benchmark_optimizers.OPTIMIZERS
    assert benchmark_optimizers.GOALS.subject == "bohb"


def test_data_copies_match():
    from autorl.commands import data
    from meta.training_data import GeneratorSettings

    real = dataclasses.asdict(GeneratorSettings(count=1))
    del real["count"]
    assert real == data._DEFAULTS


def test_task_summaries_are_the_registry_s():
    import autorl.tasks as tasks

    assert {name: spec.summary for name, spec in tasks.REGISTRY.items()} == tasks.SUMMARIES
    assert tuple(tasks.REGISTRY) == tasks.TASKS
    assert tasks.REGISTRY is tasks.REGISTRY  # built once


def test_nas_copies_match():
    from autorl.commands import nas
    from envs.nas_children import DATASETS, ChildRecipe
    from envs.nas_space import DEFAULT_LAYERS
    from meta.nas_search import FINAL_EPOCHS, METHODS

    assert nas.DATASETS == DATASETS
    assert nas.METHODS == METHODS
    assert nas.DEFAULT_LAYERS == DEFAULT_LAYERS
    assert nas.FINAL_EPOCHS == FINAL_EPOCHS
    assert ChildRecipe().epochs == nas.SEARCH_EPOCHS
