"""Targeted starts: SAMFEO's initialization with Eterna's loop boosts, within the codes.

A targeted start puts G-C or C-G (at random) on every target pair and A on every unpaired
site, where the IUPAC codes allow them (otherwise a random option they allow), and then
writes the loop boosts (:func:`envs.loop_boosts.boost_letters`: G-A first mismatches in
hairpins and interior loops, G-G in 1x1 loops) where the codes allow those. Such a design
is often right at once: on this machine one start folded into the target for 42 of
Eterna100-v2's 100 puzzles, three starts for 54 (session 55). The ensemble stage starts
its pool from them (:class:`envs.ensemble_search.EnsembleSearch`), and the design loop
folds a few before the policy's first batch (``quick_starts``, :mod:`meta.design`).
"""

from __future__ import annotations

import numpy as np

from envs.constraints import assign, unit_index, unit_options
from envs.loop_boosts import boost_letters


class TargetedStarts:
    """Draws targeted starts of one target.

    Attributes:
        length: The target's length.
        gu_pairs: Whether G-U and U-G are options of the pairs.
        units: The design units (a pair, or an unpaired site) of the target.
        options: The letters each unit may take (within the codes, and GU pairs if allowed).
        unit_of: The unit of each site.
        boosts: ``(site, letter)`` of the loop boosts the codes allow (empty without boosts).
    """

    def __init__(
        self, target: str, constraint: str | None = None, gu_pairs: bool = False, boost: bool = True
    ) -> None:
        """Prepare the starts of ``target`` under the IUPAC ``constraint`` (None: any)."""
        self.length, self.gu_pairs = len(target), gu_pairs
        self.units, self.options = unit_options(target, constraint, gu_pairs)
        self.unit_of = unit_index(self.units, len(target))
        self.boosts = (
            [
                (site, letter)
                for site, letter in sorted(boost_letters(target).items())
                if letter in self.options[self.unit_of[site]]
            ]
            if boost
            else []
        )

    def draw(self, rng: np.random.Generator) -> str:
        """One targeted start (one draw of ``rng`` per unit)."""
        chars = ["A"] * self.length
        for unit, options in zip(self.units, self.options):
            preferred = [o for o in options if o in ("GC", "CG")] or (
                ["A"] if "A" in options else list(options)
            )
            assign(chars, unit, preferred[int(rng.integers(len(preferred)))])
        for site, letter in self.boosts:
            chars[site] = letter
        return "".join(chars)
