"""``autorl design``: design sequences that fold into target structures."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO

from autorl.progress import Progress
from envs.dot_bracket import Target, resolve_targets
from meta.checkpoints import Checkpoint, load_checkpoint
from meta.config import LEARNA, LearnaConfig
from meta.design import META_METHODS, METHODS, DesignProgress, DesignResult, design
from meta.provenance import package_versions

FORMATS = ("text", "fasta", "json")
DEVICES = ("auto", "cpu", "cuda")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``design`` subcommand."""
    parser = subparsers.add_parser(
        "design",
        help="design RNA sequences for target structures",
        description="Design a sequence whose MFE structure (ViennaRNA) is the target. "
        "The default method, meta-learna-adapt, continues PPO from the pretrained "
        "Meta-LEARNA policy shipped with autorl. "
        "Exit code 0: every target solved; 1: some target unsolved (best design printed); "
        "2: bad input.",
    )
    parser.add_argument(
        "--target",
        required=True,
        help="a target file (one structure a line, id<TAB>structure, or FASTA-style), "
        "'-' for stdin, or a literal dot-bracket structure",
    )
    parser.add_argument(
        "--method",
        choices=METHODS,
        default="meta-learna-adapt",
        help="learna: PPO from scratch; meta-learna: sample from the pretrained policy; "
        "meta-learna-adapt: PPO from the pretrained policy (default)",
    )
    parser.add_argument(
        "--model",
        metavar="PATH",
        help="checkpoint zip of the meta methods (default: the shipped model), e.g. "
        "DIR/best.zip of `autorl meta-train`",
    )
    parser.add_argument(
        "--time-limit", type=float, default=60.0, metavar="SECONDS", help="per target (60)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of everything random (0)")
    parser.add_argument(
        "--num-solutions",
        type=int,
        default=1,
        metavar="K",
        help="collect K distinct solutions per target (1)",
    )
    parser.add_argument("--device", choices=DEVICES, default="auto", help="torch device")
    parser.add_argument(
        "--workers", type=int, default=1, help="processes that fold designs in parallel (1)"
    )
    parser.add_argument("--format", choices=FORMATS, default="text", help="output format")
    parser.add_argument(
        "--config",
        help="flat JSON settings overriding the method's defaults "
        "(e.g. an `autorl optimize` incumbent.json)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.set_defaults(run=run)


def _validate(
    args: argparse.Namespace,
) -> tuple[list[Target], LearnaConfig, Checkpoint | None]:
    if not args.time_limit > 0:
        raise ValueError(f"--time-limit must be > 0 seconds, got {args.time_limit}")
    if args.num_solutions < 1:
        raise ValueError(f"--num-solutions must be >= 1, got {args.num_solutions}")
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ValueError("--device cuda: no CUDA device is available (use auto or cpu)")
    if args.model and args.method not in META_METHODS:
        raise ValueError(f"--model applies to {' and '.join(META_METHODS)}, not {args.method}")
    targets = resolve_targets(args.target)
    checkpoint = load_checkpoint(args.model) if args.method in META_METHODS else None
    base = checkpoint.config if checkpoint is not None else LEARNA
    config = LearnaConfig.load(args.config, base=base) if args.config else base
    return targets, config, checkpoint


def run(args: argparse.Namespace) -> int:
    """Design every target and print the results; exit 1 if any stayed unsolved."""
    targets, config, checkpoint = _validate(args)
    results: list[DesignResult] = []
    with Progress(args.quiet) as progress:
        for index, target in enumerate(targets):

            def show(p: DesignProgress, index: int = index, length: int = len(target)) -> None:
                best = "-" if p.best_distance < 0 else str(p.best_distance)
                progress.update(
                    f"target {index + 1}/{len(targets)} ({p.target_id}, {length} nt): "
                    f"{p.elapsed:5.1f}/{p.time_limit:g} s, {p.episodes} episodes, "
                    f"best distance {best}"
                )

            result = design(
                target,
                method=args.method,
                config=config,
                time_limit=args.time_limit,
                seed=args.seed,
                num_solutions=args.num_solutions,
                device=args.device,
                workers=args.workers,
                threads=args.workers,
                on_progress=show,
                model=checkpoint,
            )
            results.append(result)
            if args.format != "json":
                progress.clear()
                _print_one(result, args.format, sys.stdout)
    if args.format == "json":
        versions = package_versions()
        payload = [dict(r.to_dict(), versions=versions) for r in results]
        json.dump(payload, sys.stdout, indent=2)
        sys.stdout.write("\n")
    return 0 if all(r.solved for r in results) else 1


def _print_one(result: DesignResult, fmt: str, out: TextIO) -> None:
    if fmt == "fasta":
        if not result.solved:
            out.write(f">{result.target_id} unsolved distance={result.distance}\n")
            out.write(result.sequence + "\n")
        for number, sequence in enumerate(result.solutions, start=1):
            suffix = f" solution={number}" if len(result.solutions) > 1 else ""
            out.write(f">{result.target_id}{suffix}\n{sequence}\n")
    else:
        status = "solved" if result.solved else "UNSOLVED"
        out.write(
            f"# {result.target_id}: {status} in {result.seconds:.2f} s, "
            f"{result.episodes} episodes, distance {result.distance}\n"
            f"target     {result.target}\n"
            f"sequence   {result.sequence}\n"
            f"structure  {result.structure}\n"
        )
        for sequence in result.solutions[1:]:
            out.write(f"solution   {sequence}\n")
        out.write("\n")
    out.flush()
