"""Exact minimum of a sum of small tables: min-sum variable elimination.

A function of many discrete variables that is a sum of factors, each over a few of them,
is minimised exactly by eliminating one variable at a time: the factors that mention it
are added up and minimised over it, which leaves one factor over its neighbours. The cost
is exponential only in the largest such neighbourhood (the elimination order's width),
not in the number of variables. :mod:`envs.designability` uses it to minimise
E(target) - E(competitor) over the letters of sites too many to enumerate jointly.

:func:`anchored_factors` turns evaluations of such a function into factors: if ``f`` is a
sum of terms over known variable sets (supports), its anchored decomposition at a base
assignment has a part for every subset of a support and none for other variable sets, and
each part follows from the values of ``f`` with only that support's variables changed.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

#: Entries the largest table an elimination builds may have (more: not attempted).
DEFAULT_MAX_TABLE = 2_000_000


@dataclass(frozen=True)
class Factor:
    """A table over some variables.

    Attributes:
        variables: The variables (indices), in the table's axis order.
        table: One value per joint choice of the variables (choice indices).
    """

    variables: tuple[int, ...]
    table: np.ndarray


def elimination_width(scopes: Sequence[Sequence[int]], sizes: Sequence[int]) -> int:
    """Entries of the largest table :func:`minimise` builds for factors over ``scopes``."""
    return _order(scopes, sizes)[1]


def anchored_cost(supports: Sequence[Sequence[int]], sizes: Sequence[int]) -> int:
    """Values :func:`anchored_factors` computes for these supports (the base included)."""
    maximal = _maximal([tuple(sorted(set(s))) for s in supports])
    return 1 + sum(int(np.prod([sizes[v] for v in s], dtype=np.int64)) - 1 for s in maximal)


def minimise(
    factors: Sequence[Factor], sizes: Sequence[int], max_table: int = DEFAULT_MAX_TABLE
) -> tuple[float, list[int]] | None:
    """The minimum of the sum of ``factors`` and a choice of every variable attaining it.

    Args:
        factors: Tables over variables ``0 .. len(sizes) - 1``.
        sizes: Each variable's number of choices.
        max_table: Give up (None) when the elimination would build a larger table.

    Returns:
        ``(minimum, choices)``, ``choices[v]`` the index chosen for variable ``v``, or None.

    Raises:
        ValueError: a table's shape does not match its variables' sizes.
    """
    for factor in factors:
        if factor.table.shape != tuple(sizes[v] for v in factor.variables):
            raise ValueError(
                f"a factor over {factor.variables} has shape {factor.table.shape}, "
                f"not {tuple(sizes[v] for v in factor.variables)}"
            )
    order, largest = _order([f.variables for f in factors], sizes)
    if largest > max_table:
        return None
    pool = [Factor(f.variables, np.asarray(f.table, dtype=float)) for f in factors]
    steps: list[tuple[int, tuple[int, ...], np.ndarray]] = []
    for variable in order:
        touching = [f for f in pool if variable in f.variables]
        if not touching:  # no factor mentions it: any choice will do (0)
            continue
        pool = [f for f in pool if variable not in f.variables]
        scope = sorted({v for f in touching for v in f.variables})
        total = _sum(touching, scope, sizes)
        axis = scope.index(variable)
        rest = tuple(v for v in scope if v != variable)
        steps.append((variable, rest, np.argmin(total, axis=axis)))
        pool.append(Factor(rest, np.min(total, axis=axis)))
    minimum = float(sum(float(f.table) for f in pool))  # only constants are left
    choices = [0] * len(sizes)
    for variable, rest, best in reversed(steps):
        choices[variable] = int(best[tuple(choices[v] for v in rest)])
    return minimum, choices


def _order(scopes_in: Sequence[Sequence[int]], sizes: Sequence[int]) -> tuple[list[int], int]:
    """A greedy elimination order (smallest table first) and its largest table's entries."""
    scopes = [set(scope) for scope in scopes_in]
    left = set(range(len(sizes)))
    order, largest = [], 1
    while left:
        variable = min(sorted(left), key=lambda v: _joined_size(scopes, v, sizes))
        largest = max(largest, _joined_size(scopes, variable, sizes))
        joined = set().union(*(s for s in scopes if variable in s)) | {variable}
        scopes = [s for s in scopes if variable not in s] + [joined - {variable}]
        left.discard(variable)
        order.append(variable)
    return order, largest


def _joined_size(scopes: list[set[int]], variable: int, sizes: Sequence[int]) -> int:
    """Entries of the table that eliminating ``variable`` builds (its scope's product)."""
    joined = set().union(*(s for s in scopes if variable in s)) | {variable}
    return int(np.prod([sizes[u] for u in joined], dtype=np.int64))


def _sum(factors: list[Factor], scope: list[int], sizes: Sequence[int]) -> np.ndarray:
    """The factors added up as one table over ``scope`` (broadcast)."""
    total = np.zeros([sizes[v] for v in scope])
    for factor in factors:
        axes = [scope.index(v) for v in factor.variables]
        moved = np.moveaxis(factor.table, range(len(axes)), np.argsort(np.argsort(axes)))
        shape = [sizes[v] if v in factor.variables else 1 for v in scope]
        total = total + moved.reshape(shape)
    return total


def anchored_factors(
    value: Callable[[dict[int, int]], float],
    supports: Sequence[Sequence[int]],
    sizes: Sequence[int],
) -> tuple[list[Factor], int]:
    """Factors whose sum is ``value`` when ``value`` is a sum of terms over ``supports``.

    Args:
        value: ``value(changed)`` is the function at the base assignment (every variable
            at choice 0) with the variables in ``changed`` set to the given choices.
        supports: The variable sets of the terms (each term depends on its set only).
        sizes: Each variable's number of choices.

    Returns:
        The factors (one per maximal support, plus the constant) and how many values were
        computed. Exact when the premise holds: the anchored decomposition of such a sum
        has parts only on subsets of the supports.
    """
    maximal = _maximal([tuple(sorted(set(s))) for s in supports])
    base = value({})
    factors = [Factor((), np.array(base))]
    assigned: set[tuple[int, ...]] = {()}
    computed = 1
    for support in maximal:
        shape = [sizes[v] for v in support]
        table = np.empty(shape)
        for index in itertools.product(*(range(n) for n in shape)):
            changed = {v: c for v, c in zip(support, index) if c}
            table[index] = value(changed) - base if changed else 0.0
            computed += bool(changed)
        part = np.zeros(shape)
        for size in range(1, len(support) + 1):
            for subset in itertools.combinations(range(len(support)), size):
                variables = tuple(support[k] for k in subset)
                if variables in assigned:
                    continue
                assigned.add(variables)
                part = part + _anchored_part(table, subset)
        factors.append(Factor(support, part))
    return factors, computed


def _anchored_part(table: np.ndarray, subset: tuple[int, ...]) -> np.ndarray:
    """The anchored part of ``table`` (0 at the base) on the axes ``subset``, broadcast.

    The table is first cut to the base (index 0) on the other axes; then, for each axis of
    ``subset``, its value at the base is subtracted (inclusion-exclusion).
    """
    cut = table
    for axis in range(table.ndim):
        if axis not in subset:
            cut = np.take(cut, [0], axis=axis)
    for axis in subset:
        cut = cut - np.take(cut, [0], axis=axis)
    return np.broadcast_to(cut, table.shape)


def _maximal(supports: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
    """The supports not contained in another (duplicates once), largest first."""
    unique = sorted(set(supports), key=lambda s: (-len(s), s))
    kept: list[tuple[int, ...]] = []
    for support in unique:
        if not any(set(support) <= set(other) for other in kept):
            kept.append(support)
    return kept
