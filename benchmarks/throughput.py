"""How close the design loop runs to the folding rate.

Measures, in one run, raw ``RNA.fold`` calls per second on random sequences of one length
(one process), and the LEARNA design loop's episodes per second on targets of that length
with PPO learning included (the published LEARNA configuration unless ``--config``), and
prints both and their ratio. Every design episode costs at least one fold, so the ratio
says how much of the machine's folding capacity the learning machinery leaves.

The ratio is episodes per second (learning included) divided by the folding capacity of
the cores the loop uses: one process's fold rate times ``cores = min(workers, CPUs)`` (the
loop folds in ``workers`` processes, or in its own process with one worker; the policy
shares those cores). Before issue 14 the README divided a 2-worker loop by the rate of a
single process, which overstated the ratio about twice; ``ratio_per_process`` keeps that
figure for comparison. ``fold_share`` is the loop's folds per second (local improvement
and refinement included) over the same capacity: how busy the cores are with folding.

What bounds the ratio: every episode costs CPU in the loop's own process
(``learning_cpu_ms``: the policy's steps and the PPO updates, all torch threads, measured
with ``time.process_time``) and in its folds (``worker_cpu_ms``: the folds and the
evaluation around them, from the resource usage of the loop's finished folding processes;
with one worker the loop folds in its own process, and the CPU of those folds
(:func:`envs.execution.serial_cpu_seconds`) is taken out of the loop's and counted here).
Before session 66 a one-worker run priced its own folds at the fold rate's random
sequences, about twice what a design's fold costs, so ``learning_cpu_ms`` read low, often
0. ``cpu_ms`` is all of it per episode. However well the work
overlaps, ``cores`` cores give at most ``cores`` CPU seconds per second, so ``ceiling = 1
/ (folds_per_s x cpu_ms / 1000)`` is the highest ratio this loop can reach, and ``packing
= ratio / ceiling`` is the share of its cores' time it kept busy.

Before session 65 the ceiling priced every fold at the fold rate's random sequences
(``1 / (folds_per_episode + learning_cpu x folds_per_s)``), but the loop's designs fold
faster (at 100 nt about 2.6 ms against 5-6.5 ms for a random sequence), so that ceiling,
about 0.66, sat below ratios of 0.86-0.95; ``ceiling_parallel``, built the same way, is
gone.

The ratio's denominator assumes that ``cores`` processes fold ``cores`` times as fast as
one. Processes folding side by side may slow each other (shared caches, memory bandwidth,
a virtual machine's neighbours), so ``parallel_folds_per_s`` is measured with ``cores``
processes folding at once, and ``parallel_share`` (that rate over ``folds_per_s x
cores``) is the ratio a loop that did nothing but fold, one fold per episode, would reach:
no loop of one random fold per episode can pass it (on the 2-core development machine it
was 0.93-1.03 in session 24's runs: two processes fold about twice as fast as one).

The machine's speed drifts (a virtual machine's neighbours): in session 64 three runs of
the same command measured one process's fold rate at 162-202 folds/s and the loop at
291-346 episodes/s, ratios 0.726, 0.812 and 1.069, because the fold rate was measured once
before a loop that ran later. So the loop runs ``--repeats`` times, each between two fold
measurements of the same sequences, and each run's ratio divides its episodes per second
by the mean of the two measurements beside it; ``ratio`` is the median of ``ratios``.
``folds_per_s`` is the mean of every fold measurement, ``fold_rate_spread`` their range
over that mean (how steady the machine was), and the other figures pool the runs.

The loop is pipelined (``--pipeline``, as ``autorl design`` runs it with more than one
folding process: each PPO update runs while the next batch folds); ``--no-pipeline`` folds
each batch, then updates on it. The JSON's ``pipeline`` is what the design loop recorded
(:func:`meta.design.design`'s ``settings``): with one worker the loop folds in its own
process and is never pipelined, whatever the flag says.

With ``--constraint-fraction F`` (and ``--gc MIN:MAX``) the targets carry generated
sequence constraints (:func:`envs.constraints.random_constraint`), so the loop runs with
action masks (MaskablePPO) and repair: the cost of honouring constraints.

Usage::

    python -m benchmarks.throughput --length 100 --seconds 20 [--repeats 3] [--workers 2]
        [--json] [--config CONFIG.json] [--local-improvement D] [--no-pipeline]
        [--constraint-fraction 0.1 --gc 0.4:0.6]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from benchmarks.machine import random_sequences
from envs.constraints import DesignConstraints, parse_gc, random_constraint
from envs.dot_bracket import Target
from envs.execution import serial_cpu_seconds
from envs.folding import mfe_structure, vienna_version
from meta.config import LEARNA, LearnaConfig

if TYPE_CHECKING:
    from meta.design import DesignResult


def design(target: Target, **kwargs: Any) -> DesignResult:
    """:func:`meta.design.design`, imported on first use.

    This module is the ``__main__`` of ``python -m benchmarks.throughput``, and every
    process that multiprocessing spawns (the loop's folding processes, the parallel fold
    measurement) imports it again: importing torch and SB3 there cost each of them about
    3 s of CPU at start-up, inside the measured loop.
    """
    from meta.design import design as run

    return run(target, **kwargs)


def warm_up() -> None:
    """:func:`meta.design.warm_up`, imported on first use (see :func:`design`)."""
    from meta.design import warm_up as run

    run()


def fold_rate(length: int, seconds: float, rng: np.random.Generator) -> float:
    """Raw ``RNA.fold`` calls per second on random sequences of ``length`` nt (one process)."""
    count, elapsed = _fold_for(_fold_rate_sequences(length, rng), seconds)
    return count / elapsed


def _fold_rate_sequences(length: int, rng: np.random.Generator) -> list[str]:
    """The random sequences :func:`fold_rate` folds (they come first from ``rng``)."""
    return random_sequences(length, 256, rng)


def _fold_for(sequences: list[str], seconds: float) -> tuple[int, float]:
    """Fold ``sequences`` in turn for ``seconds``; the folds and the seconds they took."""
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        mfe_structure(sequences[count % len(sequences)])
        count += 1
    return count, time.perf_counter() - start


def _fold_until(length: int, start_at: float, seconds: float, seed: int) -> tuple[int, float]:
    """Folds of random sequences from ``start_at`` (``time.time()``) for ``seconds``.

    Returns:
        The folds and the seconds they took.
    """
    sequences = random_sequences(length, 256, np.random.default_rng(seed))
    time.sleep(max(0.0, start_at - time.time()))
    return _fold_for(sequences, seconds)


def parallel_fold_rate(length: int, seconds: float, processes: int, seed: int) -> float:
    """``RNA.fold`` calls per second of ``processes`` processes folding at the same time.

    Each process folds its own random sequences of ``length`` nt for ``seconds``; all of
    them start together (after every process has started), so the figure is what the
    cores fold side by side, not one process's rate times their number.
    """
    with ProcessPoolExecutor(processes) as pool:
        list(pool.map(time.sleep, [0.0] * processes))  # every process up before the clock
        start_at = time.time() + 0.5
        futures = [
            pool.submit(_fold_until, length, start_at, seconds, seed + index)
            for index in range(processes)
        ]
        return sum(count / elapsed for count, elapsed in (f.result() for f in futures))


def _children_cpu() -> float:
    """CPU seconds of this process's finished (reaped) child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def design_targets(length: int, count: int, rng: np.random.Generator) -> list[Target]:
    """Designable targets: MFE structures of random sequences that have base pairs."""
    targets: list[Target] = []
    while len(targets) < count:
        structure = mfe_structure(random_sequences(length, 1, rng)[0])
        if "(" in structure:
            targets.append(Target(str(len(targets) + 1), structure))
    return targets


def benchmark_targets(length: int, count: int, seed: int) -> list[Target]:
    """The targets :func:`main` designs with ``--length length --targets count --seed seed``.

    Its generator draws :func:`fold_rate`'s sequences before the targets; a probe that
    drew the targets alone designed another one (README, session 31).
    """
    rng = np.random.default_rng(seed)
    _fold_rate_sequences(length, rng)
    return design_targets(length, count, rng)


class LoopRun(NamedTuple):
    """One run of the design loop over the benchmark's targets (:func:`episode_rate`)."""

    #: Episodes per second, learning included.
    episodes_per_s: float
    episodes: int
    #: Folds the episodes spent (local improvement and refinement included).
    folds: int
    #: The loop's own CPU seconds: the policy's steps and updates.
    learning_cpu: float
    #: The folds' CPU seconds: the folding processes', or with one worker this process's
    #: own folds (:func:`envs.execution.serial_cpu_seconds`).
    folding_cpu: float
    #: Whether the loop ran pipelined, as :func:`meta.design.design` recorded it.
    pipelined: bool


def episode_rate(
    targets: list[Target],
    config: LearnaConfig,
    seconds: float,
    workers: int,
    seed: int,
    constraints: DesignConstraints | None = None,
    pipeline: bool = False,
) -> LoopRun:
    """Design-loop episodes per second, learning included, over ``targets`` in turn.

    The loop is not stopped by solutions (it keeps learning), so every second counts.
    """
    warm_up()  # torch's one-time lazy imports are not part of the loop's rate
    per_target = seconds / len(targets)
    episodes, folds, elapsed, cpu, pipelined = 0, 0, 0.0, 0.0, True
    children_start, serial_start = _children_cpu(), serial_cpu_seconds()
    for index, target in enumerate(targets):
        start, cpu_start = time.perf_counter(), time.process_time()
        result = design(
            target,
            config=config,
            time_limit=per_target,
            seed=seed + index,
            num_solutions=2**31,
            device="cpu",  # on purpose: the rate is compared with CPU folding, on the CPU
            workers=workers,
            threads=workers,
            constraints=constraints,
            metrics=False,
            pipeline=pipeline,
        )
        elapsed += time.perf_counter() - start
        cpu += time.process_time() - cpu_start
        episodes += result.episodes
        folds += result.folds
        pipelined = pipelined and result.settings["pipelined"]
    serial = serial_cpu_seconds() - serial_start  # this process's folds, with one worker
    folding = _children_cpu() - children_start + serial
    return LoopRun(episodes / elapsed, episodes, folds, cpu - serial, folding, pipelined)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the throughput benchmark and print the figures."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.throughput",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--length", type=int, default=100, help="target length in nt")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds per measurement")
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="runs of the loop, each between two fold-rate measurements (3)",
    )
    parser.add_argument("--workers", type=int, default=2, help="folding processes of the loop")
    parser.add_argument("--targets", type=int, default=1, help="random targets to cycle through")
    parser.add_argument("--config", help="flat JSON configuration (default: LEARNA)")
    parser.add_argument(
        "--local-improvement",
        type=int,
        metavar="D",
        help="LEARNA's local improvement on designs within Hamming distance D (0: off, as "
        "`autorl design` runs it; default: the configuration's, 5 in LEARNA's and the "
        "shipped model's)",
    )
    parser.add_argument(
        "--pipeline",
        action=argparse.BooleanOptionalAction,
        help="update while the next batch folds, one rollout behind (default: as "
        "`autorl design` runs it, meta.design.DEFAULT_PIPELINE: on)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--constraint-fraction",
        type=float,
        default=0.0,
        help="fix this share of each target's unpaired sites to random bases (0)",
    )
    parser.add_argument("--gc", help="GC-content range MIN:MAX of every design")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.length < 10 or args.seconds <= 0 or args.workers < 1 or args.targets < 1:
        parser.error("need --length >= 10, --seconds > 0, --workers >= 1, --targets >= 1")
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    config = LearnaConfig.load(args.config) if args.config else LEARNA
    if args.pipeline is None:
        from meta.design import DEFAULT_PIPELINE

        args.pipeline = DEFAULT_PIPELINE
    if args.local_improvement is not None:
        if args.local_improvement < 0:
            parser.error(f"--local-improvement must be >= 0, got {args.local_improvement}")
        config = config.updated({"local_improvement": args.local_improvement})
    rng = np.random.default_rng(args.seed)
    calibrations = [fold_rate(args.length, args.seconds, rng)]
    cores = min(args.workers, os.cpu_count() or 1)
    parallel = None  # one core: the single process's rate (their mean, below)
    if cores > 1:
        parallel = parallel_fold_rate(args.length, args.seconds, cores, args.seed)
    targets = design_targets(args.length, args.targets, rng)
    if args.constraint_fraction > 0:
        targets = [
            Target(t.id, t.structure, random_constraint(t.structure, args.constraint_fraction, rng))
            for t in targets
        ]
    rules = DesignConstraints(gc=parse_gc(args.gc) if args.gc else None)
    runs, ratios = [], []
    loop = (targets, config, args.seconds, args.workers, args.seed, rules, args.pipeline)
    for _ in range(args.repeats):
        runs.append(episode_rate(*loop))
        # The same sequences as the first measurement: a fresh generator of the same seed.
        calibrations.append(fold_rate(args.length, args.seconds, np.random.default_rng(args.seed)))
        ratios.append(
            runs[-1].episodes_per_s / (0.5 * (calibrations[-2] + calibrations[-1]) * cores)
        )
    folds = float(np.mean(calibrations))
    parallel = folds if parallel is None else parallel
    # Runs of equal length: their mean rate.
    episodes_per_s = sum(run.episodes_per_s for run in runs) / len(runs)
    episodes = sum(run.episodes for run in runs)
    loop_folds = sum(run.folds for run in runs)
    loop_cpu = sum(run.learning_cpu for run in runs)
    worker_cpu = sum(run.folding_cpu for run in runs)
    folds_per_episode = loop_folds / max(episodes, 1)
    learning_cpu = loop_cpu / max(episodes, 1)
    cpu_per_episode = (loop_cpu + worker_cpu) / max(episodes, 1)
    ceiling = 1.0 / (folds * cpu_per_episode)
    ratio = float(np.median(ratios))
    parallel_share = parallel / (folds * cores)
    figures = {
        "length": args.length,
        "seconds": args.seconds,
        "workers": args.workers,
        "cores": cores,
        "folds_per_s": round(folds, 2),
        "fold_rates": [round(rate, 2) for rate in calibrations],
        "fold_rate_spread": round((max(calibrations) - min(calibrations)) / folds, 3),
        "episodes_per_s": round(episodes_per_s, 2),
        "episodes": episodes,
        "folds_per_episode": round(folds_per_episode, 2),
        "ratio": round(ratio, 3),
        "ratios": [round(r, 3) for r in ratios],
        "repeats": args.repeats,
        "ratio_per_process": round(episodes_per_s / folds, 3),
        "fold_share": round(episodes_per_s * folds_per_episode / (folds * cores), 3),
        "learning_cpu_ms": round(1000 * learning_cpu, 3),
        "worker_cpu_ms": round(1000 * worker_cpu / max(episodes, 1), 3),
        "cpu_ms": round(1000 * cpu_per_episode, 3),
        "ceiling": round(ceiling, 3),
        "packing": round(ratio / ceiling, 3),
        "parallel_folds_per_s": round(parallel, 2),
        "parallel_share": round(parallel_share, 3),
        "local_improvement": config.env.local_improvement,
        "pipeline": all(run.pipelined for run in runs),
        "seed": args.seed,
        "constraint_fraction": args.constraint_fraction,
        "gc": args.gc or "",
        "viennarna": vienna_version(),
        "python": platform.python_version(),
    }
    if args.json:
        print(json.dumps(figures))
    else:
        rates = ", ".join(f"{rate:.1f}" for rate in calibrations)
        print(f"RNA.fold, {args.length} nt, 1 process: {folds:10.1f} folds/s (mean of {rates})")
        print(
            f"LEARNA design loop, {args.workers} fold workers:  {episodes_per_s:10.1f} episodes/s "
            f"({episodes} episodes, learning included)"
        )
        print(f"folds per episode (local improvement):  {figures['folds_per_episode']:10.2f}")
        each = ", ".join(f"{r:.3f}" for r in figures["ratios"])
        print(
            f"ratio episodes/s / (folds/s x {cores} cores): {figures['ratio']:10.3f} "
            f"(median of {each})"
        )
        print(f"share of the cores' folding capacity used: {figures['fold_share']:8.3f}")
        print(
            f"CPU per episode: {figures['cpu_ms']:.2f} ms (learning "
            f"{figures['learning_cpu_ms']:.2f} ms, folding processes "
            f"{figures['worker_cpu_ms']:.2f} ms); ceiling of the ratio, its cores never "
            f"idle: {figures['ceiling']:.3f} (reached: {figures['packing']:.0%})"
        )
        print(
            f"RNA.fold, {cores} processes at once: {parallel:10.1f} folds/s in all "
            f"({figures['parallel_share']:.3f} of {cores} x one process's rate: the ratio of "
            "a loop that only folds)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
