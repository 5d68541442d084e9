"""Session 34's probe of the ensemble stage's competitor walk, stage alone.

``stage`` runs ``benchmarks.ensemble_stage`` with :meth:`EnsembleSearch._rival_walk` (or one
constant of the stage) replaced by a variant, so that each variant is judged on the same
target files, seconds and seeds as today's walk. The replacement is made before the
benchmark's worker processes fork, so every worker runs the variant.

Variants (``--variant``):

- ``base``: today's walk (no replacement).
- ``memo``: no walk again from the same best design with the same remembered competitors
  after a walk from there changed nothing.
- ``pool``: every walk starts from a pool member drawn as the mutation steps draw their
  parents (Boltzmann weights of the objective), not from the best design.
- ``memopool``: from the best design until a walk from it changed nothing, then from pool
  members (as ``pool``) until the best design or the competitors change.
- ``trustK``: a walk ends after ``K`` accepted mutations (e.g. ``trust2``).
- ``annealT``: a walk also accepts a mutation that widens the gap by ``d`` with
  probability ``exp(-d / T)`` (``T`` in kcal/mol, e.g. ``anneal0.3``), and ends on the
  lowest gap it met (or, when that is its start, on its last design).
- ``hoodC``: ``NEIGHBOURHOOD_COST = C`` (scoring a neighbourhood may take ``C``
  evaluations' time instead of 2), e.g. ``hood20``.

``trace`` runs today's stage alone on named targets and prints, per target: the
evaluations by the step that proposed them (``walk``, ``hood``, ``mutate``; ``other``:
targeted starts and focused repairs) and their MFE structures' distances to the target
(12 stands for 12 or more); how each competitor walk ended (``start``: no mutation
shrank the gap, so there was nothing to evaluate; ``seen``: on a design evaluated
before; ``new``); the best distance over time; and the best design's three tightest
competitors, with their free energy minus the target's (negative: the competitor wins).

Usage (from the project's root)::

    python docs/results/i14y/walk_probe.py stage --variant memo -- \
        docs/results/i14h/dev/dev41.txt --seconds 10 --repair 1 --rivals 0.5 \
        --neighbourhood 16384 --seed 11 > d41-memo-s11.json
    python docs/results/i14y/walk_probe.py trace docs/results/i14h/dev/dev41.txt \
        gen-000013 --seconds 20 --seed 5
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import sys
import time
from collections.abc import Callable

import numpy as np

from benchmarks import ensemble_stage
from envs import ensemble_search as stage
from envs.constraints import violations
from envs.dot_bracket import read_targets
from envs.folding import mismatched_sites, structure_energies

Walk = Callable[[stage.EnsembleSearch], "str | None"]


def _walk_from(
    search: stage.EnsembleSearch,
    start: str,
    max_accepts: int | None = None,
    temperature: float = 0.0,
    ends: collections.Counter[str] | None = None,
) -> str | None:
    """Today's walk from ``start``, optionally capped or accepting worse gaps.

    ``ends`` counts how walks end: ``start`` (no mutation was kept, nothing to evaluate),
    ``seen`` (on a design evaluated before) or ``new``.
    """
    ends = collections.Counter() if ends is None else ends
    rivals = list(search.rivals)
    wrong = [[k for k in mismatched_sites(r, search.target) if search._mutable[k]] for r in rivals]
    chars = list(start)
    gap, tight = search._rival_gap(chars, rivals)
    lowest_chars, lowest_gap, accepted = chars, gap, 0
    for _ in range(stage.RIVAL_PROPOSALS_PER_UNIT * search._mutable_units):
        if lowest_gap < -stage.RIVAL_MARGIN:
            break
        if max_accepts is not None and accepted >= max_accepts:
            break
        trial = search._rival_move(chars, wrong[tight])
        trial_gap, trial_tight = search._rival_gap(trial, rivals)
        worse_ok = (
            temperature > 0
            and math.isfinite(trial_gap)
            and search.rng.random() < math.exp(-(trial_gap - gap) / temperature)
        )
        if trial_gap < gap or worse_ok:
            chars, gap, tight = trial, trial_gap, trial_tight
            accepted += 1
            if gap < lowest_gap:
                lowest_chars, lowest_gap = chars, gap
    for end in (lowest_chars, chars):
        mutant = "".join(end)
        if mutant == start or mutant in search.seen:
            continue
        if search.rules.needs_repair and violations(mutant, search.rules):
            search.seen.add(mutant)
            continue
        ends["new"] += 1
        return mutant
    ends["start" if "".join(chars) == start else "seen"] += 1
    return None


def _pool_start(search: stage.EnsembleSearch) -> str:
    turn = int(search.rng.integers(len(search.pools))) if len(search.pools) > 1 else 0
    return search._draw_parent(search.pools[turn], search.kinds[turn]).sequence


def _memo(fallback: Walk | None) -> Walk:
    original = stage.EnsembleSearch._rival_walk

    def walk(search: stage.EnsembleSearch) -> str | None:
        key = (search.best.sequence, tuple(search.rivals))
        if getattr(search, "_fruitless", None) == key:
            return fallback(search) if fallback else None
        mutant = original(search)
        if mutant is None:
            search._fruitless = key
        return mutant

    return walk


def apply(variant: str) -> None:
    """Replace the walk (or a constant) of :mod:`envs.ensemble_search` by ``variant``."""
    walk: Walk | None = None
    if variant == "base":
        return
    if variant == "pool":
        walk = lambda s: _walk_from(s, _pool_start(s))  # noqa: E731
    elif variant == "memo":
        walk = _memo(None)
    elif variant == "memopool":
        walk = _memo(lambda s: _walk_from(s, _pool_start(s)))
    elif variant.startswith("trust"):
        cap = int(variant[5:])
        walk = lambda s: _walk_from(s, s.best.sequence, max_accepts=cap)  # noqa: E731
    elif variant.startswith("anneal"):
        temperature = float(variant[6:])
        walk = lambda s: _walk_from(s, s.best.sequence, temperature=temperature)  # noqa: E731
    elif variant.startswith("hood"):
        stage.NEIGHBOURHOOD_COST = float(variant[4:])
        return
    else:
        raise SystemExit(f"unknown variant {variant!r}")
    stage.EnsembleSearch._rival_walk = walk


def trace(structure: str, seconds: float, seed: int) -> dict[str, object]:
    """Run the stage alone on ``structure`` and count what its steps did.

    The stage has the design loop's settings (targeted starts, focused repairs,
    competitor walks at half the steps, neighbourhoods of up to 16,384 assignments); its
    walk is today's, run through :func:`_walk_from` to count how each walk ended.
    """
    search = stage.EnsembleSearch(
        structure,
        np.random.default_rng(seed),
        gu_pairs=True,
        starts=10,
        repair=1.0,
        rivals=0.5,
        neighbourhood=16384,
    )
    source = ["other"]
    by_step: dict[str, collections.Counter[int]] = collections.defaultdict(collections.Counter)
    ends: collections.Counter[str] = collections.Counter()
    evaluate = search._evaluate

    def counted_evaluate(sequence: str) -> stage.Candidate:
        candidate = evaluate(sequence)
        by_step[source[0]][min(candidate.distance, 12)] += 1
        return candidate

    def tagged(step: Callable[..., str | None], name: str) -> Callable[..., str | None]:
        def proposed(*args: object) -> str | None:
            mutant = step(*args)
            if mutant is not None:
                source[0] = name
            return mutant

        return proposed

    search._evaluate = counted_evaluate
    search._rival_walk = tagged(lambda: _walk_from(search, search.best.sequence, ends=ends), "walk")
    search._neighbourhood_mutant = tagged(search._neighbourhood_mutant, "hood")
    search._draw_mutant = tagged(search._draw_mutant, "mutate")
    began, history = time.monotonic(), []
    while not search.solved and time.monotonic() - began < seconds:
        source[0] = "other"
        search.run(min(time.monotonic() + 0.05, began + seconds))
        if search.best is not None and (not history or history[-1][1] != search.best.distance):
            history.append((round(time.monotonic() - began, 1), search.best.distance))
    assert search.best is not None
    rivals = list(search.rivals)
    energies = structure_energies(search.best.sequence, [structure, *rivals])
    tightest = sorted(range(len(rivals)), key=lambda k: energies[1 + k])[:3]
    return {
        "length": len(structure),
        "solved": search.solved,
        "evaluations": search.evaluations,
        "walk_seconds": round(search.walk_seconds, 1),
        "neighbourhood_seconds": round(search.hood_seconds, 1),
        "walk_ends": dict(ends),
        "distances_by_step": {k: dict(sorted(v.items())) for k, v in by_step.items()},
        "best_distance_over_time": history,
        "best": [search.best.sequence, search.best.structure],
        "tightest": [[rivals[k], round(energies[1 + k] - energies[0], 2)] for k in tightest],
    }


def main() -> int:
    """``stage``: a variant on a target file; ``trace``: today's stage on named targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("stage", help="benchmarks.ensemble_stage with a variant")
    run.add_argument("--variant", required=True)
    run.add_argument("stage_args", nargs=argparse.REMAINDER)
    probe = commands.add_parser("trace", help="one JSON line per named target")
    probe.add_argument("targets")
    probe.add_argument("ids", help="comma-separated target ids")
    probe.add_argument("--seconds", type=float, default=20.0)
    probe.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    if args.command == "trace":
        structures = {t.id: t.structure for t in read_targets(args.targets)}
        for target_id in args.ids.split(","):
            record = trace(structures[target_id], args.seconds, args.seed)
            print(json.dumps({"id": target_id, **record}))
        return 0
    apply(args.variant)
    forwarded = args.stage_args[1:] if args.stage_args[:1] == ["--"] else args.stage_args
    return ensemble_stage.main(forwarded)


if __name__ == "__main__":
    sys.exit(main())
