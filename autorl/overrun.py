"""How far past its time limit does a design run end? The worst case over sampled configs.

``python -m autorl.overrun --configs 20 --time-limit 5 --seed 0`` samples configurations of
LEARNA's space (:func:`autorl.spaces.learna_space`), runs :func:`meta.design.design` with
each on a target that is not solved quickly (default: the longest target of the registered
dataset ``rfam-taneda``), then one ``meta-learna`` and one ``meta-learna-adapt`` run with
the shipped model, and measures each run from the call of ``design()`` to its return. The
allowance is ``max(1 s, 2 % of the limit)``; the exit code is 0 when every run stays
within it, 1 otherwise (2: bad arguments). The table goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: Registered dataset whose longest target is the default target.
DEFAULT_DATASET = "rfam-taneda"


def allowance(time_limit: float) -> float:
    """Seconds a run may take beyond ``time_limit``: ``max(1 s, 2 %)``."""
    return max(1.0, 0.02 * time_limit)


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def default_target() -> Any:
    """The longest target of :data:`DEFAULT_DATASET`."""
    from benchmarks.datasets import load_dataset

    return max(load_dataset(DEFAULT_DATASET).targets, key=len)


def resolve_target(spec: str | None) -> Any:
    """``--target``: a target file (its longest target) or a dot-bracket string."""
    if spec is None:
        return default_target()
    from envs.dot_bracket import resolve_targets

    targets = resolve_targets(spec)
    if not targets:
        raise ValueError(f"--target {spec!r}: no targets")
    return max(targets, key=len)


def sample_configs(count: int, seed: int) -> list[tuple[dict[str, Any], Any]]:
    """``count`` configurations of LEARNA's space: ``(flat config, LearnaConfig)`` each."""
    from autorl.spaces import learna_space, to_flat_config
    from meta.config import LEARNA

    if count < 1:
        return []
    space = learna_space(seed)
    configs = space.sample_configuration(count) if count > 1 else [space.sample_configuration()]
    agents = []
    for config in configs:
        flat = to_flat_config(dict(config))
        agents.append((flat, LEARNA.updated(flat, source="overrun check")))
    return agents


def config_facts(target: Any, config: Any) -> dict[str, Any]:
    """Network size (parameters) and the PPO settings that set an update's cost."""
    from envs.vector import RnaDesignVecEnv
    from meta.design import build_ppo

    env = RnaDesignVecEnv([target], config.env, n_envs=1, seed=0)
    try:
        model = build_ppo(env, config, 8, 0, "cpu")  # only counts parameters: any device
        parameters = sum(p.numel() for p in model.policy.parameters())
    finally:
        env.close()
    policy, ppo = config.policy, config.ppo
    return {
        "parameters": int(parameters),
        "conv": [list(layer) for layer in policy.conv_layers],
        "lstm": [policy.lstm_layers, policy.lstm_units] if policy.lstm_layers else [],
        "fc": [policy.fc_layers, policy.fc_units],
        "window": config.env.window,
        "n_epochs": ppo.n_epochs,
        "batch_size": ppo.batch_size,
        "n_envs": ppo.n_envs,
    }


def timed_design(target: Any, time_limit: float, seed: int, **kwargs: Any) -> dict[str, Any]:
    """One design run, timed from the call of ``design()`` to its return."""
    from meta.design import design

    start = time.monotonic()
    # CPU on purpose, whatever GPU the machine has: the overrun is measured (and its
    # allowance set) for the CPU path, where updates are timed without CUDA's asynchrony.
    result = design(target, time_limit=time_limit, seed=seed, device="cpu", **kwargs)
    taken = time.monotonic() - start
    return {
        "seconds": round(taken, 4),
        "overrun": round(taken - time_limit, 4),
        "episodes": result.episodes,
        "distance": result.distance,
        "solved": result.solved,
        "result_seconds": round(result.seconds, 4),
    }


def _row(label: str, run: dict[str, Any]) -> str:
    facts = run.get("facts")
    described = ""
    if facts:
        described = (
            f"params={facts['parameters']:>6} epochs={facts['n_epochs']} "
            f"batch={facts['batch_size']:>3} lstm={facts['lstm'] or '-'} fc={facts['fc']}"
        )
    return (
        f"{label:<22} {run['seconds']:7.2f}s overrun {run['overrun']:+6.2f}s "
        f"episodes={run['episodes']:<5} distance={run['distance']:<4} {described}"
    )


def run_check(
    configs: int,
    time_limit: float,
    seed: int,
    target_spec: str | None = None,
    meta: bool = True,
    workers: int = 1,
) -> dict[str, Any]:
    """Run the check and return its report (see the module docstring).

    With ``workers > 1`` every run folds on that many processes, and its PPO loop is
    pipelined (``meta.design.DEFAULT_PIPELINE``: the update beside the next batch's folds).
    """
    from meta.design import warm_up

    target = resolve_target(target_spec)
    _progress(f"target {target.id}: {len(target)} nt; time limit {time_limit:g} s")
    warm_up()
    runs: list[dict[str, Any]] = []
    for index, (flat, agent) in enumerate(sample_configs(configs, seed)):
        facts = config_facts(target, agent)
        _progress(f"config {index + 1}/{configs} ...")
        run = timed_design(
            target, time_limit, seed + index, method="learna", config=agent, workers=workers
        )
        run.update(method="learna", index=index, config=flat, facts=facts)
        runs.append(run)
        print(_row(f"learna config {index + 1}", run), flush=True)
    if meta:
        for method in ("meta-learna", "meta-learna-adapt"):
            _progress(f"{method} (shipped model) ...")
            run = timed_design(target, time_limit, seed, method=method, workers=workers)
            run.update(method=method)
            runs.append(run)
            print(_row(method, run), flush=True)
    if not runs:
        raise ValueError("nothing to run: --configs 0 with --no-meta")
    worst = max(runs, key=lambda r: r["overrun"])
    allowed = allowance(time_limit)
    within = worst["overrun"] <= allowed
    print(
        f"worst overrun {worst['overrun']:+.3f} s ({worst['method']}"
        + (f" config {worst['index'] + 1}" if "index" in worst else "")
        + f"); allowance {allowed:.2f} s: {'within' if within else 'EXCEEDED'}",
        flush=True,
    )
    return {
        "target": {"id": target.id, "length": len(target), "structure": target.structure},
        "time_limit": time_limit,
        "seed": seed,
        "workers": workers,
        "allowance": allowed,
        "worst_overrun": worst["overrun"],
        "within_allowance": within,
        "runs": runs,
    }


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m autorl.overrun``."""
    parser = argparse.ArgumentParser(
        prog="python -m autorl.overrun",
        description="Worst overrun of design()'s time limit over sampled LEARNA configurations.",
    )
    parser.add_argument("--configs", type=int, default=20, help="configurations to sample")
    parser.add_argument("--time-limit", type=float, default=5.0, help="seconds per run")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample and the runs")
    parser.add_argument(
        "--target",
        default=None,
        help=f"target file (its longest target) or dot-bracket; default: the longest target "
        f"of {DEFAULT_DATASET}",
    )
    parser.add_argument("--out", type=Path, default=None, help="write the report as JSON here")
    parser.add_argument("--no-meta", action="store_true", help="skip the meta-learna(-adapt) runs")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="folding processes of each run (1; above 1 the PPO loop is pipelined)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the check; 0 when every run is within the allowance, 1 otherwise, 2 bad input."""
    args = build_parser().parse_args(argv)
    if args.configs < 0 or not (math.isfinite(args.time_limit) and args.time_limit > 0):
        print("--configs must be >= 0 and --time-limit a positive number", file=sys.stderr)
        return 2
    if args.workers < 1:
        print(f"--workers must be >= 1, got {args.workers}", file=sys.stderr)
        return 2
    try:
        report = run_check(
            args.configs, args.time_limit, args.seed, args.target, not args.no_meta, args.workers
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        _progress(f"report written to {args.out}")
    return 0 if report["within_allowance"] else 1


if __name__ == "__main__":
    sys.exit(main())
