"""Probe: what a design's evaluation and local improvement cost in the throughput benchmark's loop.

Not part of the package. Runs the shipped configuration from scratch on the throughput
benchmark's 100-nt target for 8 s in this process (one worker), keeps the designs it
evaluated, then times on the last 1,500 of them: ``RNA.fold`` alone, the folding unit
(``evaluate_batch`` on pieces of 4, without local improvement), and local improvement on
the near-misses (distance 1-5), with its folds counted. The difference between local
improvement's time and its folds' time is the ranking (scoring the candidates with
evaluation-only energies). CPU time of this process.

Usage (from the project's root)::

    python docs/results/i14x/local_improvement_cost.py
"""

from __future__ import annotations

import time

import RNA

import envs.vector
from envs import evaluation


def main() -> None:
    """Print the per-design costs."""
    from benchmarks.throughput import benchmark_targets
    from meta.config import LearnaConfig
    from meta.design import design, warm_up

    seen: list[tuple] = []
    original = evaluation.evaluate_batch

    def keep(jobs, *args, **kwargs):  # noqa: ANN001, ANN202 - a recording wrapper
        seen.extend(jobs)
        return original(jobs, *args, **kwargs)

    envs.vector.evaluate_batch = keep
    config = LearnaConfig.load("meta/models/meta-learna.json")
    target = benchmark_targets(100, 1, 0)[0]
    warm_up()
    design(
        target, config=config, time_limit=8, seed=0, num_solutions=2**31,
        device="cpu", workers=1, threads=1, metrics=False,
    )  # fmt: skip
    jobs = seen[-1500:]
    start = time.process_time()
    for job in jobs:
        RNA.fold(job[0])
    fold_ms = 1000 * (time.process_time() - start) / len(jobs)
    pieces = [jobs[i : i + 4] for i in range(0, len(jobs), 4)]
    start = time.process_time()
    outcomes = [original(piece, improve=False, refine=False) for piece in pieces]
    unit_ms = 1000 * (time.process_time() - start) / len(jobs)
    near = [
        (job, outcome)
        for piece, done in zip(pieces, outcomes)
        for job, outcome in zip(piece, done)
        if 0 < outcome.distance <= 5
    ]
    start = time.process_time()
    improved = [evaluation.improve_design(job, outcome) for job, outcome in near]
    seconds = time.process_time() - start
    folds = sum(i.folds - o.folds for i, (_, o) in zip(improved, near))
    print(f"{len(seen)} designs evaluated; timed on the last {len(jobs)}")
    print(f"RNA.fold {fold_ms:.2f} ms, folding unit {unit_ms:.2f} ms per design")
    print(
        f"local improvement on {len(near)} near-misses: {1000 * seconds / len(near):.2f} ms "
        f"and {folds / len(near):.2f} folds each; ranking ~"
        f"{1000 * seconds / len(near) - fold_ms * folds / len(near):.2f} ms each"
    )


if __name__ == "__main__":
    main()
