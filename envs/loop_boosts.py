"""Loop boosts: the letters Eterna players give the first mismatches of a target's loops.

A loop's first mismatch is the pair of unpaired sites next to one of its closing pairs,
seen from inside the loop: for a closing pair ``(i, j)`` the sites ``i + 1`` (5') and
``j - 1`` (3'); for the inner pair ``(k, l)`` of an interior loop, ``l + 1`` and ``k - 1``.
The Turner 2004 parameters (ViennaRNA's default) reward some mismatches: with a G-C or
C-G closing pair, a G on the 5' side and an A on the 3' side lower a hairpin of at least
4 nt by 0.8-0.9 kcal/mol against A-A, and an interior loop with at least 2 nt on both
sides by 1.1-1.2 kcal/mol per closing pair; a 1x1 interior loop with G on both sides is
2.3 kcal/mol below A-A. Eterna players call these "boosts" and write them into their
designs before anything else.

SAMFEO's targeted start (G-C or C-G on every pair, A on every unpaired site) leaves the
loops unboosted. :meth:`EnsembleSearch.targeted_start
<envs.ensemble_search.EnsembleSearch.targeted_start>` writes the boosts with
``boost=True``. Multiloops and the exterior loop get none: with ViennaRNA's default
``dangles=2`` their mismatch letters differ by at most 0.1 kcal/mol.

Measured (session 35, docs/results/i14z): the stage alone solved 14 of 110 Eterna-like
sketches at 10 s against 12 without boosts, and the design loop 79/100 Eterna100-v2
puzzles at 60 s against 76. The starts' own MFE structures are only 2.5 % closer to those
sketches in sum (11 % without the 1x1 G-G boost): the boosts help the search that starts
from them more than the starts themselves.
"""

from __future__ import annotations

from envs.dot_bracket import loop_contents, pair_table

#: The shortest hairpin (unpaired sites) whose first mismatch is boosted (Turner 2004
#: applies terminal mismatches to hairpins of more than 3 nt).
HAIRPIN_LEAST = 4
#: The fewest unpaired sites on each side of an interior loop boosted with G-A mismatches.
INTERIOR_LEAST = 2


def boost_letters(target: str) -> dict[int, str]:
    """The boosted letter of each site a boost writes, for a dot-bracket ``target``.

    Hairpins of at least :data:`HAIRPIN_LEAST` nt get G at the 5' side and A at the 3'
    side of their first mismatch; interior loops with at least :data:`INTERIOR_LEAST` nt
    on both sides get the same at both closing pairs; 1x1 interior loops get G on both
    sides. Bulges, 1xn loops, multiloops and the exterior loop get none.

    Args:
        target: A balanced dot-bracket structure.

    Returns:
        ``{site: letter}``, sites 0-based; no site appears twice.
    """
    partners = pair_table(target)
    letters: dict[int, str] = {}
    for i, j in enumerate(partners):
        j = int(j)
        if j <= i:
            continue
        branches, _ = loop_contents(partners, i, j)
        if not branches:
            if j - i - 1 >= HAIRPIN_LEAST:
                letters[i + 1], letters[j - 1] = "G", "A"
        elif len(branches) == 1:
            k, l = branches[0]  # noqa: E741
            left, right = k - i - 1, j - l - 1
            if left >= INTERIOR_LEAST and right >= INTERIOR_LEAST:
                letters[i + 1], letters[j - 1] = "G", "A"
                letters[l + 1], letters[k - 1] = "G", "A"
            elif left == 1 and right == 1:
                letters[i + 1], letters[j - 1] = "G", "G"
    return letters
