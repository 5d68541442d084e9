r"""``autorl nas search`` and ``autorl nas compare``: neural architecture search as an MDP.

A Zoph & Le controller (an LSTM trained with PPO) or random search proposes child CNNs
token by token (``AutoRL/NasMdp-v0``); each child is trained briefly on MNIST-1D (or
scikit-learn's digits) and its validation accuracy is the reward::

    autorl nas search --dataset mnist1d --evaluations 300 --method ppo --seed 0 \
        --out runs/nas-ppo
    autorl nas compare --dataset mnist1d --evaluations 300 --seeds 5 --out runs/nas-compare

``search`` writes ``evaluations.jsonl``, ``best.json`` (with the best architecture's test
accuracy after the final retraining), ``best_so_far.png``, the cache ``children.jsonl``
and ``controller.zip`` (:mod:`meta.nas_search`); ``compare`` runs both methods on every
seed and writes ``summary.json``, ``table.md`` and ``comparison.png``
(:mod:`benchmarks.nas_comparison`). Both resume with ``--resume``.

Exit codes: 0 done; 2 bad input (nothing written); 130 interrupted (``--resume`` continues).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from autorl.progress import Progress
from policies.device import DEVICE_CHOICES, check_device

if TYPE_CHECKING:
    from meta.nas_search import SearchSettings

# Literal copies (the parser stays light; tests/test_cli_startup.py checks them).
#: ``envs.nas_children.DATASETS``.
DATASETS = ("mnist1d", "digits")
#: ``meta.nas_search.METHODS``.
METHODS = ("ppo", "random")
#: ``envs.nas_space.DEFAULT_LAYERS``, ``meta.nas_search.FINAL_EPOCHS`` and
#: ``envs.nas_children.ChildRecipe().epochs``.
DEFAULT_LAYERS = 6
FINAL_EPOCHS = 50
SEARCH_EPOCHS = 3


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``nas`` command with its ``search`` and ``compare`` subcommands."""
    parser = subparsers.add_parser(
        "nas",
        help="neural architecture search as an MDP (PPO controller or random search)",
        description="Neural architecture search framed as a decision process (Zoph & Le "
        "2017): a controller emits a child CNN token by token and is rewarded with the "
        "child's validation accuracy.",
    )
    commands = parser.add_subparsers(dest="nas_command", metavar="SUBCOMMAND")
    commands.required = True
    search = commands.add_parser(
        "search",
        help="one search: N child evaluations, then the best architecture retrained",
        description="Search --evaluations distinct architectures with the PPO controller or "
        "random search; write every evaluation (evaluations.jsonl), the best architecture "
        "with its test accuracy after retraining for --final-epochs (best.json) and a "
        "best-so-far plot to --out. Exit code 0: done; 2: bad input; 130: interrupted "
        "(--resume continues).",
    )
    _add_search_options(search)
    search.add_argument("--method", default="ppo", help=f"one of: {', '.join(METHODS)} (ppo)")
    search.add_argument("--seed", type=int, default=0, help="seed of the search (0)")
    search.add_argument(
        "--cache", metavar="FILE", help="child cache to share (default: OUT/children.jsonl)"
    )
    search.set_defaults(run=run_search_command)
    compare = commands.add_parser(
        "compare",
        help="the PPO controller vs random search, several seeds, same evaluations",
        description="Run the PPO controller and random search with --seeds seeds each at the "
        "same number of child evaluations (one run at a time); report the best validation "
        "accuracy (mean ± standard error), the test accuracy of each run's best "
        "architecture, and the difference. Writes summary.json, table.md and "
        "comparison.png to --out. Exit code 0: done; 2: bad input; 130: interrupted.",
    )
    _add_search_options(compare)
    compare.add_argument("--seeds", type=int, default=5, help="seeds per method (5)")
    compare.add_argument("--first-seed", type=int, default=0, help="seeds S, S+1, ... (0)")
    compare.add_argument(
        "--methods", default="ppo,random", help="comma-separated methods (ppo,random)"
    )
    compare.set_defaults(run=run_compare_command)


def _add_search_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default="mnist1d", help=f"one of: {', '.join(DATASETS)}")
    parser.add_argument(
        "--evaluations", type=int, default=300, metavar="N", help="distinct children (300)"
    )
    parser.add_argument("--config", metavar="CONFIG.json", help="controller configuration")
    parser.add_argument(
        "--layers", type=int, default=DEFAULT_LAYERS, help=f"layers L ({DEFAULT_LAYERS})"
    )
    parser.add_argument(
        "--strides", default="1", help="stride choices, e.g. 1 or 1,2,3 (1: no stride decision)"
    )
    parser.add_argument("--no-skips", action="store_true", help="plain chains, no skip decisions")
    parser.add_argument(
        "--epochs",
        type=int,
        default=SEARCH_EPOCHS,
        help=f"training epochs of each child during the search, the fidelity ({SEARCH_EPOCHS})",
    )
    parser.add_argument(
        "--final-epochs",
        type=int,
        default=FINAL_EPOCHS,
        help=f"epochs of the best architecture's retraining ({FINAL_EPOCHS}; 0: none)",
    )
    parser.add_argument("--workers", type=int, default=2, help="children trained at a time (2)")
    parser.add_argument(
        "--device", default="cpu", metavar=DEVICE_CHOICES, help="where children train (cpu)"
    )
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def _ints(text: str, option: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"{option}: expected comma-separated integers, got {text!r}") from None
    if not values or any(value < 1 for value in values):
        raise ValueError(f"{option}: values must be >= 1, got {text!r}")
    return values


def settings_from(args: argparse.Namespace, method: str, seed: int) -> SearchSettings:
    """The checked search settings (ValueError naming the option on bad input)."""
    from envs.nas_children import ChildRecipe
    from meta.nas_search import SearchSettings

    if args.dataset not in DATASETS:
        raise ValueError(
            f"--dataset: unknown dataset {args.dataset!r}; choose one of {', '.join(DATASETS)}"
        )
    if method not in METHODS:
        raise ValueError(f"--method: unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if args.evaluations < 1:
        raise ValueError(f"--evaluations must be >= 1, got {args.evaluations}")
    if args.layers < 1:
        raise ValueError(f"--layers must be >= 1, got {args.layers}")
    if args.epochs < 1:
        raise ValueError(f"--epochs must be >= 1, got {args.epochs}")
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    device = check_device(args.device)
    if device != "cpu":  # CUDA asked for where there is none: an error here, not in a worker
        from policies.device import resolve_device

        device = resolve_device(device)
    return SearchSettings(
        dataset=args.dataset,
        evaluations=args.evaluations,
        method=method,
        layers=args.layers,
        strides=_ints(args.strides, "--strides"),
        skips=not args.no_skips,
        recipe=ChildRecipe(epochs=args.epochs, device=device),
        final_epochs=args.final_epochs,
        seed=seed,
        workers=args.workers,
        cache=getattr(args, "cache", None),
    )


def _config(args: argparse.Namespace) -> Any:
    from meta.nas_controller import ControllerConfig

    return ControllerConfig() if args.config is None else ControllerConfig.load(args.config)


def run_search_command(args: argparse.Namespace) -> int:
    """``autorl nas search``: run, print the best architecture and its accuracies."""
    from meta.nas_search import run_search

    settings = settings_from(args, args.method, args.seed)
    config = _config(args)
    with Progress(quiet=args.quiet) as progress:
        result = run_search(
            settings, config, args.out, resume=args.resume, progress=progress.update
        )
    final = result.final or {}
    report = {
        "method": settings.method,
        "evaluations": len(result.evaluations),
        "best_val_accuracy": result.best["val_accuracy"],
        "found_at": result.best["evaluation"],
        "final_val_accuracy": final.get("val_accuracy"),
        "final_test_accuracy": final.get("test_accuracy"),
        "search_minutes": round(result.seconds / 60, 2),
        "out": str(args.out),
    }
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


def run_compare_command(args: argparse.Namespace) -> int:
    """``autorl nas compare``: run every (method, seed), print the table."""
    from benchmarks.nas_comparison import run_comparison, table

    methods = tuple(part.strip() for part in args.methods.split(",") if part.strip())
    for method in methods:
        if method not in METHODS:
            raise ValueError(
                f"--methods: unknown method {method!r}; choose from {', '.join(METHODS)}"
            )
    if args.seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {args.seeds}")
    settings = settings_from(args, methods[0] if methods else "ppo", args.first_seed)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    config = _config(args)
    with Progress(quiet=args.quiet) as progress:
        summary = run_comparison(
            settings,
            methods,
            seeds,
            args.out,
            config=config,
            resume=args.resume,
            progress=progress.update,
        )
    sys.stdout.write(table(summary))
    return 0
