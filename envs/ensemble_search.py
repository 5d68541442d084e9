"""Ensemble refinement: a search on the ensemble defect that finishes the policy's designs.

The policy's near-misses usually fail on a few sites whose MFE structure is decided by
competitors in the Boltzmann ensemble (a lonely pair of the target that does not form, a
loop that pairs up). Looking at the MFE structure alone (local improvement, the adaptive
walk of :mod:`envs.refinement`) gives no signal about which sites to change; the ensemble
does. This stage follows SAMFEO (Zhou, Dai, Li, Ward, Mathews, Huang 2023, "RNA design
via structure-aware multifrontier ensemble optimization"):

- A pool (SAMFEO's "multi-frontier") keeps the ``pool_size`` best sequences seen by the
  objective, the normalized ensemble defect (or the target's negative log-probability per
  site, ``-ln p(target) / n``, which ranks as SAMFEO's probability defect ``1 - p`` does but
  stays informative on long targets whose probability underflows).
  The policy's designs are offered to the pool as they come; they are the start points.
- A step draws a pool member (Boltzmann weights ``exp(-2 objective / temperature)``, as
  SAMFEO), draws a site with probability proportional to its positional defect (mixed with
  a uniform share so that no site is ruled out), and mutates the design unit of that site
  (an unpaired site, or a target pair as a pair) to another option its IUPAC codes allow;
  half the time a structural neighbour (the unit of a site next to the unit's sites: the
  stacked pair, the mismatch or the closing pair) is mutated with it, which is how SAMFEO's
  structured mutation changes a pair together with its context.
- The mutant is evaluated once (MFE fold + partition function; the MFE fold alone on
  targets of at least ``mfe_length`` sites) and enters the pool when it
  beats the pool's worst. A mutant seen before is not evaluated again; a mutant outside the
  GC range or containing a forbidden motif is skipped without folding.
- Every evaluation's MFE structure is checked: distance 0 under every constraint is a
  solution. The best design (by distance, then objective) is kept, so the stage never
  reports anything worse than it was given.

The search is persistent: :meth:`EnsembleSearch.run` continues where the last call stopped,
so a design loop can interleave it with the policy's rollouts (``meta.design``). A step is
started only when its expected duration (the running mean of earlier steps) fits before
the caller's deadline.

:func:`run_islands` runs one slice of the search on every slot of an executor at once (the
design loop's folding processes, idle while the stage has its turn): each slot continues
a copy of the pool with its own random stream (an island, :meth:`EnsembleSearch.fork`),
and the islands' pools, evaluations and best designs are merged back
(:meth:`EnsembleSearch.merge`). With ``W`` folding processes the stage evaluates about
``W`` times as many mutants in the same slice as in the calling process alone.
"""

from __future__ import annotations

import copy
import itertools
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from envs.constraints import (
    DesignConstraints,
    action_of,
    assign,
    unit_value,
)
from envs.decomposition import MIN_LENGTH, Decomposition, closes_alone, subproblems
from envs.dot_bracket import pair_table
from envs.execution import Executor, Unit, run_until
from envs.folding import (
    EnergyModel,
    bonus_hairpins,
    hamming,
    mfe_defects,
    mfe_structure,
    mismatched_pairs,
    mismatched_sites,
    positional_defects,
    structure_energies,
)
from envs.grafts import PieceArchive
from envs.negative_design import NegativeDesign
from envs.neighbourhood import Neighbourhood, neighbourhood_units
from envs.targeted_start import TargetedStarts

#: Objectives the pool ranks by (``"portfolio"``: two pools, one per objective, whose steps
#: alternate; see :class:`EnsembleSearch`).
OBJECTIVES = ("defect", "probability", "portfolio")

#: How a step draws the site it mutates from the parent's positional defects.
SITE_CHOICES = ("defect", "softmax")

#: Share of the steps whose site lies in a hairpin of a special size (or on its closing
#: pair) that write one of the energy model's bonus hairpins there instead of mutating
#: one unit (with ``special_loops``).
SPECIAL_SHARE = 0.5

#: Mutants drawn in a row that were seen before or broke a constraint before giving up a step.
_MAX_REDRAWS = 50

#: Whole-target steps between two focused repairs (each repair gets ``repair`` times the
#: time these steps take).
REPAIR_EVERY = 10

#: Competitor structures a search remembers for its competitor steps (the most recent
#: distinct MFE structures of its evaluations that were not the target).
RIVALS_KEPT = 64

#: Mutations a competitor step proposes per mutable unit of the target at most. One
#: proposal costs an evaluation-only energy per remembered competitor, so a walk that runs
#: to this cap with 64 competitors remembered costs more than an evaluation (MFE fold and
#: partition function): about 20 evaluations' time at 38 nt, 8 at 100 nt, 5 at 200 nt and
#: 2.6 at 400 nt on this project's machine (measured once, session 18).
#: :attr:`EnsembleSearch.walk_seconds` and ``benchmarks.ensemble_stage`` report the share
#: of a search's time the walks take.
RIVAL_PROPOSALS_PER_UNIT = 4

#: A competitor step ends its walk once the target's free energy is this far (kcal/mol)
#: below every remembered competitor's.
RIVAL_MARGIN = 0.5

#: Neighbourhood steps are made for a best design within this many sites of the target.
NEIGHBOURHOOD_DISTANCE = 6

#: Evaluations a near-miss must have stayed the best design before its neighbourhood is
#: made (the cheaper steps had their chance: making one costs up to a few tenths of a
#: second).
NEIGHBOURHOOD_PATIENCE = 5

#: Scoring a neighbourhood's assignments may take this many steps' time at most, each step
#: priced as the dearer of an evaluation and a competitor walk (the steps a neighbourhood
#: displaces): a larger neighbourhood is sampled down to what fits. On a long target an
#: evaluation costs tenths of a second and thousands of assignments fit; on a short one a
#: walk costs 10-20 evaluations, and hundreds fit (priced by evaluations alone, as before
#: session 47, a short target's neighbourhood was under :data:`NEIGHBOURHOOD_LEAST` and
#: never made).
NEIGHBOURHOOD_COST = 2.0

#: Fewest assignments worth scoring: a neighbourhood whose affordable sample is smaller is
#: not made.
NEIGHBOURHOOD_LEAST = 256

#: First guess of the seconds to score one assignment (two evaluation-only energies,
#: 35-70 us at 50-400 nt on this project's machine; measured from the first
#: neighbourhood on).
_ASSIGNMENT_SECONDS = 6e-5

#: Candidates of one neighbourhood evaluated at most (each is one step).
NEIGHBOURHOOD_EVALUATIONS = 8

#: Evaluations a near-miss must have stayed the best design, and the last negative-design
#: burst have ended, before a burst starts from it (the neighbourhood, due after
#: :data:`NEIGHBOURHOOD_PATIENCE`, and the cheaper steps go first and between bursts).
NEGATIVE_PATIENCE = 20

#: Targeted starts a restart evaluates when the search was made without any (``restart``).
RESTART_STARTS = 10

#: Largest share of the target a repaired substructure spans (its evaluations are then at
#: least ~8 times cheaper than the whole target's: folding is cubic in the length).
REPAIR_FRACTION = 0.5


@dataclass(frozen=True)
class Candidate:
    """One evaluated design.

    Attributes:
        sequence: The design.
        structure: Its MFE structure.
        distance: Hamming distance between ``structure`` and the target.
        objective: What the search ranks by (lower is better): the normalized ensemble
            defect, or ``-ln p(target) / n`` with the probability objective.
        defects: Positional defects (one per site).
        probability: ``-ln p(target) / n`` (the probability objective's value).
    """

    sequence: str
    structure: str
    distance: int
    objective: float
    defects: np.ndarray
    probability: float = math.nan

    def score(self, objective: str) -> float:
        """The value of ``objective`` (``"defect"`` or ``"probability"``) for this design."""
        return self.probability if objective == "probability" else float(self.defects.mean())

    @property
    def rank(self) -> tuple[int, float]:
        """How designs are compared for reporting: distance first, then the objective."""
        return self.distance, self.objective


class EnsembleSearch:
    """The persistent ensemble-defect search of one target (see the module docstring).

    Args:
        target: The target structure.
        rng: Source of every draw.
        constraints: What every evaluated design keeps (IUPAC codes limit the options; GC
            and motif rules skip candidates).
        gu_pairs: Allow GU and UG on target pairs.
        energy: The energy model.
        objective: ``"defect"`` (normalized ensemble defect, the default) or
            ``"probability"`` (``-ln p(target) / n``: the order of SAMFEO's default, the
            probability defect). On 60 generated targets (``autorl data generate --source
            ensemble --beta-scale 1.6``, 50-200 nt, seed 8; not a benchmark) searched for
            8 s each from targeted starts, the defect solved 19 and the probability 16.
            ``"portfolio"``: two pools, one ranked by each (a design evaluated competes
            for both), and each mutation step draws its parent from one of them at random:
            from the defect pool with the ``sites`` draw, from the probability pool with
            the ``"softmax"`` draw (SAMFEO's pairing). The best design is ranked by the
            defect. The two objectives get stuck on different targets (docs/results/i14m:
            on ten short Eterna puzzles the defect solved one in two seeds, the
            probability with softmax sites four; on 41 generated targets the defect did
            better), which a portfolio covers at half the steps each. Measured
            (docs/results/i14n): one or two more solved than the defect on each of four
            generated dev sets, stage alone; on Eterna100-v2 at 60 s in the design loop
            71/100 against the defect's 73 with the same seeds, so not the default.
        pool_size: Sequences the pool keeps (SAMFEO's k, 10).
        temperature: Of the Boltzmann choice among the pool (SAMFEO's t, 1).
        uniform_share: Share of the site draw that is uniform over the mutable sites
            (with ``sites="defect"``).
        sites: How a step draws its site: ``"defect"`` (probability proportional to the
            positional defect, mixed with ``uniform_share`` uniform) or ``"softmax"``
            (SAMFEO's: proportional to ``exp(defect)``, so a fully wrong site is drawn
            at most e times as often as a right one; flatter, it keeps changing the
            context of the wrong sites). On 148 designable hard targets (MFE structures
            of random sequences, 120-220 nt, that a 1-s search left unsolved; the
            README's commands) searched 5 s each, "defect" solved 111 and "softmax" 82
            (with the probability objective 84; the probability objective with "defect"
            sites 111).
        starts: Targeted starts (:meth:`targeted_start`) evaluated at the beginning of the
            first :meth:`run`, beside whatever was offered.
        decompose_seconds: Time for hierarchical starts (:mod:`envs.decomposition`): after
            the targeted starts, the substructures of the best design so far are searched
            on their own, smallest first, and the assembled design is offered (0: off; a
            target without subproblems skips it).
        repair: Focused repairs' time per unit of time on whole-target steps (0: off).
            First (before the targeted starts, on the designs offered so far), and after
            every :data:`REPAIR_EVERY` steps, the smallest substructure
            (closed by a helix's outermost pair, at least 30 sites and at most
            :data:`REPAIR_FRACTION` of the target) that holds every mismatched site of the
            best design, and whose slice of it does not fold into it alone, is searched on
            its own (cheap evaluations) for ``repair`` times the time of
            :data:`REPAIR_EVERY` steps; the design with the repaired slice is then
            offered. A mismatch caused by the rest of the design (the slice folds alone)
            moves the repair to a larger substructure. When no piece holds every
            mismatched site, the piece is the smallest one that holds a mismatched site
            drawn at random (and is wrong alone), so a far design is repaired region by
            region. A piece whose closing pair cannot form alone
            (:func:`envs.decomposition.closes_alone`) is never repaired: its slice is wrong
            alone whatever the design, so a larger piece holding it is repaired instead.
        start_distance: The targeted and hierarchical starts wait while the best design
            offered is within this many sites (0: never wait).
        step_seconds: A first guess of one evaluation's time (0: learnt from the first).
        special_loops: Half of the mutations and competitor-walk moves that draw a site
            in a hairpin of a special size write one of the energy model's bonus hairpins
            there (a special hairpin whose energy is below the loop rules',
            :func:`envs.folding.bonus_hairpins`).
        rivals: Share of the whole-target steps that are competitor steps (0: none).
            Every evaluation whose MFE structure is not the target reveals a competitor;
            the search remembers the last :data:`RIVALS_KEPT` of them. A competitor step
            walks from the best design by mutations (at a site where the tightest
            competitor differs from the target, or anywhere, with a structural
            neighbour half of the time), keeping a mutation only when it shrinks the gap
            between the target's free energy and the lowest competitor's, until the
            target is :data:`RIVAL_MARGIN` below all of them or
            :data:`RIVAL_PROPOSALS_PER_UNIT` proposals per mutable unit are spent. The
            energies are evaluation-only (microseconds each), so the walk weighs
            hundreds of mutants for the price of a few folds (more on short targets,
            see :data:`RIVAL_PROPOSALS_PER_UNIT`); only its end is evaluated. This is
            negative design against an explicit, growing set of
            competitors: each evaluation the walk earns either solves the target or adds
            the structure that beat it.
        neighbourhood: Assignments a neighbourhood scores at most (0: no neighbourhood
            steps). Once the best design is a near-miss (within
            :data:`NEIGHBOURHOOD_DISTANCE` sites) and has stayed the best for
            :data:`NEIGHBOURHOOD_PATIENCE` evaluations, the design units its MFE
            structure's energy difference from the target depends on are enumerated on its
            other letters (:class:`envs.neighbourhood.Neighbourhood`), ranked by
            evaluation-only energies against every competitor known, and the best
            :data:`NEIGHBOURHOOD_EVALUATIONS` are evaluated, one per step, before any other
            step; each evaluation's MFE structure re-ranks the rest. Then the next pool
            member as close to the target (another background for the same sites) gets
            its neighbourhood, each design once. Scoring may take
            :data:`NEIGHBOURHOOD_COST` steps' time (a step priced as the dearer of an
            evaluation and the mean competitor walk): a larger neighbourhood is sampled
            down to that (and not made below :data:`NEIGHBOURHOOD_LEAST` assignments), so
            on short targets it is small. It makes the joint changes of several units (a
            terminal lonely pair's closing pair and loop letters together) that the
            competitor walk, one unit at a time, cannot.
        boost: Targeted starts write Eterna's loop boosts
            (:func:`envs.loop_boosts.boost_letters`): G-A first mismatches in hairpins and
            interior loops, G-G in 1x1 loops, where the codes allow.
        mfe_length: Targets of at least this many sites are evaluated by their MFE fold
            alone (:func:`envs.folding.mfe_defects`; 0: never): the pool ranks by the
            share of mismatched sites, then by the target's free-energy gap above the MFE,
            and steps draw sites among the mismatched ones. An evaluation without the
            partition function costs 3-3.5 times less on long targets, and there the
            number of steps limits the stage more than the ensemble's guidance (a
            400-nt target allows about 65 full evaluations a minute on this project's
            machine). Pieces the stage searches on their own (repairs, hierarchical
            starts) shorter than this keep the full evaluation. Measured on generated
            long targets (session 38, README).
        grafts: Share of the whole-target steps that are graft steps (0: none). Every
            evaluation's positional defects tell how well each substructure folded in
            that design; the search keeps the best slice seen of each
            (:class:`envs.grafts.PieceArchive`), and a graft step writes one of them into
            a pool member (drawn as for a mutation) that folds that substructure worse.
        negative: Evaluations' time a negative-design burst may take (0: none; at most
            half the time left). Once the best design is a near-miss (within
            :data:`NEIGHBOURHOOD_DISTANCE` sites) and has stayed the best for
            :data:`NEGATIVE_PATIENCE` evaluations, with no neighbourhood under way, a
            burst starts from it (then from each pool member as close, each once):
            :class:`envs.negative_design.NegativeDesign` anneals the units around its
            competitor against every competitor its own MFE folds reveal, and the design
            it ends with (a solution, or the one that folded closest to the target) is
            evaluated as one step.
        restart: Evaluations the lead may stall before the search starts over (0: never).
            The lead is the best design since the last restart (:attr:`lead`). A restart
            empties the pools and evaluates new targeted starts (``starts`` of them, or
            :data:`RESTART_STARTS`; a start seen before gets random units changed); the
            best design, the sequences seen, the competitors and the graft archive stay.
            The patience of the ``k``-th restart is ``restart`` times the ``k``-th term of
            Luby's sequence (1 1 2 1 1 2 4 ...: :func:`luby`), so the runs' lengths suit a
            heavy-tailed run time without knowing its scale. A search whose mutants are
            all seen (:attr:`exhausted`) restarts instead of giving up. Not within an
            island (the search restarts between slices), nor in the pieces that repairs
            and hierarchical starts search on their own.
        screen: Sites (0: off) past the pool's farthest member an evaluation's MFE
            structure may be from the target before its partition function is skipped
            (:func:`envs.folding.positional_defects`' ``screen``), once every pool is full.
            A skipped evaluation (never a solution: its distance exceeds ``screen``)
            still counts, reveals its competitor and is seen, but enters no pool and
            feeds no graft. Such designs seldom entered the pool
            (``docs/results/i14av/dev/pool_entries.py``: on 12 generated targets of 80-199
            nt, stage alone for 5 s each, 3 of the 217 evaluations at least 3 sites past
            the farthest member entered, none of the 95 at least 8 past). Without the
            partition function an evaluation costs about a third (the MFE fold). Only
            with full evaluations (not ``mfe_length``).

    Raises:
        ValueError: an unknown objective or a setting out of range.
    """

    def __init__(
        self,
        target: str,
        rng: np.random.Generator,
        constraints: DesignConstraints | None = None,
        gu_pairs: bool = False,
        energy: EnergyModel | None = None,
        objective: str = "defect",
        pool_size: int = 10,
        temperature: float = 1.0,
        uniform_share: float = 0.1,
        sites: str = "defect",
        starts: int = 0,
        decompose_seconds: float = 0.0,
        repair: float = 0.0,
        start_distance: int = 0,
        step_seconds: float = 0.0,
        special_loops: bool = False,
        rivals: float = 0.0,
        neighbourhood: int = 0,
        boost: bool = False,
        mfe_length: int = 0,
        grafts: float = 0.0,
        negative: float = 0.0,
        restart: int = 0,
        screen: int = 0,
    ):
        if objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {objective!r}; choose {' or '.join(OBJECTIVES)}")
        if sites not in SITE_CHOICES:
            raise ValueError(f"unknown site choice {sites!r}; choose {' or '.join(SITE_CHOICES)}")
        if pool_size < 1 or not temperature > 0 or not 0.0 <= uniform_share <= 1.0:
            raise ValueError(
                "pool_size must be >= 1, temperature > 0 and uniform_share in [0, 1], got "
                f"{pool_size}, {temperature} and {uniform_share}"
            )
        if not 0.0 <= rivals <= 1.0 or not 0.0 <= grafts <= 1.0:
            raise ValueError(f"rivals and grafts must be shares in [0, 1], got {rivals}, {grafts}")
        if (
            starts < 0
            or not repair >= 0
            or start_distance < 0
            or not step_seconds >= 0
            or neighbourhood < 0
            or mfe_length < 0
            or not negative >= 0
            or restart < 0
            or screen < 0
        ):
            raise ValueError(
                "starts, repair, start_distance, step_seconds, neighbourhood, mfe_length, "
                f"negative, restart and screen must be >= 0, got {starts}, {repair}, "
                f"{start_distance}, {step_seconds}, {neighbourhood}, {mfe_length}, {negative}, "
                f"{restart} and {screen}"
            )
        self.target = target
        self.rng = rng
        self.rules = constraints or DesignConstraints()
        self.energy = energy
        self.objective = objective
        #: The objective of each pool (two for the portfolio, the first ranks the best).
        self.kinds = ("defect", "probability") if objective == "portfolio" else (objective,)
        self.pool_size = pool_size
        self.temperature = temperature
        self.uniform_share = uniform_share
        self.sites = sites
        self.gu_pairs = gu_pairs
        self.repair_ratio = repair
        self.start_distance = start_distance
        #: The targeted starts (their loop boosts where the codes allow, with ``boost``),
        #: and the design units and their options, which the starts work out.
        self._starts_of = TargetedStarts(target, self.rules.sequence, gu_pairs, boost)
        self.units, self.options = self._starts_of.units, self._starts_of.options
        self.unit_of = self._starts_of.unit_of
        mutable = np.array([len(self.options[self.unit_of[i]]) > 1 for i in range(len(target))])
        self._mutable = mutable
        self._mutable_sites = np.flatnonzero(mutable)
        self._mutable_units = sum(len(options) > 1 for options in self.options)
        self._neighbours = [self._unit_neighbours(k) for k in range(len(self.units))]
        #: Per hairpin of a special size: its units (closing pair first) and the values
        #: of each special hairpin allowed there; and the hairpin of each of those units.
        self.special_loops = special_loops
        self._hairpins = self._special_moves(energy) if special_loops else []
        self._hairpin_of = {
            unit: h for h, (units, _) in enumerate(self._hairpins) for unit in units
        }
        self.rival_share = rivals
        self.graft_share = grafts
        #: The best slice seen of each substructure (None: no graft steps).
        self.archive = PieceArchive(target) if grafts > 0 else None
        #: Graft steps made (each one evaluation).
        self.grafts = 0
        self.mfe_length = mfe_length
        #: Whether evaluations fold the MFE only (``mfe_length``).
        self.mfe_only = 0 < mfe_length <= len(target)
        self.screen = screen
        #: Evaluations whose partition function the screen skipped.
        self.screened = 0
        #: Competitor structures seen (an ordered set: the oldest is dropped first).
        self.rivals: dict[str, None] = {}
        self.neighbourhood = neighbourhood
        #: The neighbourhood being evaluated (None: none), the evaluations it has left, the
        #: near-misses whose neighbourhoods were made, and the seconds spent making them.
        self.hood: Neighbourhood | None = None
        self._hood_left = 0
        self._hood_origins: set[str] = set()
        self.hood_seconds = 0.0
        self.negative = negative
        #: Near-misses negative-design bursts started from, the bursts, their MFE folds
        #: and their seconds.
        self._negative_origins: set[str] = set()
        #: The evaluation count when the last burst ended.
        self._negative_since = 0
        self.negative_bursts = 0
        self.negative_folds = 0
        self.negative_seconds = 0.0
        #: Seconds to score one assignment (a first guess until one has been made).
        self._assignment_seconds = _ASSIGNMENT_SECONDS
        #: The evaluation count when the lead (:attr:`lead`) last changed.
        self._best_since = 0
        self.restart = restart
        #: Restarts made (``restart``).
        self.restarts = 0
        #: The pools, one per objective of :attr:`kinds`.
        self.pools: list[list[Candidate]] = [[] for _ in self.kinds]
        #: The best design of every evaluation (the search's result).
        self.best: Candidate | None = None
        #: The best design since the last restart (:attr:`best` when there was none): the
        #: design the near-miss steps, repairs and competitor walks work from.
        self.lead: Candidate | None = None
        self.seen: set[str] = set()
        #: Evaluations (MFE fold + partition function) spent.
        self.evaluations = 0
        #: Seconds spent in competitor steps' walks (their evaluations not included).
        self.walk_seconds = 0.0
        #: A running mean of a walk's seconds (0: no walk yet), like ``_step_seconds``.
        self._walk_step = 0.0
        #: Units changed per mutant beyond the first (and its neighbour): raised when every
        #: mutant drawn was seen before (the pool is a local optimum), reset when a mutant
        #: enters the pool.
        self.kick = 0
        self._step_seconds = step_seconds
        self._starts = starts
        self._starts_left = starts
        self.decomposition = self._pieces_work(decompose_seconds) if decompose_seconds > 0 else None
        #: The focused repair under way (None: none).
        self.repair: Decomposition | None = None
        self._pieces = subproblems(target, MIN_LENGTH, REPAIR_FRACTION) if repair > 0 else []
        #: Whole-target steps since the last repair began (a repair is due at once).
        self._since_repair = REPAIR_EVERY
        self._carries_repair = False
        #: The policy's weights of each unit's options (:meth:`set_prior`; None: uniform).
        self.prior: list[np.ndarray] | None = None
        #: The share of a mutation's draw that follows the prior (the rest is uniform).
        self.prior_weight = 0.0

    # ------------------------------------------------------------------ public

    @property
    def pool(self) -> list[Candidate]:
        """The first pool (ranked by the first objective; the only one but for the portfolio)."""
        return self.pools[0]

    @pool.setter
    def pool(self, candidates: list[Candidate]) -> None:
        self.pools[0] = candidates

    @property
    def solved(self) -> bool:
        """Whether a solution (distance 0, every constraint kept) was found."""
        return self.best is not None and self.best.distance == 0

    @property
    def exhausted(self) -> bool:
        """Whether the kick changes every mutable unit already: :meth:`run` gives up then."""
        return self.kick >= self._mutable_units

    def offer(self, sequence: str, deadline: float | None = None) -> Candidate | None:
        """Evaluate a design from elsewhere (the policy) and let it compete for the pool.

        Args:
            sequence: A design that keeps the constraints (one that does not is ignored).
            deadline: ``time.monotonic()`` value; nothing is evaluated when the evaluation
                would not end before it.

        Returns:
            The evaluated candidate, or None when it was ignored (seen before, breaking a
            constraint, or no time).
        """
        if len(sequence) != len(self.target) or sequence in self.seen:
            return None
        if self.rules.breaks_rules(sequence):
            return None
        if not self._fits(deadline):
            return None
        return self._evaluate(sequence)

    def note(self, sequence: str, structure: str) -> bool:
        """Let a design folded elsewhere (the policy's) feed the graft archive, unevaluated.

        Only with graft steps and MFE-only evaluations, whose defects are the mismatched
        sites, so that the design's MFE structure ranks its slices on the same scale (a
        design that breaks a constraint must not be noted).

        Returns:
            Whether a slice of it was kept.
        """
        if self.archive is None or not self.mfe_only or len(structure) != len(self.target):
            return False
        return self.archive.record(sequence, mismatched_pairs(structure, self.target)) > 0

    def run(self, deadline: float, max_steps: int | None = None) -> int:
        """Mutate and evaluate until solved, ``max_steps`` evaluations, or ``deadline``.

        Args:
            deadline: ``time.monotonic()`` value; a step starts only when its expected
                duration fits before it.
            max_steps: Most evaluations in this call (None: no bound).

        Returns:
            The evaluations this call spent.
        """
        steps = 0
        if self._restart_due():
            self._restart()
        if self._repair_due():  # a near-miss offered (the policy's): repair it first
            steps += self._repair(deadline)
            if self.repair is not None:  # the deadline came first: go on next call
                return steps
        if self._wants_starts():
            steps += self._evaluate_starts(deadline)
            steps += self._decompose(deadline)
        while self.pool and not self.solved and (max_steps is None or steps < max_steps):
            if not self._fits(deadline):
                break
            if self._restart_due():
                self._restart()
                steps += self._evaluate_starts(deadline)
                continue
            if self._repair_due():
                steps += self._repair(deadline)
                if self.repair is not None:  # the deadline came first: go on next call
                    break
                continue
            mutant = self._neighbourhood_mutant(deadline)
            from_hood = mutant is not None
            if mutant is None:
                mutant = self._negative_mutant(deadline)
            if mutant is None and self._graft_turn():
                mutant = self._graft_mutant()
                self.grafts += mutant is not None
            if mutant is None:
                mutant = self._rival_mutant() if self._rival_turn() else None
            if mutant is None:
                mutant = self._draw_mutant()
            if mutant is None:  # every mutant drawn was seen: change more units per mutant
                if self.exhausted and self.restart:
                    self._restart()
                    steps += self._evaluate_starts(deadline)
                    continue
                if self.exhausted:
                    break
                self.kick += 1
                continue
            candidate = self._evaluate(mutant)
            if from_hood and self.hood is not None:  # (the target itself is ignored)
                self.hood.add_competitor(candidate.structure)
            self._since_repair += 1
            steps += 1
        return steps

    def set_prior(self, probabilities: np.ndarray, weight: float) -> None:
        """Draw the letters that mutations write partly from a policy (``weight`` of it).

        A mutation gives a unit another of its options: with a prior, option ``o`` is drawn
        with probability ``weight * p(o) / P + (1 - weight) / m`` among the ``m`` options
        other than the unit's letters now, ``p`` being the policy's probability of the
        action that writes ``o`` and ``P`` their sum over those options (uniform where it
        is 0).

        Args:
            probabilities: The policy's action probabilities at each decision step (one
                row per unit, in the target's order: LEARNA's decision sites are the
                units' first sites), over LEARNA's actions (:func:`action_of`; an option
                without an action, a GU pair for a policy without GU actions, has 0).
            weight: In [0, 1]; 0 turns the prior off.

        Raises:
            ValueError: a weight outside [0, 1], or not one row per unit.
        """
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"the prior's weight must be in [0, 1], got {weight}")
        probabilities = np.asarray(probabilities, dtype=float)
        if probabilities.ndim != 2 or len(probabilities) != len(self.units):
            raise ValueError(
                f"the prior needs one row per unit ({len(self.units)}), got shape "
                f"{probabilities.shape}"
            )
        actions = probabilities.shape[1]
        self.prior = [
            np.array([row[a] if (a := action_of(option)) < actions else 0.0 for option in options])
            for row, options in zip(probabilities, self.options)
        ]
        self.prior_weight = weight

    def targeted_start(self) -> str:
        """SAMFEO's targeted initialization within the IUPAC codes, boosted with ``boost``.

        See :class:`envs.targeted_start.TargetedStarts`; drawn from the search's ``rng``.
        """
        return self._starts_of.draw(self.rng)

    def fork(self, rng: np.random.Generator, carry_repair: bool = False) -> EnsembleSearch:
        """A copy to continue elsewhere (an island): the same pool and best, its own draws.

        The copy knows the sequences seen so far (it skips them too) and has no targeted
        starts left (they are the caller's); :meth:`merge` takes its results back. With
        ``carry_repair`` it continues the focused repair under way (one island of a slice
        does, and :meth:`merge` takes the repair's state back from it); otherwise it
        starts its own repairs, which end with its slice.
        """
        island = copy.copy(self)
        island.rng = rng
        island.pools = [list(pool) for pool in self.pools]
        island.seen = set(self.seen)
        island.rivals = dict(self.rivals)
        island.evaluations = island.screened = 0
        island._best_since = self._best_since - self.evaluations  # counts go on from 0
        island._negative_since = self._negative_since - self.evaluations
        island.walk_seconds = 0.0
        island.hood_seconds = 0.0
        island.grafts = 0
        island.negative_bursts = island.negative_folds = 0
        island.negative_seconds = 0.0
        island._negative_origins = set(self._negative_origins)
        island.archive = self.archive.copy() if self.archive is not None else None
        island._hood_origins = set(self._hood_origins)
        island.restart = 0  # the search restarts between slices, not an island within one
        if not carry_repair:  # one island goes on with the neighbourhood and bursts
            island.neighbourhood, island.hood, island.negative = 0, None, 0.0
        island._starts_left = 0
        island.decomposition = None
        island.repair = self.repair if carry_repair else None
        island._carries_repair = carry_repair
        return island

    def merge(self, islands: Iterable[EnsembleSearch]) -> None:
        """Take the results of islands forked from this search back.

        Each pool becomes the ``pool_size`` best distinct designs of that pool in all
        islands (by its objective), the best design the best of all (by distance, then
        objective); the evaluations and the sequences seen are added up.
        """
        islands = list(islands)
        for k, kind in enumerate(self.kinds):
            designs: dict[str, Candidate] = {}
            for candidate in itertools.chain(self.pools[k], *(i.pools[k] for i in islands)):
                designs.setdefault(candidate.sequence, candidate)
            ranked = sorted(designs.values(), key=lambda c: c.score(kind))
            self.pools[k] = ranked[: self.pool_size]
        if self.archive is not None:
            self.archive.merge(i.archive for i in islands if i.archive is not None)
        for island in islands:
            self.seen |= island.seen
            for structure in island.rivals:
                self._remember_rival(structure)
            self.evaluations += island.evaluations
            self.screened += island.screened
            self.walk_seconds += island.walk_seconds
            if island.walk_seconds:
                self._walk_step = island._walk_step
            self.hood_seconds += island.hood_seconds
            self.grafts += island.grafts
            self.negative_bursts += island.negative_bursts
            self.negative_folds += island.negative_folds
            self.negative_seconds += island.negative_seconds
            if island.negative_bursts:
                self._negative_since = self.evaluations
            if island.best is not None and (self.best is None or island.best.rank < self.best.rank):
                self.best = island.best
            if island.lead is not None and (self.lead is None or island.lead.rank < self.lead.rank):
                self.lead = island.lead
                self._best_since = self.evaluations
            if island.evaluations:
                self._step_seconds = island._step_seconds
            if island._carries_repair:
                self.repair, self._since_repair = island.repair, island._since_repair
                self.hood, self._hood_left = island.hood, island._hood_left
                self._hood_origins |= island._hood_origins
                self._negative_origins |= island._negative_origins
                self._assignment_seconds = island._assignment_seconds

    # ------------------------------------------------------------------ internals

    def _restart_due(self) -> bool:
        """Whether the lead has stalled for the restart's patience (see ``restart``).

        Not while a neighbourhood or a repair is under way (they end first).
        """
        if not self.restart or self.lead is None or self.solved:
            return False
        if self.hood is not None or self.repair is not None:
            return False
        patience = self.restart * luby(self.restarts + 1)
        return self.evaluations - self._best_since >= patience

    def _restart(self) -> None:
        """Empty the pools and start over from new targeted starts (see ``restart``).

        The best design, the sequences seen, the competitors and the graft archive stay;
        the starts are evaluated by :meth:`_evaluate_starts`.
        """
        self.restarts += 1
        self.pools = [[] for _ in self.kinds]
        self.lead = None
        self.kick = 0
        self._best_since = self._negative_since = self.evaluations
        self._since_repair = REPAIR_EVERY
        self._starts_left = self._starts or RESTART_STARTS

    def _evaluate_starts(self, deadline: float) -> int:
        """Evaluate the targeted starts left (after a restart, unseen ones); the evaluations."""
        steps = 0
        while self._starts_left > 0 and not self.solved and self._fits(deadline):
            self._starts_left -= 1
            start = self._fresh_start() if self.restarts else self.targeted_start()
            if start is not None and self.offer(start, deadline) is not None:
                steps += 1
        return steps

    def _fresh_start(self) -> str | None:
        """A targeted start not seen before: random units are changed while it was (None: none)."""
        changeable = [k for k, options in enumerate(self.options) if len(options) > 1]
        for tries in range(_MAX_REDRAWS):
            chars = list(self.targeted_start())
            count = min(tries, len(changeable))
            if count:
                self._change_units(
                    chars, [int(k) for k in self.rng.choice(changeable, count, False)]
                )
            start = "".join(chars)
            if start not in self.seen and not self._refused(start):
                return start
        return None

    def _wants_starts(self) -> bool:
        """Whether the starts may be made: no lead yet (or since a restart), or it is far."""
        return self.lead is None or self.lead.distance > self.start_distance

    def _decompose(self, deadline: float) -> int:
        """Advance the hierarchical starts; offer the assembled design when they are over."""
        decomposition = self.decomposition
        if decomposition is None or self.lead is None or self.solved:
            return 0
        spent, over = self._advance(decomposition, deadline)
        if over:
            self.decomposition = None
        return spent

    def _repair_due(self) -> bool:
        """Whether a repair is under way or due (and there is a design to repair)."""
        if not self._pieces or self.lead is None or self.solved:
            return False
        return self.repair is not None or self._since_repair >= REPAIR_EVERY

    def _repair(self, deadline: float) -> int:
        """Advance the focused repair (start one when none is under way; ``repair``)."""
        if self.repair is None:
            self._since_repair = 0
            piece = self._repair_piece()
            if piece is None:
                return 0
            seconds = self.repair_ratio * REPAIR_EVERY * self._step_seconds
            self.repair = self._pieces_work(seconds, [piece])
        spent, over = self._advance(self.repair, deadline)
        if over:
            self.repair = None
        return spent

    def _pieces_work(
        self, seconds: float, nodes: list[tuple[int, int]] | None = None
    ) -> Decomposition:
        """Pieces searched on their own with this search's settings, ``seconds`` in all.

        Every subproblem of the target (hierarchical starts), or ``nodes`` (a repair).
        """
        return Decomposition(
            self.target,
            seconds,
            self.rng,
            self.rules,
            self.gu_pairs,
            self.energy,
            nodes=nodes,
            search_options={
                "objective": self.objective,
                "sites": self.sites,
                "special_loops": self.special_loops,
                "rivals": self.rival_share,
                "neighbourhood": self.neighbourhood,
                "mfe_length": self.mfe_length,
                "grafts": self.graft_share,
                "negative": self.negative,
                "screen": self.screen,
            },
        )

    def _repair_piece(self) -> tuple[int, int] | None:
        """The substructure to repair in the best design (None: none qualifies).

        The smallest piece holding every mismatched site whose slice is wrong alone too;
        when there is none (mismatches spread over the target), the smallest such piece
        holding one mismatched site drawn at random (among those some piece holds), so
        that successive repairs visit the regions of a far design one at a time.
        """
        assert self.lead is not None
        wrong = mismatched_sites(self.lead.structure, self.target)
        if not wrong:
            return None
        piece = self._wrong_alone(wrong[0], wrong[-1])
        if piece is None:
            covered = [k for k in wrong if any(i <= k <= j for i, j in self._pieces)]
            if covered:
                site = covered[int(self.rng.integers(len(covered)))]
                piece = self._wrong_alone(site, site)
        return piece

    def _wrong_alone(self, first: int, last: int) -> tuple[int, int] | None:
        """The smallest piece spanning sites ``first..last`` whose slice folds wrong alone.

        Pieces whose closing pair cannot form alone (:func:`closes_alone`) are passed over:
        their slices fold wrong alone whatever the design.
        """
        assert self.lead is not None
        for i, j in self._pieces:
            if not (i <= first and last <= j):
                continue
            piece = self.target[i : j + 1]
            if not closes_alone(piece, self.energy, self.rules.codes(i, j)):
                continue
            if mfe_structure(self.lead.sequence[i : j + 1], self.energy) != piece:
                return i, j
        return None

    def _advance(self, work: Decomposition, deadline: float) -> tuple[int, bool]:
        """Run sub-searches from the best design; offer the assembled design when done.

        Returns:
            The evaluations spent, and whether ``work`` is over (its design offered, or
            refused as seen before or breaking a constraint). The offer waits for the next
            call when its evaluation would not end before ``deadline``.
        """
        assert self.lead is not None
        if work.sequence is None:
            work.begin(self.lead.sequence, self._step_seconds)
        spent = work.run(deadline)
        self.evaluations += spent
        if not work.done or not self._fits(deadline):
            return spent, False
        assert work.sequence is not None
        if self.offer("".join(work.sequence), deadline) is not None:
            spent += 1
        return spent, True

    def _fits(self, deadline: float | None) -> bool:
        return deadline is None or time.monotonic() + self._step_seconds <= deadline

    def _evaluate(self, sequence: str) -> Candidate:
        began = time.monotonic()
        screen = self._screen_distance()
        if self.mfe_only:
            structure, defects, log_probability = mfe_defects(sequence, self.target, self.energy)
        else:
            structure, defects, log_probability = positional_defects(
                sequence, self.target, self.energy, screen
            )
        distance = hamming(structure, self.target)
        screened = screen is not None and distance > screen
        if screened:  # ranked below every design the ensemble was computed for
            probability = objective = math.inf
        else:
            probability = -log_probability / len(sequence)
            objective = probability if self.kinds[0] == "probability" else float(defects.mean())
        candidate = Candidate(sequence, structure, distance, objective, defects, probability)
        self.seen.add(sequence)
        self.evaluations += 1
        self.screened += screened
        if self.archive is not None and not screened:
            self.archive.record(sequence, defects)
        if candidate.distance > 0:
            self._remember_rival(structure)
        if self.best is None or candidate.rank < self.best.rank:
            self.best = candidate
        if self.lead is None or candidate.rank < self.lead.rank:
            self.lead = candidate
            self._best_since = self.evaluations
        for pool, kind in zip(self.pools, self.kinds):
            if self._enter(pool, candidate, kind):
                self.kick = 0
        seconds = time.monotonic() - began
        self._step_seconds = _follow(self._step_seconds, seconds, self.evaluations == 1)
        return candidate

    def _screen_distance(self) -> int | None:
        """MFE distance past which an evaluation skips its partition function (``screen``).

        The farthest pool member's distance plus ``screen``, once every pool is full
        (None: no screening: it is off, the evaluations fold the MFE alone, or a pool has
        room for any design).
        """
        if not self.screen or self.mfe_only:
            return None
        if any(len(pool) < self.pool_size for pool in self.pools):
            return None
        return max(c.distance for pool in self.pools for c in pool) + self.screen

    def _enter(self, pool: list[Candidate], candidate: Candidate, kind: str) -> bool:
        """Let ``candidate`` into ``pool`` (ranked by ``kind``) when it beats the worst."""
        if math.isinf(candidate.objective):
            return False
        if len(pool) < self.pool_size:
            pool.append(candidate)
            return True
        worst = max(range(len(pool)), key=lambda k: pool[k].score(kind))
        if candidate.score(kind) < pool[worst].score(kind):
            pool[worst] = candidate
            return True
        return False

    def _remember_rival(self, structure: str) -> None:
        """Remember a competitor structure (as the newest; the oldest goes past the cap)."""
        self.rivals.pop(structure, None)
        self.rivals[structure] = None
        if len(self.rivals) > RIVALS_KEPT:
            del self.rivals[next(iter(self.rivals))]

    def _neighbourhood_mutant(self, deadline: float) -> str | None:
        """The next candidate of a near-miss's neighbourhood (see ``neighbourhood``).

        When none is under way and one is due (:meth:`_near_miss_origin`, after the
        patience), it is made first, sampled down to what its scoring may cost, when the
        scoring and a step fit before ``deadline``.

        Returns:
            A candidate to evaluate, or None (no neighbourhood, or its steps are spent).
        """
        best = self.lead
        if not self.neighbourhood or best is None or best.distance == 0:
            return None
        origin = self._near_miss_origin(self._hood_origins)
        if (
            self.hood is None
            and origin is not None
            and self.evaluations - self._best_since >= NEIGHBOURHOOD_PATIENCE
        ):
            affordable = NEIGHBOURHOOD_COST * self._dearest_step() / self._assignment_seconds
            size = int(min(self.neighbourhood, self._neighbourhood_size(origin), affordable))
            if size < NEIGHBOURHOOD_LEAST:
                self._hood_origins.add(origin.sequence)  # not worth making
            elif time.monotonic() + size * self._assignment_seconds + self._step_seconds <= (
                deadline
            ):
                self._make_neighbourhood(origin, size)
        while self.hood is not None and self._hood_left > 0:
            mutant = self.hood.next(self.seen)
            if mutant is None:
                break
            if self._refused(mutant):
                continue
            self._hood_left -= 1
            return mutant
        self.hood = None
        return None

    def _near_miss_origin(self, used: set[str]) -> Candidate | None:
        """The near-miss a neighbourhood or a burst starts from next (None: none is due).

        The lead, or a pool member as close to the target (each of them is a
        different background for the same few sites), by the objective, that is not in
        ``used``; none when they all are or are farther than :data:`NEIGHBOURHOOD_DISTANCE`.
        """
        assert self.lead is not None
        distance = self.lead.distance
        if distance > NEIGHBOURHOOD_DISTANCE:
            return None
        fresh = [
            c
            for c in (self.lead, *itertools.chain(*self.pools))
            if c.distance == distance and c.sequence not in used
        ]
        return min(fresh, key=lambda c: c.objective) if fresh else None

    def _negative_mutant(self, deadline: float) -> str | None:
        """The end of a negative-design burst from a stalled near-miss (see ``negative``).

        Returns:
            The burst's design (the solution when it found one), or None: no burst was
            due, or its design is the near-miss, was seen before or breaks a rule.
        """
        best = self.lead
        if not self.negative or best is None or best.distance == 0 or self.hood is not None:
            return None
        if self.evaluations - max(self._best_since, self._negative_since) < NEGATIVE_PATIENCE:
            return None
        origin = self._near_miss_origin(self._negative_origins)
        now = time.monotonic()
        end = min(now + self.negative * self._step_seconds, now + (deadline - now) / 2)
        if origin is None or end - now < 2 * self._step_seconds:
            return None
        self._negative_origins.add(origin.sequence)
        burst = NegativeDesign(
            self.target,
            origin.sequence,
            origin.structure,
            self.units,
            self.options,
            self.unit_of,
            self.rng,
            self.energy,
            allowed=lambda design: not self.rules.breaks_rules(design),
        )
        result = burst.run(end)
        self.negative_bursts += 1
        self.negative_folds += result.folds
        self.negative_seconds += time.monotonic() - now
        self._negative_since = self.evaluations
        mutant = result.sequence
        if mutant == origin.sequence or mutant in self.seen or self._refused(mutant):
            return None
        return mutant

    def _make_neighbourhood(self, best: Candidate, size: int) -> None:
        """Make (and time) the neighbourhood of the near-miss ``best``, ``size`` at most."""
        began = time.monotonic()
        self._hood_origins.add(best.sequence)
        self.hood = Neighbourhood(
            self.target,
            best.sequence,
            best.structure,
            reversed(self.rivals),  # the newest first
            self.units,
            self.options,
            self.unit_of,
            self.rng,
            self.energy,
            max_assignments=size,
        )
        self._hood_left = NEIGHBOURHOOD_EVALUATIONS
        seconds = time.monotonic() - began
        self.hood_seconds += seconds
        self._assignment_seconds = seconds / max(1, self.hood.scored)

    def _dearest_step(self) -> float:
        """Seconds of an evaluation, or of the mean competitor walk when that is dearer."""
        return max(self._step_seconds, self._walk_step)

    def _neighbourhood_size(self, best: Candidate) -> int:
        """The assignments of ``best``'s neighbourhood (see :class:`Neighbourhood`)."""
        units = neighbourhood_units(self.target, best.structure, self.options, self.unit_of)
        return math.prod(len(self.options[k]) for k in units)

    def _graft_turn(self) -> bool:
        """Whether this step is a graft step (``grafts`` of them)."""
        return self.archive is not None and bool(self.rng.random() < self.graft_share)

    def _graft_mutant(self) -> str | None:
        """A pool member (drawn as for a mutation) with one archived slice grafted in.

        Returns:
            The graft, or None when no substructure of that member qualifies, every graft
            was seen before, or it breaks a constraint.
        """
        assert self.archive is not None
        turn = self._draw_turn()
        if not self.pools[turn]:
            return None
        parent = self._draw_parent(self.pools[turn], self.kinds[turn])
        mutant = self.archive.graft(
            parent.sequence, parent.defects, self.rng, self.seen, self.rules.sequence
        )
        return None if mutant is None or self._refused(mutant) else mutant

    def _rival_turn(self) -> bool:
        """Whether this step is a competitor step (``rivals`` of them, with a competitor)."""
        if not self.rival_share or not self.rivals or self.lead is None:
            return False
        return bool(self.rng.random() < self.rival_share)

    def _rival_mutant(self) -> str | None:
        """A competitor step's walk from the best design (see ``rivals``), timed.

        Returns:
            The walk's end, or None when it is the start, was seen before or breaks a
            constraint.
        """
        began = time.monotonic()
        try:
            return self._rival_walk()
        finally:
            seconds = time.monotonic() - began
            self.walk_seconds += seconds
            self._walk_step = _follow(self._walk_step, seconds, not self._walk_step)

    def _rival_walk(self) -> str | None:
        assert self.lead is not None
        rivals = list(self.rivals)
        wrong = [
            [k for k in mismatched_sites(rival, self.target) if self._mutable[k]]
            for rival in rivals
        ]
        chars = list(self.lead.sequence)
        gap, tight = self._rival_gap(chars, rivals)
        for _ in range(RIVAL_PROPOSALS_PER_UNIT * self._mutable_units):
            if gap < -RIVAL_MARGIN:
                break
            trial = self._rival_move(chars, wrong[tight])
            trial_gap, trial_tight = self._rival_gap(trial, rivals)
            if trial_gap < gap:
                chars, gap, tight = trial, trial_gap, trial_tight
        mutant = "".join(chars)
        if mutant == self.lead.sequence or mutant in self.seen:
            return None
        return None if self._refused(mutant) else mutant

    def _rival_gap(self, chars: list[str], rivals: list[str]) -> tuple[float, int]:
        """The target's free energy minus the lowest competitor's, and that competitor."""
        energies = structure_energies("".join(chars), [self.target, *rivals], self.energy)
        tight = min(range(len(rivals)), key=energies[1:].__getitem__)  # the first lowest
        return energies[0] - energies[1 + tight], tight

    def _rival_move(self, chars: list[str], wrong: list[int]) -> list[str]:
        """``chars`` with one unit changed and, half of the time, a structural neighbour.

        The unit is that of a site in ``wrong`` half of the time, of any mutable site
        otherwise. With ``special_loops`` the move may write a bonus hairpin instead, as a
        mutation does (:meth:`_change_or_special`).
        """
        if wrong and self.rng.random() < 0.5:
            site = wrong[int(self.rng.integers(len(wrong)))]
        else:
            site = int(self._mutable_sites[self.rng.integers(len(self._mutable_sites))])
        trial = list(chars)
        self._change_or_special(trial, self._with_neighbour([int(self.unit_of[site])]))
        return trial

    def _draw_mutant(self) -> str | None:
        turn = self._draw_turn()
        kind = self.kinds[turn]
        rule = "softmax" if self.objective == "portfolio" and kind == "probability" else self.sites
        for _ in range(_MAX_REDRAWS):
            parent = self._draw_parent(self.pools[turn], kind)
            mutant = self._mutate(parent, rule)
            if mutant is None:
                return None
            if mutant in self.seen:
                continue
            if self._refused(mutant):
                continue
            return mutant
        return None

    def _draw_turn(self) -> int:
        """The pool a step draws its parent from (one at random for the portfolio)."""
        return int(self.rng.integers(len(self.pools))) if len(self.pools) > 1 else 0

    def _refused(self, mutant: str) -> bool:
        """Whether ``mutant`` breaks the GC or motif rules (it is then marked seen, unfolded)."""
        if self.rules.breaks_rules(mutant):
            self.seen.add(mutant)
            return True
        return False

    def _draw_parent(self, pool: list[Candidate], kind: str) -> Candidate:
        """A member of ``pool`` by Boltzmann weights of its objective ``kind``."""
        objectives = np.array([c.score(kind) for c in pool])
        weights = np.exp(-2.0 * (objectives - objectives.min()) / self.temperature)
        return pool[int(self.rng.choice(len(pool), p=weights / weights.sum()))]

    def _mutate(self, parent: Candidate, rule: str) -> str | None:
        """A mutant of ``parent`` at a site drawn by the site rule ``rule``."""
        if not self._mutable.any():
            return None
        weights = self._site_weights(parent.defects, rule)
        sites = self.rng.choice(len(weights), size=1 + self.kick, p=weights)
        chosen = self._with_neighbour([int(self.unit_of[site]) for site in sites])
        chosen = list(dict.fromkeys(chosen))  # a unit drawn twice changes once
        chars = list(parent.sequence)
        self._change_or_special(chars, chosen)
        return "".join(chars)

    def _change_or_special(self, chars: list[str], chosen: list[int]) -> None:
        """Give each of ``chosen`` units another option (in place), or a bonus hairpin.

        With ``special_loops``, :data:`SPECIAL_SHARE` of the time that the first unit lies
        in a hairpin of a special size, a bonus hairpin is written there instead and only
        the chosen units outside it change.
        """
        hairpin = self._hairpin_of.get(chosen[0])
        if hairpin is not None and self.rng.random() < SPECIAL_SHARE:
            units = self._special_hairpin(chars, hairpin)
            chosen = [k for k in chosen if k not in units]
        self._change_units(chars, chosen)

    def _with_neighbour(self, chosen: list[int]) -> list[int]:
        """``chosen`` units and, half of the time, a structural neighbour of the first."""
        neighbours = self._neighbours[chosen[0]]
        if neighbours and self.rng.random() < 0.5:
            chosen.append(neighbours[int(self.rng.integers(len(neighbours)))])
        return chosen

    def _change_units(self, chars: list[str], units: list[int]) -> None:
        """Give each of ``units`` another of its options, drawn at random (in place).

        Uniformly, or partly by the policy's prior (:meth:`set_prior`).
        """
        for k in units:
            value = unit_value(chars, self.units[k])
            others = [i for i, option in enumerate(self.options[k]) if option != value]
            if self.prior is None or not self.prior_weight:
                choice = others[int(self.rng.integers(len(others)))]
            else:
                choice = others[int(self.rng.choice(len(others), p=self._prior_draw(k, others)))]
            assign(chars, self.units[k], self.options[k][choice])

    def _prior_draw(self, unit: int, others: list[int]) -> np.ndarray:
        """The probabilities of ``unit``'s options ``others`` under the prior's mixture."""
        assert self.prior is not None
        uniform = np.full(len(others), 1.0 / len(others))
        weights = self.prior[unit][others]
        total = weights.sum()
        policy = weights / total if total > 0 else uniform
        return self.prior_weight * policy + (1 - self.prior_weight) * uniform

    def _site_weights(self, defects: np.ndarray, rule: str) -> np.ndarray:
        """The probability of drawing each site by the site rule ``rule`` (0 without options)."""
        if rule == "softmax":
            weights = np.where(self._mutable, np.exp(defects), 0.0)
            return weights / weights.sum()
        defects = np.where(self._mutable, defects, 0.0)
        uniform = self._mutable / self._mutable.sum()
        total = defects.sum()
        if total <= 0:
            return uniform
        return (1 - self.uniform_share) * defects / total + self.uniform_share * uniform

    def _special_moves(
        self, energy: EnergyModel | None
    ) -> list[tuple[list[int], list[tuple[str, ...]]]]:
        """The target's hairpins that can take a bonus hairpin, and the values allowed.

        Only the special hairpins that lower the loop's energy (:func:`bonus_hairpins`):
        another entry is a joint change of five or seven letters to a worse loop.
        """
        specials = bonus_hairpins(energy)
        partners = pair_table(self.target)
        moves = []
        for site, partner in self.units:
            size = partner - site - 1
            if partner < 0 or size not in specials:
                continue
            if any(partners[k] >= 0 for k in range(site + 1, partner)):
                continue  # not a hairpin: something pairs inside
            units = [int(self.unit_of[k]) for k in range(site, partner)]
            allowed = [
                (entry[0] + entry[-1], *entry[1:-1])
                for entry in specials[size]
                if entry[0] + entry[-1] in self.options[units[0]]
                and all(letter in self.options[u] for u, letter in zip(units[1:], entry[1:-1]))
            ]
            if allowed:
                moves.append((units, allowed))
        return moves

    def _special_hairpin(self, chars: list[str], hairpin: int) -> list[int]:
        """Write a special hairpin (another than the one there) into ``chars``."""
        units, allowed = self._hairpins[hairpin]
        current = tuple(unit_value(chars, self.units[u]) for u in units)
        choices = [values for values in allowed if values != current]
        if choices:
            values = choices[int(self.rng.integers(len(choices)))]
            for unit, value in zip(units, values):
                assign(chars, self.units[unit], value)
        return units

    def _unit_neighbours(self, k: int) -> list[int]:
        """Mutable units of the sites next to unit ``k``'s sites (its structural context)."""
        sites = [s for s in self.units[k] if s >= 0]
        around = {
            int(self.unit_of[j])
            for s in sites
            for j in (s - 1, s + 1)
            if 0 <= j < len(self.target) and self._mutable[j]
        }
        around.discard(k)
        return sorted(around)


def _follow(mean: float, seconds: float, first: bool) -> float:
    """The running mean ``mean`` moved toward the duration ``seconds`` (``seconds`` when ``first``).

    It follows the latest durations: a target's length does not change, the load does.
    """
    return seconds if first else 0.8 * mean + 0.2 * seconds


def luby(index: int) -> int:
    """The ``index``-th term (from 1) of Luby's universal restart sequence: 1 1 2 1 1 2 4 1 ...

    Luby, Sinclair and Zuckerman (1993): restarting after this many units is within a
    logarithmic factor of the best fixed restart length, whatever the run-time distribution.
    """
    if index < 1:
        raise ValueError(f"the Luby sequence starts at 1, got {index}")
    while True:
        k = index.bit_length()
        if index == (1 << k) - 1:
            return 1 << (k - 1)
        index -= (1 << (k - 1)) - 1


def run_island(search: EnsembleSearch, deadline: float) -> EnsembleSearch:
    """Run a forked search until ``deadline`` (in a worker); return it, seen set trimmed.

    Only the sequences this island saw are sent back (the caller knows the rest).
    """
    known = frozenset(search.seen)
    search.run(deadline)
    search.seen -= known
    return search


#: Seconds past a slice's end that the islands are waited for (a step started just before
#: the end, plus sending the result back) before they are stopped.
_ISLAND_GRACE = 2.0


def run_islands(search: EnsembleSearch, executor: Executor, deadline: float) -> int:
    """Run one slice of ``search`` on every slot of ``executor`` at once, then merge.

    The executor should be idle (the design loop's folding processes between batches);
    with fewer than two idle slots, or nothing in the pool yet, the slice runs here.
    Targeted starts are evaluated here first. An island that fails, or is not back
    :data:`_ISLAND_GRACE` seconds after ``deadline``, is dropped (its results lost, the
    search unharmed).

    Args:
        search: The search (updated in place).
        executor: Where the islands run.
        deadline: ``time.monotonic()`` value the islands stop before (the clock is the
            machine's, shared by its processes).

    Returns:
        The evaluations this slice spent.
    """
    before = search.evaluations
    search.run(deadline, max_steps=0)  # the targeted starts, if any are left
    slots = executor.idle
    if slots < 2 or not search.pool or search.solved:
        search.run(deadline)
        return search.evaluations - before
    if not search._fits(deadline):
        return search.evaluations - before
    units = [
        Unit(
            f"ensemble-island-{k}-{search.evaluations}",
            run_island,
            (search.fork(np.random.default_rng(search.rng.integers(2**63)), k == 0), deadline),
        )
        for k in range(slots)
    ]
    dones = run_until(executor, units, deadline + _ISLAND_GRACE)
    search.merge(done.value for done in dones.values() if done.ok)
    return search.evaluations - before
