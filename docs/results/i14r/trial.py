"""One trial of a BOHB run's rna-meta-learna objective, outside the run.

The same validation targets, training structures and objective as the run's trials, with
a configuration given here: the published Meta-LEARNA configuration, or a trial of the
run (by its id in trials.jsonl, e.g. to repeat a trial that failed).

    python docs/results/i14r/trial.py RUN_DIR BUDGET SEED OUT.json [--trial ID]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from autorl.spaces import to_flat_config
from autorl.tasks.rna_meta_learna import DEFAULT_TRAINING, rna_meta_learna_task
from envs.dot_bracket import Target
from meta.config import META_LEARNA
from meta.training_data import GeneratorSettings

#: META_LEARNA as a point of the Meta-LEARNA space (state radius 21 + 11 * 8/11 = 29).
PUBLISHED = {
    "learning_rate": 6.44e-5,
    "batch_size": 123,
    "entropy_coef": 1.51e-4,
    "reward_exponent": 8.93,
    "state_radius_relative": 8 / 11 + 1e-9,
    "conv_radius_1": 5,
    "conv_channels_1": 10,
    "conv_radius_2": 1,
    "conv_channels_2": 3,
    "fc_layers": 1,
    "fc_units": 52,
    "lstm_layers": 0,
    "embedding_size": 2,
}


def main() -> None:
    """Run the trial and write its record."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run", type=Path)
    parser.add_argument("budget", type=float)
    parser.add_argument("seed", type=int)
    parser.add_argument("out", type=Path)
    parser.add_argument("--trial", help="a trial id of the run (default: the published config)")
    args = parser.parse_args()
    config = PUBLISHED
    if args.trial:
        trials = [json.loads(line) for line in (args.run / "trials.jsonl").open()]
        config = next(t["config"] for t in trials if t["trial"] == args.trial)
    else:
        published = META_LEARNA.to_flat()
        flat = to_flat_config(PUBLISHED)
        wrong = {k: v for k, v in flat.items() if published[k] != v}
        if wrong:
            raise SystemExit(f"not the published configuration: {wrong}")
    options = json.loads((args.run / "run.json").read_text())["task_options"]
    targets = [Target(name, structure) for name, structure in options["targets"].items()]
    fields = GeneratorSettings.__dataclass_fields__
    training = GeneratorSettings(**{k: v for k, v in options["training"].items() if k in fields})
    if training != DEFAULT_TRAINING:
        raise SystemExit(f"the run trained on {training}, this script on {DEFAULT_TRAINING}")
    task = rna_meta_learna_task(
        targets, workers=1, validation_seconds=float(options["validation_seconds"])
    )
    start = time.time()
    result = task.objective(config, args.budget, args.seed)
    record = {
        "trial": args.trial or "published",
        "config": config,
        "budget": args.budget,
        "seed": args.seed,
        "loss": result.loss,
        "info": result.info,
        "seconds": time.time() - start,
    }
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(args.out, record["trial"], result.loss, result.info["solved_fraction"])


if __name__ == "__main__":
    main()
