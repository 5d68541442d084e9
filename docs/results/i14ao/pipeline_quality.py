"""Design quality with and without the pipeline, back to back, with 2 folding processes.

``autorl benchmark`` runs each target with one folding process (``workers=1``), where the
pipeline does not apply. This script runs ``autorl.api.design`` on every target of a
dataset with ``workers=2``, once with the pipeline and once without, in turn (one target
at a time, so each run has both cores), and writes one JSON line per run::

    python docs/results/i14ao/pipeline_quality.py --dataset rfam-taneda --time-limit 30 \
        --out docs/results/i14ao/taneda-30s.jsonl

The defaults are ``autorl design``'s (meta-learna-adapt, the shipped model, the stages);
the order of the two modes alternates from target to target.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from autorl.api import design
from benchmarks.datasets import load_dataset


def run(dataset: str, time_limit: float, seed: int, out: Path) -> None:
    """Design every target of ``dataset`` with and without the pipeline; append to ``out``."""
    done = set()
    if out.exists():
        for line in out.read_text().splitlines():
            row = json.loads(line)
            done.add((row["target"], row["pipeline"]))
    targets = load_dataset(dataset).targets
    with out.open("a") as stream:
        for index, target in enumerate(targets):
            modes = (True, False) if index % 2 == 0 else (False, True)
            for pipeline in modes:
                if (target.id, pipeline) in done:
                    continue
                began = time.perf_counter()
                (result,) = design(
                    target, time_limit=time_limit, workers=2, pipeline=pipeline, seed=seed
                )
                row = {
                    "dataset": dataset,
                    "target": target.id,
                    "length": len(target.structure),
                    "pipeline": pipeline,
                    "solved": result.solved,
                    "distance": result.distance,
                    "seconds": round(result.seconds, 3),
                    "wall": round(time.perf_counter() - began, 3),
                    "episodes": result.episodes,
                    "folds": result.folds,
                    "found_by": result.found_by,
                    "time_limit": time_limit,
                    "seed": seed,
                }
                stream.write(json.dumps(row) + "\n")
                stream.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--time-limit", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    run(args.dataset, args.time_limit, args.seed, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
