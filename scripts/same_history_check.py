"""Same history, two models: do autorl's and hpbandster's BOHB propose equally good points?

Feeds the first half of each BOHB run's trials (MF-Hartmann-6, from an
``autorl benchmark-optimizers`` output directory) into autorl's KDE model and into
hpbandster's own config generator, draws 100 model-based proposals from each (random
fraction 0), and prints the mean noise-free Hartmann value of the proposals (lower is better).

    python scripts/same_history_check.py runs/bench-optimizers 10
"""

from __future__ import annotations

import json
import logging
import statistics
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from autorl.bohb.encoding import plain_config
from autorl.bohb.optimizer import BOHBConfig, Optimizer
from benchmarks.synthetic import mf_hartmann_problem

PROBLEM = mf_hartmann_problem(6)
PROPOSALS = 100


class Job:
    """The parts of an hpbandster job that its config generator's ``new_result`` reads."""

    def __init__(self, config: dict[str, Any], budget: float, loss: float):
        self.kwargs = {"config": config, "budget": budget}
        self.result = {"loss": loss}
        self.exception = None
        self.timestamps: dict[str, float] = {}
        self.id = (0, 0, 0)
        self.worker_name = "same-history"


def ours(history: list[dict[str, Any]], seed: int) -> float:
    config = BOHBConfig(3, 100, 3, seed=seed, random_fraction=0.0)
    optimizer = Optimizer(PROBLEM.make_space(None), config)
    for record in history:
        vector = optimizer.encoding.to_vector(record["config"])
        optimizer.model.observe(vector, float(record["budget"]), record["loss"])
    values = []
    for k in range(PROPOSALS):
        best = optimizer.model.candidates(np.random.default_rng([seed, 99, k]))[0]
        values.append(PROBLEM.true_value(plain_config(optimizer.encoding.to_config(best))))
    return statistics.fmean(values)


def theirs(history: list[dict[str, Any]], seed: int) -> float:
    from hpbandster.optimizers.config_generators.bohb import BOHB

    np.random.seed(seed)
    generator = BOHB(PROBLEM.make_space(seed), random_fraction=0.0)
    for record in history:
        generator.new_result(Job(record["config"], float(record["budget"]), record["loss"]))
    values = [PROBLEM.true_value(generator.get_config(None)[0]) for _ in range(PROPOSALS)]
    return statistics.fmean(values)


def main() -> None:
    warnings.filterwarnings("ignore")
    logging.getLogger("hpbandster").setLevel(logging.ERROR)
    root, seeds = Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 10
    results: dict[str, list[float]] = {"autorl": [], "hpbandster": []}
    for seed in range(seeds):
        log = root / "runs" / "mf-hartmann-6" / "bohb" / f"seed-{seed}" / "trials.jsonl"
        records = [json.loads(line) for line in log.read_text().splitlines()]
        history = records[: len(records) // 2]
        results["autorl"].append(ours(history, seed))
        results["hpbandster"].append(theirs(history, seed))
        print(seed, round(results["autorl"][-1], 4), round(results["hpbandster"][-1], 4))
    for name, values in results.items():
        sem = statistics.stdev(values) / len(values) ** 0.5
        print(f"{name}: mean proposal value {statistics.fmean(values):.4f} ± {sem:.4f}")


if __name__ == "__main__":
    main()
