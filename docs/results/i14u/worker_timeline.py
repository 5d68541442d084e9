"""Probe: how busy the design loop's folding processes are, and with what.

Session 31 added each unit's CPU time (``time.process_time`` in the folding process)
beside its wall time, so that time a process spent waiting for a core is not counted as
folding.

Not part of the package. Runs the shipped network's configuration from scratch on one
random 100-nt target (the throughput benchmark's with ``--seed 0``; before session 31
another one) for
``SECONDS`` with 2 folding processes, as the throughput benchmark's loop does, with the
folding processes' two kinds of work timed where they run: folding a batch's pieces
(``evaluate_batch``) and local improvement (``improve_design``). Prints the loop's
episodes per second and, per folding process, the seconds spent on each kind, the folds,
the milliseconds per fold and the share of the run the process was busy.

Usage (from the project's root)::

    python docs/results/i14u/worker_timeline.py 20 [CONFIG.json]
"""

from __future__ import annotations

import glob
import os
import resource
import sys
import tempfile
import time

from envs import evaluation

#: Where each folding process appends its records (set before the processes start).
LOG_DIR = os.environ.get("WORKER_TIMELINE_DIR", "")


def _log(kind: str, start: float, cpu: float, folds: int) -> None:
    with open(os.path.join(LOG_DIR, f"{os.getpid()}.txt"), "a") as log:
        log.write(f"{kind} {start} {time.time()} {time.process_time() - cpu} {folds}\n")


def evaluate_batch(jobs, *args, **kwargs):  # noqa: ANN001, ANN201, D103 - a timed wrapper
    start, cpu = time.time(), time.process_time()
    outcomes = evaluation.evaluate_batch(jobs, *args, **kwargs)
    _log("fold", start, cpu, sum(o.folds for o in outcomes if o is not None))
    return outcomes


def improve_design(job, outcome, deadline=None):  # noqa: ANN001, ANN201, D103
    start, cpu = time.time(), time.process_time()
    improved = evaluation.improve_design(job, outcome, deadline)
    _log("improve", start, cpu, improved.folds - outcome.folds)
    return improved


def main(seconds: float, config_path: str) -> None:
    """Run the loop for ``seconds``; print the folding processes' busy shares."""
    import envs.vector
    from benchmarks.throughput import benchmark_targets
    from meta.config import LearnaConfig
    from meta.design import design, warm_up

    envs.vector.evaluate_batch = evaluate_batch  # the units name these module functions
    envs.vector.improve_design = improve_design
    config = LearnaConfig.load(config_path)
    # The throughput benchmark's target (session 30's probe drew another: the benchmark's
    # generator draws the fold-rate measurement's sequences first).
    target = benchmark_targets(100, 1, 0)[0]
    warm_up()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.time()
    result = design(
        target, config=config, time_limit=seconds, seed=0, num_solutions=2**31,
        device="cpu", workers=2, threads=2, metrics=False,
    )  # fmt: skip
    elapsed = time.time() - start
    time.sleep(1.0)  # the folding processes are reaped
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    reaped = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    print(
        f"folding processes' CPU by resource usage (as the throughput benchmark takes it): "
        f"{1000 * reaped / result.episodes:.2f} ms per episode"
    )
    print(
        f"{result.episodes} episodes, {result.episodes / elapsed:.1f}/s, "
        f"{result.folds / result.episodes:.2f} folds per episode"
    )
    for path in sorted(glob.glob(os.path.join(LOG_DIR, "*.txt"))):
        busy = {"fold": 0.0, "improve": 0.0}
        used = {"fold": 0.0, "improve": 0.0}
        folds = {"fold": 0, "improve": 0}
        with open(path) as log:
            records = [line.split() for line in log if line.strip()]
        for kind, began, ended, cpu, count in records:
            busy[kind] += float(ended) - float(began)
            used[kind] += float(cpu)
            folds[kind] += int(count)
        per_fold = {k: round(1000 * busy[k] / max(folds[k], 1), 2) for k in busy}
        cpu_per_fold = {k: round(1000 * used[k] / max(folds[k], 1), 2) for k in used}
        print(
            f"process {os.path.basename(path)[:-4]}: folds {folds}, wall ms per fold "
            f"{per_fold}, CPU ms per fold {cpu_per_fold}, busy {sum(busy.values()) / elapsed:.3f} "
            f"and CPU {sum(used.values()) / elapsed:.3f} of the run"
        )


if __name__ == "__main__":
    if not LOG_DIR:  # the folding processes inherit the directory through the environment
        os.environ["WORKER_TIMELINE_DIR"] = LOG_DIR = tempfile.mkdtemp()
    main(float(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "meta/models/meta-learna.json")
