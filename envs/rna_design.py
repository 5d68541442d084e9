"""The LEARNA decision process for RNA secondary-structure design (inverse folding).

The agent fills a sequence site by site, left to right. At an unpaired site it picks a
nucleotide; at an opening bracket it sets both partners of the base pair in one step, so
closing brackets are never visited. The decision sites of a target are therefore fixed
in advance, and an episode is just one action per decision site.

The pure helpers here (:class:`TargetEncoding`, :func:`actions_to_sequence`) and the
evaluation of a finished design (:mod:`envs.evaluation`) are shared by the single
:class:`RnaDesignEnv` and the batched :class:`envs.vector.RnaDesignVecEnv`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from envs.constraints import (
    UNPAIRED_ACTIONS,
    UNPAIRED_LETTERS,
    WATSON_CRICK,
    WOBBLE,
    DesignConstraints,
    action_masks,
    check_feasible,
)
from envs.dot_bracket import Target, pair_table
from envs.ensemble_search import OBJECTIVES, SITE_CHOICES
from envs.evaluation import LOCAL_IMPROVEMENT_ORDERS, DesignOutcome, evaluate_design
from envs.folding import EnergyModel

UNPAIRED = np.frombuffer(UNPAIRED_LETTERS.encode(), dtype=np.uint8)
PAIRS = WATSON_CRICK + WOBBLE
PAIR_FIRST = np.frombuffer("".join(p[0] for p in PAIRS).encode(), dtype=np.uint8)
PAIR_SECOND = np.frombuffer("".join(p[1] for p in PAIRS).encode(), dtype=np.uint8)
TOKENS = {".": 0, "(": 1, ")": 2}
PAD_TOKEN = 3
ENCODINGS = ("tokens", "binary")
#: With ``observe_letters``, an observation code is a structure token plus this many
#: times the position's letter code (0: not written yet, then G, A, U, C: 1-4).
LETTER_STRIDE = PAD_TOKEN + 1
LETTERS = "GAUC"
_UNPAIRED_CODES = np.array([LETTERS.index(c) + 1 for c in UNPAIRED_LETTERS], dtype=np.int64)
_FIRST_CODES = np.array([LETTERS.index(p[0]) + 1 for p in PAIRS], dtype=np.int64)
_SECOND_CODES = np.array([LETTERS.index(p[1]) + 1 for p in PAIRS], dtype=np.int64)
#: A finished episode's ``info`` key: each step's return bonus (``site_credit``).
RETURN_BONUS = "return_bonus"


def check_number(
    name: str, value: object, low: float, high: float, *, open_above: bool = False
) -> None:
    """Raise a ValueError naming ``name`` unless ``value`` is a real number in its range.

    Args:
        name: The configuration key, for the message.
        value: The value to check; booleans are not numbers here.
        low: The smallest value allowed.
        high: The upper bound, allowed unless ``open_above``.
        open_above: Exclude ``high`` itself.
    """
    number = isinstance(value, int | float) and not isinstance(value, bool)
    inside = number and low <= value and (value < high if open_above else value <= high)
    if not inside:
        bracket = ")" if open_above else "]"
        raise ValueError(f"{name} must be in [{low}, {high}{bracket}, got {value!r}")


def check_integer(name: str, value: object, low: int, high: int | None = None) -> None:
    """Raise a ValueError naming ``name`` unless ``value`` is an integer in its range.

    Args:
        name: The configuration key, for the message.
        value: The value to check; booleans are not integers here.
        low: The smallest value allowed.
        high: The largest value allowed (None: no upper bound).
    """
    integer = isinstance(value, int) and not isinstance(value, bool)
    if not integer or value < low or (high is not None and value > high):
        allowed = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be an integer {allowed}, got {value!r}")


@dataclass(frozen=True)
class RnaDesignConfig:
    """Settings of the RNA design MDP.

    Attributes:
        state_radius: The agent sees 2r+1 target symbols centred on the current site.
        reward_exponent: alpha in the terminal reward (1 - d/n) ** alpha.
        observe_letters: The window also shows the letters the episode has written so far
            (each code is the structure token plus 4 times the letter code, 0 where
            nothing is written yet: 20 codes; ``encoding`` "tokens" only). False (LEARNA):
            the window shows the target alone, so a policy's action at a site cannot
            depend on its own earlier actions (session 60, README).
        site_credit: Weight of each decision's own credit (0, LEARNA's terminal reward
            alone, by default): every step's return gains ``site_credit`` when the final
            design's MFE structure has its site as the target does (unpaired, or paired
            with the same partner), beside the episode's reward that every step shares
            (:func:`site_scores`; the finished episode's ``info["return_bonus"]``, which
            autorl's reward callbacks turn into rewards, :mod:`meta.deferred_rewards`).
        encoding: ``tokens`` (codes 0-3 for ``.()`` and padding, for an embedding) or
            ``binary`` (1 paired, 0 unpaired or padding), as in LEARNA.
        gu_pairs: Offer GU and UG wobble pairs at paired sites (6 actions instead of 4).
            Actions 4 and 5 set pairs only: they are masked at every unpaired site, so
            the agent is sb3-contrib's MaskablePPO whenever this is on.
        local_improvement: Run local improvement when 0 < d <= this many sites; 0 disables it.
        local_improvement_budget: Most folds one local improvement may spend. When all
            assignments of the mismatched sites fit, all are tried (LEARNA's exhaustive
            search); otherwise this many are drawn at random.
        local_improvement_order: Which candidates local improvement folds, in what order
            (:func:`envs.evaluation.local_improvement`). ``"energy"``: best first by
            evaluation-only energies against the competitors its folds reveal (up to 16
            times the budget scored, the budget folded). ``"screened"`` (the default):
            the same order, stopping once every candidate left has a known competitor of
            lower energy than the target (it cannot be a solution), so it finds every
            solution ``"energy"`` finds, with the same folds, and spends fewer where there
            is none (it may then stop short of a closer non-solution). ``"enumeration"``:
            LEARNA's, every assignment in turn, or the budget drawn at random when they do
            not fit. When all assignments fit the budget, ``"energy"`` and
            ``"enumeration"`` reach the same distance, ``"energy"`` with fewer folds to a
            solution.
        refinement_budget: Most folds the refinement stage (:mod:`envs.refinement`, an
            adaptive walk around the mismatched sites) may spend on a batch's closest
            design after local improvement; 0 (the published configurations) disables it.
            ``autorl design`` and the benchmark runner turn it on (``--refine``).
        refinement_distance: The walk runs only on a design within this many mismatched
            sites (twice local improvement's reach by default: it changes one unit at a
            time, so it can afford designs local improvement cannot enumerate).
        ensemble_share: Share of a design run's time, in [0, 1), given to the ensemble
            refinement stage (:mod:`envs.ensemble_search`, a SAMFEO-style search on the
            ensemble defect interleaved with the policy, in the design loop); 0 (the
            published configurations, and meta-training) disables it. ``autorl design``
            and the benchmark runner turn it on (``--ensemble-share``).
        ensemble_starts: Targeted starts (SAMFEO's initialization: G-C or C-G on pairs, A
            in loops, within the IUPAC codes) the ensemble stage evaluates before its first
            search steps, beside the policy's designs (0: the policy's designs only).
        quick_starts: Targeted starts (as ``ensemble_starts``, with the loop boosts) the
            design loop folds before the policy's first batch, within the first tenth of
            the time limit (:func:`meta.design.design`; 0: none). One MFE fold each: one
            start folded into the target for 42 of Eterna100-v2's 100 puzzles (session
            55), which the policy's first batch otherwise reached 0.1-1 s later. 0 in the
            published configurations; ``autorl design`` and the benchmark runner turn it
            on (``--quick-starts``).
        ensemble_first_turn: When the targeted starts (``quick_starts``) leave the target
            unsolved, the ensemble stage takes its first turn from them, before the
            policy's first batch, for the stage's share of the time that batch is expected
            to take (:meth:`meta.design._DesignState.first_turn`; on by default; off: the
            policy's first batch comes first, as before session 56). On a long target the
            batch takes seconds (64 folds of 336 nt: about 3 s), while the stage finishes
            a start at a small distance sooner.
        ensemble_gu: The ensemble stage may place GU and UG on target pairs even when the
            policy's actions (``gu_pairs``) do not offer them, as SAMFEO and RNAinverse do
            (on by default; off: the stage keeps to the policy's pairs). Wobble pairs
            break the alternative pairings of G-C-rich designs that leave a lonely pair or
            a short helix open; see the README's session-11 figures.
        ensemble_decompose: Share of the ensemble stage's time, in [0, 1), spent first on
            hierarchical starts (:mod:`envs.decomposition`: the target's substructures of
            at least 30 nt designed on their own, smallest first, then offered assembled);
            0 turns them off. Used only with a finite time limit. On generated 276-400-nt
            targets (not a benchmark) the stage alone solved 14/16 in 30 s with 0.3 of its
            time on them and 11/16 without; on 40-144-nt targets 37/60 either way
            (``benchmarks.ensemble_stage``, commands in the README).
        ensemble_objective: What the ensemble stage's pool ranks by: ``"defect"`` (the
            normalized ensemble defect), ``"probability"`` (the target's negative
            log-probability per site, SAMFEO's default order) or ``"portfolio"`` (a pool
            for each, steps alternating between them at random; the probability pool's
            steps draw sites by softmax).
        ensemble_sites: How the ensemble stage draws the site it mutates: ``"defect"``
            (proportional to the positional defect, 10 % uniform) or ``"softmax"``
            (SAMFEO's, proportional to ``exp(defect)``).
        ensemble_repair: The ensemble stage's focused repairs: time spent searching the
            substructure that holds the best design's mismatch on its own, per unit of time
            on whole-target steps (0: off; :class:`envs.ensemble_search.EnsembleSearch`'s
            ``repair``). On 60 generated 200-415-nt targets (MFE structures of random
            sequences; not a benchmark) the stage alone solved 53 in 5 s with 1 and 43
            without; on 148 hard 120-220-nt ones 128 and 111 (``benchmarks.ensemble_stage``,
            commands in the README).
        ensemble_start_distance: The ensemble stage's targeted and hierarchical starts
            wait while the best design so far (the policy's, at the stage's first turn)
            is within this many sites of the target (0: never;
            :class:`envs.ensemble_search.EnsembleSearch`'s ``start_distance``).
        ensemble_special_loops: The ensemble stage's mutations and competitor-walk moves
            may write one of the energy model's bonus hairpins (special tetraloops and
            hexaloops below the loop rules' energy, :func:`envs.folding.bonus_hairpins`)
            into a hairpin of that size at once
            (:class:`envs.ensemble_search.EnsembleSearch`'s ``special_loops``).
        ensemble_boost: The ensemble stage's targeted starts write Eterna's loop boosts
            (:func:`envs.loop_boosts.boost_letters`;
            :class:`envs.ensemble_search.EnsembleSearch`'s ``boost``). On by default since
            session 35: Eterna100-v2 at 60 s 79/100 against 76 (docs/results/i14z).
        ensemble_rivals: Share, in [0, 1], of the ensemble stage's steps that are
            competitor steps (:class:`envs.ensemble_search.EnsembleSearch`'s ``rivals``:
            a walk from the best design that lowers the target's free energy below every
            MFE structure the search has met, ranked by evaluation-only energies, so
            hundreds of mutants cost about one fold); 0 turns them off (the published
            configurations; ``autorl design``, ``autorl.api`` and the benchmark runner
            set it from ``--ensemble-rivals``, :data:`meta.design.DEFAULT_ENSEMBLE_RIVALS`).
        ensemble_horizon: Seconds, in [0, 86400]: with the ensemble stage on, the design
            loop plans its schedule as if the run had at most ``max(horizon, seconds
            elapsed)`` left. A policy batch may then use at most ``1 - ensemble_share`` of
            that, the stage's turn the rest, and the hierarchical starts get
            ``ensemble_decompose * ensemble_share * min(limit, horizon)``. The schedule
            doubles from the horizon on, so the first ``horizon`` seconds of a long run
            are a run of ``horizon`` seconds. 0 plans with the whole limit (the schedule
            before session 16, in which a 60-s run's first policy batch could take 30 s
            and its hierarchical starts 9 s of the stage's time).
        ensemble_late_share: The ensemble stage's share of the time once
            ``ensemble_horizon`` seconds have passed, in [0, 1) (0: ``ensemble_share``
            throughout; no effect without a horizon). ``autorl design``, ``autorl.api``
            and the benchmark runner set it from ``--ensemble-late-share``
            (:data:`meta.design.DEFAULT_ENSEMBLE_LATE_SHARE`).
        ensemble_neighbourhood: Assignments, in [0, 1000000], the ensemble stage's
            neighbourhood steps score at most (0: none;
            :class:`envs.ensemble_search.EnsembleSearch`'s ``neighbourhood``): a
            near-miss that stays the best design has the units its competitor's energy
            difference depends on enumerated together, ranked by evaluation-only
            energies, and the best few evaluated. Inert while ``ensemble_share`` is 0.
        ensemble_mfe_length: Targets of at least this many sites, in [0, 100000], have the
            ensemble stage evaluate designs by their MFE fold alone, without the partition
            function (0: never; :class:`envs.ensemble_search.EnsembleSearch`'s
            ``mfe_length``). On by default from 200 nt since session 38: on generated
            long targets the stage alone solved more with it (README).
        ensemble_grafts: Share, in [0, 1], of the ensemble stage's whole-target steps that
            are graft steps (0: none; :class:`envs.ensemble_search.EnsembleSearch`'s
            ``grafts``): a pool member takes the slice of a substructure that folded
            better in another design (the policy's or the stage's). 0.2 since session 40:
            Eterna100-v2 at 60 s 81/100 against 80 back to back, the long misses' distance
            sum 122 against 194 (README).
        ensemble_negative: Evaluations' time, in [0, 100000], a negative-design burst of the
            ensemble stage may take (0: none; :class:`envs.ensemble_search.EnsembleSearch`'s
            ``negative``): from a stalled near-miss, annealing around its competitor
            against every competitor its MFE folds reveal
            (:mod:`envs.negative_design`).
        ensemble_restart: Evaluations, in [0, 1000000], the ensemble stage's lead may stall
            before the stage starts over from new targeted starts, times Luby's sequence
            (0: never; :class:`envs.ensemble_search.EnsembleSearch`'s ``restart``). The
            best design found is kept. 100 since session 46: Eterna100-v2 at 60 s 88/100
            with seeds 1 and 2 against 83 and 85 without, back to back (README).
        ensemble_screen: Sites, in [0, 1000], past the ensemble stage's farthest pool
            member an evaluation's MFE structure may be from the target before the
            evaluation skips its partition function (0: never;
            :class:`envs.ensemble_search.EnsembleSearch`'s ``screen``).
        ensemble_prior: Share, in [0, 1], of the ensemble stage's letter draws that follow
            the design loop's policy (its action probabilities at each unit's decision
            site, refreshed at every turn of the stage; the rest stays uniform); 0: off
            (:meth:`envs.ensemble_search.EnsembleSearch.set_prior`). No effect without a
            windowed policy that sees the structure alone (``stages``, ``lstm_mode``
            "episode", ``observe_letters``).
    """

    state_radius: int = 32
    reward_exponent: float = 9.34
    encoding: str = "tokens"
    gu_pairs: bool = False
    local_improvement: int = 5
    local_improvement_budget: int = 64
    local_improvement_order: str = "screened"
    refinement_budget: int = 0
    refinement_distance: int = 10
    ensemble_share: float = 0.0
    ensemble_starts: int = 0
    quick_starts: int = 0
    ensemble_first_turn: bool = True
    ensemble_gu: bool = True
    ensemble_decompose: float = 0.3
    ensemble_objective: str = "defect"
    ensemble_sites: str = "defect"
    ensemble_repair: float = 1.0
    ensemble_start_distance: int = 0
    ensemble_special_loops: bool = False
    ensemble_boost: bool = True
    ensemble_rivals: float = 0.0
    ensemble_horizon: float = 10.0
    ensemble_late_share: float = 0.0
    ensemble_neighbourhood: int = 16384
    ensemble_mfe_length: int = 200
    ensemble_grafts: float = 0.2
    ensemble_negative: float = 0.0
    ensemble_restart: int = 100
    ensemble_screen: int = 0
    ensemble_prior: float = 0.0
    site_credit: float = 0.0
    observe_letters: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.state_radius, bool) or not isinstance(self.state_radius, int):
            raise ValueError(f"state_radius must be an integer, got {self.state_radius!r}")
        if not 0 <= self.state_radius <= 512:
            raise ValueError(f"state_radius must be in [0, 512], got {self.state_radius}")
        if not (np.isfinite(self.reward_exponent) and self.reward_exponent > 0):
            raise ValueError(f"reward_exponent must be > 0, got {self.reward_exponent}")
        if self.encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {ENCODINGS}, got {self.encoding!r}")
        if self.local_improvement < 0 or self.local_improvement_budget < 1:
            raise ValueError("local_improvement must be >= 0 and local_improvement_budget >= 1")
        if self.local_improvement_order not in LOCAL_IMPROVEMENT_ORDERS:
            raise ValueError(
                f"local_improvement_order must be one of {LOCAL_IMPROVEMENT_ORDERS}, "
                f"got {self.local_improvement_order!r}"
            )
        if isinstance(self.refinement_budget, bool) or not isinstance(self.refinement_budget, int):
            raise ValueError(
                f"refinement_budget must be an integer, got {self.refinement_budget!r}"
            )
        if self.refinement_budget < 0 or self.refinement_distance < 1:
            raise ValueError(
                "refinement_budget must be >= 0 and refinement_distance >= 1, got "
                f"{self.refinement_budget} and {self.refinement_distance}"
            )
        for name in ("ensemble_share", "ensemble_decompose"):
            check_number(name, getattr(self, name), 0, 1, open_above=True)
        check_integer("ensemble_starts", self.ensemble_starts, 0, 64)
        check_integer("quick_starts", self.quick_starts, 0, 64)
        for name in (
            "ensemble_first_turn",
            "ensemble_gu",
            "ensemble_special_loops",
            "ensemble_boost",
        ):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        check_number("ensemble_repair", self.ensemble_repair, 0, 100)
        check_integer("ensemble_start_distance", self.ensemble_start_distance, 0)
        check_number("ensemble_rivals", self.ensemble_rivals, 0, 1)
        check_number("ensemble_grafts", self.ensemble_grafts, 0, 1)
        check_number("ensemble_negative", self.ensemble_negative, 0, 100_000)
        check_integer("ensemble_restart", self.ensemble_restart, 0, 1_000_000)
        check_integer("ensemble_screen", self.ensemble_screen, 0, 1000)
        check_number("ensemble_prior", self.ensemble_prior, 0, 1)
        check_number("site_credit", self.site_credit, 0, 10)
        if not isinstance(self.observe_letters, bool):
            raise ValueError(f"observe_letters must be true or false, got {self.observe_letters!r}")
        if self.observe_letters and self.encoding != "tokens":
            raise ValueError(
                "observe_letters needs encoding 'tokens' (an embedding_size > 0), got "
                f"{self.encoding!r}"
            )
        check_number("ensemble_horizon", self.ensemble_horizon, 0, 86400)
        check_number("ensemble_late_share", self.ensemble_late_share, 0, 1, open_above=True)
        check_integer("ensemble_neighbourhood", self.ensemble_neighbourhood, 0, 1_000_000)
        check_integer("ensemble_mfe_length", self.ensemble_mfe_length, 0, 100_000)
        for name, choices in (("ensemble_objective", OBJECTIVES), ("ensemble_sites", SITE_CHOICES)):
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {choices}, got {getattr(self, name)!r}")

    @property
    def window(self) -> int:
        """Width of the observation window."""
        return 2 * self.state_radius + 1

    @property
    def num_actions(self) -> int:
        """Size of the action space."""
        return 6 if self.gu_pairs else 4


@dataclass(frozen=True)
class TargetEncoding:
    """A target prepared for fast episodes: decision sites, partners and padded codes.

    Attributes:
        target: The target.
        sites: Decision sites in visiting order (every site but closing brackets).
        partners: Partner of each decision site, -1 where the site is unpaired.
        padded: The target's codes padded by ``state_radius`` on both sides.
        constraints: What every design must satisfy (IUPAC codes from the target).
        masks: Allowed actions per decision site, ``(num_steps, num_actions)``: the IUPAC
            codes, and with GU pairs actions 4 and 5 nowhere but at paired sites.
    """

    target: Target
    sites: np.ndarray
    partners: np.ndarray
    padded: np.ndarray = field(repr=False)
    constraints: DesignConstraints = field(default_factory=DesignConstraints)
    masks: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def build(
        cls,
        target: Target,
        config: RnaDesignConfig,
        constraints: DesignConstraints | None = None,
    ) -> TargetEncoding:
        """Precompute the encoding of ``target`` under ``config``.

        Args:
            target: The target (its ``constraint`` gives the IUPAC codes).
            config: MDP settings.
            constraints: GC and motif rules (their IUPAC codes are replaced by the target's).

        Raises:
            envs.constraints.ConstraintError: the constraints cannot be met on this target.
        """
        pairs = pair_table(target.structure)
        closing = np.array([c == ")" for c in target.structure])
        sites = np.flatnonzero(~closing)
        if config.encoding == "tokens":
            codes = np.array([TOKENS[c] for c in target.structure], dtype=np.int64)
            pad = PAD_TOKEN
        else:
            codes = (pairs >= 0).astype(np.int64)
            pad = 0
        padded = np.full(len(codes) + 2 * config.state_radius, pad, dtype=np.int64)
        padded[config.state_radius : config.state_radius + len(codes)] = codes
        rules = (constraints or DesignConstraints()).with_sequence(target.constraint)
        check_feasible(target.structure, rules, config.gu_pairs, source=f"target {target.id}")
        masks = action_masks(
            target.structure, sites, pairs[sites], rules.sequence, config.num_actions
        )
        return cls(target, sites, pairs[sites], padded, rules, masks)

    @property
    def masked(self) -> bool:
        """Whether some action is forbidden somewhere (a constraint, or GU actions at loops)."""
        return self.masks is not None and not bool(self.masks.all())

    def refusal(self, step: int, action: int) -> str | None:
        """Why ``action`` is masked at decision ``step``, or None when it is allowed.

        Args:
            step: The decision step (an index into :attr:`sites`).
            action: The action.

        Returns:
            A message naming the action and the (1-based) position, or None.
        """
        if self.masks is None or self.masks[step, action]:
            return None
        site = int(self.sites[step])
        if self.partners[step] < 0 and action >= UNPAIRED_ACTIONS:
            return (
                f"action {action} at position {site + 1} is masked: position {site + 1} is "
                f"unpaired, and actions {UNPAIRED_ACTIONS}-5 (GU, UG) set base pairs only"
            )
        sequence = self.constraints.sequence
        code = sequence[site] if sequence is not None else "N"
        return f"action {action} at position {site + 1} breaks the sequence constraint {code!r}"

    @property
    def num_steps(self) -> int:
        """Episode length: the number of decision sites."""
        return len(self.sites)

    def window(self, step: int, width: int, letters: np.ndarray | None = None) -> np.ndarray:
        """Observation codes at decision ``step`` (a fresh array).

        Args:
            step: The decision step (clipped to the last one).
            width: The window's width.
            letters: A padded letter row (``observe_letters``) whose codes join the
                structure's (:func:`with_letters`); None: the structure alone.
        """
        start = self.sites[min(step, self.num_steps - 1)]
        if letters is None:
            return self.padded[start : start + width].copy()
        return with_letters(self.padded[start : start + width], letters[start : start + width])

    def observations(self, config: RnaDesignConfig) -> np.ndarray:
        """Every decision step's observation, ``(num_steps, window)``, as the env gives it.

        With ``observe_letters`` these are the windows before any letter is written (what
        an episode sees depends on its own letters).

        Args:
            config: The MDP settings (the window's width and the observation dtype).
        """
        windows = [self.window(step, config.window) for step in range(self.num_steps)]
        return np.stack(windows).astype(observation_space(config).dtype)

    def blank_letters(self) -> np.ndarray:
        """A padded letter row with nothing written (``observe_letters``), int64 zeros."""
        return np.zeros(len(self.padded), dtype=np.int64)


def write_letters(
    letters: np.ndarray, sites: np.ndarray, partners: np.ndarray, actions: np.ndarray, radius: int
) -> None:
    """Write the letter codes of one decision per row into padded letter rows.

    Args:
        letters: ``(n, width)`` letter codes, padded by ``radius`` on the left (changed).
        sites: Each row's decision site (a position of its target).
        partners: The site's partner, -1 where it is unpaired.
        actions: Each row's action (LEARNA's: ``GAUC`` at a loop, ``GC CG AU UA GU UG`` at
            a pair).
        radius: The padding (``state_radius``).
    """
    rows = np.arange(len(sites))
    paired = partners >= 0
    unpaired = _UNPAIRED_CODES[np.minimum(actions, len(_UNPAIRED_CODES) - 1)]
    letters[rows, sites + radius] = np.where(paired, _FIRST_CODES[actions], unpaired)
    letters[rows[paired], partners[paired] + radius] = _SECOND_CODES[actions[paired]]


def with_letters(windows: np.ndarray, letters: np.ndarray) -> np.ndarray:
    """Observation codes: structure ``windows`` plus :data:`LETTER_STRIDE` times ``letters``."""
    return windows + LETTER_STRIDE * letters


def actions_to_sequence(encoding: TargetEncoding, actions: np.ndarray) -> str:
    """Turn one action per decision site into the designed sequence.

    Args:
        encoding: The target's encoding.
        actions: Integer actions, one per decision site.

    Returns:
        The RNA sequence.

    Raises:
        ValueError: an action of 4 or more (a GU pair) at an unpaired site.
    """
    actions = np.asarray(actions, dtype=np.int64)
    sequence = np.zeros(len(encoding.target), dtype=np.uint8)
    paired = encoding.partners >= 0
    unpaired = ~paired
    loop_actions = actions[unpaired]
    if loop_actions.size and loop_actions.max() >= UNPAIRED_ACTIONS:
        row = int(np.flatnonzero(loop_actions >= UNPAIRED_ACTIONS)[0])
        site = int(encoding.sites[unpaired][row])
        raise ValueError(
            f"action {int(loop_actions[row])} at unpaired position {site + 1}: only actions "
            f"0-{UNPAIRED_ACTIONS - 1} (G, A, U, C) are valid at an unpaired site"
        )
    sequence[encoding.sites[unpaired]] = UNPAIRED[loop_actions]
    sequence[encoding.sites[paired]] = PAIR_FIRST[actions[paired]]
    sequence[encoding.partners[paired]] = PAIR_SECOND[actions[paired]]
    return sequence.tobytes().decode("ascii")


def sequence_to_actions(encoding: TargetEncoding, sequence: str, num_actions: int) -> np.ndarray:
    """The actions that write ``sequence`` (the inverse of :func:`actions_to_sequence`).

    Args:
        encoding: The target's encoding.
        sequence: A design of the target (``ACGU``; ``T`` is read as ``U``, case ignored).
        num_actions: The action space's size: 4 (no GU pairs) or 6.

    Returns:
        ``(num_steps,)`` int64 actions, one per decision site.

    Raises:
        ValueError: the sequence is not as long as the target, holds a letter other than
            ``ACGU``, pairs two letters at a target pair that cannot pair, or a GU pair
            while ``num_actions`` is 4 (the message names the 1-based position).
    """
    target = encoding.target
    sequence = sequence.upper().replace("T", "U")
    if len(sequence) != len(target):
        raise ValueError(
            f"a sequence of {len(sequence)} nt for target {target.id} of {len(target)} nt"
        )
    wrong = next((i for i, c in enumerate(sequence) if c not in UNPAIRED_LETTERS), None)
    if wrong is not None:
        raise ValueError(
            f"position {wrong + 1} of the design of target {target.id} is "
            f"{sequence[wrong]!r}, not one of A, C, G, U"
        )
    pairs = PAIRS[:num_actions]
    actions = np.empty(encoding.num_steps, dtype=np.int64)
    for step, (site, partner) in enumerate(zip(encoding.sites, encoding.partners)):
        if partner < 0:
            actions[step] = UNPAIRED_LETTERS.index(sequence[site])
            continue
        pair = sequence[site] + sequence[partner]
        if pair not in pairs:
            raise ValueError(
                f"positions {site + 1} and {partner + 1} of the design of target {target.id} "
                f"are {pair}, which is not one of the action space's pairs ({' '.join(pairs)})"
            )
        actions[step] = pairs.index(pair)
    return actions


def site_scores(encoding: TargetEncoding, structure: str) -> np.ndarray:
    """Whether each decision's site folds as the target has it, one 0/1 per step.

    Args:
        encoding: The target's encoding (its decision sites and their partners).
        structure: The design's MFE structure (dot-bracket, as long as the target).

    Returns:
        ``(num_steps,)`` float32: 1 where the step's site is unpaired in both, or paired
        with the target's partner (the partner then has the site too), else 0.

    Raises:
        ValueError: ``structure`` is not as long as the target.
    """
    if len(structure) != len(encoding.target):
        raise ValueError(
            f"structure of length {len(structure)} for target {encoding.target.id} of "
            f"length {len(encoding.target)}"
        )
    folded = pair_table(structure)[encoding.sites]
    return (folded == encoding.partners).astype(np.float32)


def reward(distance: int, length: int, exponent: float) -> float:
    """LEARNA's terminal reward (1 - d/n) ** alpha."""
    return float((1.0 - distance / length) ** exponent)


def observation_space(config: RnaDesignConfig) -> gym.spaces.Box:
    """The observation space: a window of codes (int64 tokens or float32 binary)."""
    if config.encoding == "tokens":
        high = PAD_TOKEN + LETTER_STRIDE * len(LETTERS) if config.observe_letters else PAD_TOKEN
        return gym.spaces.Box(0, high, shape=(config.window,), dtype=np.int64)
    return gym.spaces.Box(0.0, 1.0, shape=(config.window,), dtype=np.float32)


def as_targets(targets: Sequence[Target | str] | Target | str) -> list[Target]:
    """Normalize targets given as Target objects or dot-bracket strings."""
    if isinstance(targets, (str, Target)):
        targets = [targets]
    result = [t if isinstance(t, Target) else Target(str(i + 1), t) for i, t in enumerate(targets)]
    if not result:
        raise ValueError("at least one target is needed")
    return result


class RnaDesignEnv(gym.Env):
    """Design an RNA sequence that folds into a target structure (LEARNA).

    ## Action Space
    ``Discrete(4)`` (``Discrete(6)`` with ``gu_pairs``). At an unpaired site the action picks
    G, A, U or C (actions 0-3); at an opening bracket it sets both partners to GC, CG, AU or
    UA (GU, UG). :meth:`action_masks` lists the allowed actions (sb3-contrib's MaskablePPO
    reads it): those an IUPAC sequence constraint allows, and with ``gu_pairs`` never
    actions 4 and 5 at an unpaired site (so :attr:`masked` is then always true). A masked
    action is refused with a ValueError, never taken silently.

    ## Observation Space
    A window of ``2 * state_radius + 1`` target symbols centred on the current site, padded
    beyond the ends: token codes 0-3 (``.()`` and padding) or the binary paired encoding.
    With ``observe_letters`` a token code also holds the letter written at its position so
    far: the token plus 4 times 1-4 for G, A, U, C (codes 0-19).

    ## Rewards
    0 until the last site; then (1 - d/n) ** reward_exponent, d the Hamming distance between
    the MFE structure of the design (after local improvement) and the target, n its length.

    ## Episode End
    Terminates when every site has a nucleotide. ``info`` then carries ``sequence``,
    ``structure`` (its MFE structure), ``distance``, ``solved``, ``valid`` (constraints
    met), ``target_id`` and ``folds``. GC and motif constraints are repaired before folding.

    Args:
        targets: One target or several (a new one is drawn at random at every reset); a
            target's ``constraint`` holds its IUPAC codes.
        config: MDP settings.
        constraints: GC-content and forbidden-motif rules for every target.
        energy: The energy model designs are folded under (None: ViennaRNA's default).
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        targets: Sequence[Target | str] | Target | str,
        config: RnaDesignConfig | None = None,
        constraints: DesignConstraints | None = None,
        energy: EnergyModel | None = None,
    ):
        self.config = config or RnaDesignConfig()
        self.energy = energy
        self.encodings = [
            TargetEncoding.build(t, self.config, constraints) for t in as_targets(targets)
        ]
        self.observation_space = observation_space(self.config)
        self.action_space = gym.spaces.Discrete(self.config.num_actions)
        self._encoding = self.encodings[0]
        self._actions: list[int] = []
        #: The letters written so far, padded as the target's codes (``observe_letters``).
        self._letters = self._encoding.blank_letters()

    @property
    def masked(self) -> bool:
        """Whether actions are masked: always with GU pairs, else under a constraint.

        The agent is then sb3-contrib's MaskablePPO (it must read :meth:`action_masks`).
        """
        return self.config.gu_pairs or any(encoding.masked for encoding in self.encodings)

    def _observation(self) -> np.ndarray:
        letters = self._letters if self.config.observe_letters else None
        window = self._encoding.window(len(self._actions), self.config.window, letters)
        return window.astype(self.observation_space.dtype)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start a new episode on a (randomly drawn, if several) target."""
        super().reset(seed=seed)
        self._encoding = self.encodings[int(self.np_random.integers(len(self.encodings)))]
        self._actions = []
        self._letters = self._encoding.blank_letters()
        return self._observation(), {"target_id": self._encoding.target.id}

    def action_masks(self) -> np.ndarray:
        """Allowed actions at the current site (all of them without GU pairs or a constraint)."""
        step = min(len(self._actions), self._encoding.num_steps - 1)
        return self._encoding.masks[step].copy()

    def step(self, action):
        """Assign the current site (and its partner, if paired)."""
        if not self.action_space.contains(action):
            raise ValueError(f"invalid action {action!r} for {self.action_space}")
        if len(self._actions) >= self._encoding.num_steps:
            raise RuntimeError("the episode is over: call reset() before step()")
        step = len(self._actions)
        refusal = self._encoding.refusal(step, int(action))
        if refusal is not None:
            raise ValueError(refusal)
        self._actions.append(int(action))
        if self.config.observe_letters:
            encoding, radius = self._encoding, self.config.state_radius
            sites, partners = encoding.sites[step : step + 1], encoding.partners[step : step + 1]
            write_letters(self._letters[None], sites, partners, np.array([int(action)]), radius)
        if len(self._actions) < self._encoding.num_steps:
            return self._observation(), 0.0, False, False, {}
        target = self._encoding.target
        sequence = actions_to_sequence(self._encoding, np.array(self._actions))
        outcome = evaluate_design(
            sequence,
            target.structure,
            self.config,
            int(self.np_random.integers(2**63)),
            self._encoding.constraints,
            self.energy,
        )
        info = finished_info(self._encoding, outcome, self.config)
        value = reward(outcome.distance, len(target), self.config.reward_exponent)
        return self._observation(), value, True, False, info


def finished_info(
    encoding: TargetEncoding, outcome: DesignOutcome, config: RnaDesignConfig
) -> dict[str, Any]:
    """The ``info`` of a finished episode.

    :func:`outcome_info`; with ``site_credit``, also the steps' :data:`RETURN_BONUS`
    (``site_credit`` times :func:`site_scores`).
    """
    info = outcome_info(encoding.target, outcome)
    if config.site_credit:
        info[RETURN_BONUS] = config.site_credit * site_scores(encoding, outcome.structure)
    return info


def outcome_info(target: Target, outcome: DesignOutcome) -> dict:
    """The ``info`` dict of a finished episode."""
    return {
        "target_id": target.id,
        "sequence": outcome.sequence,
        "structure": outcome.structure,
        "distance": outcome.distance,
        "solved": outcome.solved,
        "valid": outcome.valid,
        "folds": outcome.folds,
        "stage": outcome.stage,
    }
