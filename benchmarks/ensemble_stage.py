r"""The ensemble stage alone on a target file: what one of its settings changes.

Runs :class:`envs.ensemble_search.EnsembleSearch` (no policy) on every target of a target
file for ``--seconds`` each, one process per target and ``--workers`` at a time, from
``--starts`` targeted starts, with the stage's settings given (wobble pairs, the share of
its time spent on hierarchical starts, the objective, the site draw). Target ``k`` gets
the seed ``--seed + k``. Use it to judge a change of the stage on generated targets
(``autorl data generate``) before any benchmark. Prints one JSON object: the settings, the
solved count, the sum of the best distances, and per target the distance, the evaluations,
the seconds spent in competitor walks and in making neighbourhoods (``--neighbourhood``).
``--prior W`` has the stage's letter draws follow the shipped model's policy that much
(``ensemble_prior`` of the design loop, where the policy is the one adapting);
``--unsolved FILE`` also writes the targets left unsolved, as a target file, which is how
a hard dev set is drawn from a large generated one (second example: MFE structures of
random sequences are designable, so every target of it has a solution).

Usage::

    autorl data generate --count 16 --out long.txt --min-length 250 --max-length 400 \
        --source ensemble --beta-scale 0.7 --seed 44
    python -m benchmarks.ensemble_stage long.txt --seconds 30 --decompose 0.3
    python -m benchmarks.ensemble_stage long.txt --seconds 30 --decompose 0

    autorl data generate --count 800 --out mfe800.txt --min-length 120 --max-length 220 \
        --gc-min 0.3 --gc-max 0.7 --source mfe --seed 63
    python -m benchmarks.ensemble_stage mfe800.txt --seconds 1 --seed 2000 --unsolved a.txt
    python -m benchmarks.ensemble_stage mfe800.txt --seconds 1 --seed 3000 --unsolved b.txt \
        --sites softmax --objective probability
    sort -u a.txt b.txt > hard.txt
    python -m benchmarks.ensemble_stage hard.txt --seconds 5 --seed 4000
    python -m benchmarks.ensemble_stage hard.txt --seconds 5 --seed 4000 --sites softmax
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np

from envs.dot_bracket import read_targets
from envs.ensemble_search import OBJECTIVES, SITE_CHOICES, EnsembleSearch


@dataclass(frozen=True)
class StageSettings:
    """What the stage runs with (``seconds`` per target)."""

    seconds: float
    gu_pairs: bool = True
    decompose: float = 0.0
    starts: int = 10
    objective: str = "defect"
    sites: str = "defect"
    repair: float = 0.0
    special_loops: bool = False
    rivals: float = 0.0
    neighbourhood: int = 0
    boost: bool = False
    mfe_length: int = 0
    grafts: float = 0.0
    negative: float = 0.0
    restart: int = 0
    screen: int = 0
    prior: float = 0.0


def build_search(structure: str, settings: StageSettings, seed: int) -> EnsembleSearch:
    """The stage of one target with ``settings``, its draws seeded by ``seed``."""
    return EnsembleSearch(
        structure,
        np.random.default_rng(seed),
        gu_pairs=settings.gu_pairs,
        objective=settings.objective,
        sites=settings.sites,
        starts=settings.starts,
        decompose_seconds=settings.decompose * settings.seconds,
        repair=settings.repair,
        special_loops=settings.special_loops,
        rivals=settings.rivals,
        neighbourhood=settings.neighbourhood,
        boost=settings.boost,
        mfe_length=settings.mfe_length,
        grafts=settings.grafts,
        negative=settings.negative,
        restart=settings.restart,
        screen=settings.screen,
    )


def run_target(structure: str, settings: StageSettings, seed: int) -> dict[str, object]:
    """Run the stage on one target until solved or its time is over.

    With a ``prior``, the stage's letter draws follow the shipped model's policy that
    much (:func:`meta.policy_context.checkpoint_prior`, computed before the clock starts).
    """
    search = build_search(structure, settings, seed)
    if settings.prior:
        search.set_prior(_shipped_prior(structure), settings.prior)
    began = time.monotonic()
    search.run(began + settings.seconds)
    best = search.best
    return {
        "length": len(structure),
        "solved": search.solved,
        "distance": None if best is None else best.distance,
        "evaluations": search.evaluations,
        "seconds": round(time.monotonic() - began, 2),
        "walk_seconds": round(search.walk_seconds, 2),
        "neighbourhood_seconds": round(search.hood_seconds, 2),
        "grafts": search.grafts,
        "negative_bursts": search.negative_bursts,
        "negative_folds": search.negative_folds,
        "negative_seconds": round(search.negative_seconds, 2),
        "restarts": search.restarts,
        "screened": search.screened,
    }


def _shipped_prior(structure: str) -> np.ndarray:
    """The shipped model's action probabilities at every decision site of ``structure``."""
    from envs.dot_bracket import Target
    from meta.checkpoints import load_checkpoint
    from meta.policy_context import checkpoint_prior

    prior = checkpoint_prior(load_checkpoint(None), Target("target", structure))
    assert prior is not None  # the shipped policy is windowed
    return prior


def main(argv: Sequence[str] | None = None) -> int:
    """Run the stage on every target; print the JSON summary (exit 2 on a bad file)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("targets", help="target file")
    parser.add_argument("--seconds", type=float, default=30.0, help="per target (30)")
    parser.add_argument("--decompose", type=float, default=0.0, help="share (0)")
    parser.add_argument("--repair", type=float, default=0.0, help="focused repairs (0)")
    parser.add_argument("--no-gu", action="store_true", help="no wobble pairs in the stage")
    parser.add_argument("--starts", type=int, default=10, help="targeted starts (10)")
    parser.add_argument("--objective", choices=OBJECTIVES, default="defect")
    parser.add_argument("--sites", choices=SITE_CHOICES, default="defect", help="site draw")
    parser.add_argument("--special-loops", action="store_true", help="special hairpin moves (off)")
    parser.add_argument("--rivals", type=float, default=0.0, help="share of competitor steps (0)")
    parser.add_argument(
        "--neighbourhood",
        type=int,
        default=0,
        metavar="N",
        help="assignments a neighbourhood step scores at most (0: none)",
    )
    parser.add_argument(
        "--boost", action="store_true", help="targeted starts with loop boosts (off)"
    )
    parser.add_argument(
        "--mfe-length",
        type=int,
        default=0,
        metavar="L",
        help="targets of at least L nt are evaluated by the MFE fold alone (0: never)",
    )
    parser.add_argument(
        "--grafts", type=float, default=0.0, help="share of graft steps (0)", metavar="F"
    )
    parser.add_argument(
        "--negative",
        type=float,
        default=0.0,
        metavar="N",
        help="evaluations' time a negative-design burst may take (0: none)",
    )
    parser.add_argument(
        "--restart",
        type=int,
        default=0,
        metavar="N",
        help="evaluations the lead may stall before a restart, times Luby's sequence (0: none)",
    )
    parser.add_argument(
        "--screen",
        type=int,
        default=0,
        metavar="D",
        help="skip the partition function of designs D sites past the pool's farthest (0: never)",
    )
    parser.add_argument(
        "--prior",
        type=float,
        default=0.0,
        metavar="W",
        help="share of the letter draws that follow the shipped model's policy (0: none)",
    )
    parser.add_argument("--workers", type=int, default=2, help="targets at a time (2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--unsolved", metavar="FILE", help="also write the targets left unsolved (id, structure)"
    )
    args = parser.parse_args(argv)
    if not args.seconds > 0 or not 0 <= args.decompose < 1 or args.workers < 1:
        parser.error("--seconds must be > 0, --decompose in [0, 1) and --workers >= 1")
    if not args.repair >= 0 or not 0 <= args.rivals <= 1 or args.neighbourhood < 0:
        parser.error("--repair must be >= 0, --rivals in [0, 1] and --neighbourhood >= 0")
    if args.mfe_length < 0 or not 0 <= args.grafts <= 1 or not args.negative >= 0:
        parser.error("--mfe-length and --negative must be >= 0 and --grafts in [0, 1]")
    if args.restart < 0 or args.screen < 0:
        parser.error("--restart and --screen must be >= 0")
    if not 0 <= args.prior <= 1:
        parser.error("--prior must be in [0, 1]")
    try:
        targets = [(t.id, t.structure) for t in read_targets(args.targets)]
    except (OSError, ValueError) as error:
        print(f"ensemble_stage: {error}", file=sys.stderr)
        return 2
    settings = StageSettings(
        args.seconds,
        not args.no_gu,
        args.decompose,
        args.starts,
        args.objective,
        args.sites,
        args.repair,
        args.special_loops,
        args.rivals,
        args.neighbourhood,
        args.boost,
        args.mfe_length,
        args.grafts,
        args.negative,
        args.restart,
        args.screen,
        args.prior,
    )
    jobs = [(structure, settings, args.seed + k) for k, (_, structure) in enumerate(targets)]
    with ProcessPoolExecutor(args.workers) as pool:
        rows = list(pool.map(run_target, *zip(*jobs)))
    if args.unsolved:
        _write_unsolved(args.unsolved, targets, rows)
    print(
        json.dumps(
            {
                "targets": args.targets,
                "settings": asdict(settings),
                "seed": args.seed,
                "solved": sum(bool(row["solved"]) for row in rows),
                "count": len(rows),
                "distance_sum": sum(row["distance"] or 0 for row in rows),
                "per_target": {tid: row for (tid, _), row in zip(targets, rows)},
            }
        )
    )
    return 0


def _write_unsolved(path: str, targets: list[tuple[str, str]], rows: list[dict]) -> None:
    """Write the unsolved targets as a target file (atomically: all or nothing)."""
    lines = [f"{tid}\t{structure}\n" for (tid, structure), row in zip(targets, rows)]
    kept = [line for line, row in zip(lines, rows) if not row["solved"]]
    partial = f"{path}.partial"
    with open(partial, "w") as handle:
        handle.writelines(kept)
    os.replace(partial, path)


if __name__ == "__main__":
    raise SystemExit(main())
