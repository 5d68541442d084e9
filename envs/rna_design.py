"""The LEARNA decision process for RNA secondary-structure design (inverse folding).

The agent fills a sequence site by site, left to right. At an unpaired site it picks a
nucleotide; at an opening bracket it sets both partners of the base pair in one step, so
closing brackets are never visited. The decision sites of a target are therefore fixed
in advance, and an episode is just one action per decision site.

The pure helpers here (:class:`TargetEncoding`, :func:`actions_to_sequence`,
:func:`evaluate_design`) are shared by the single :class:`RnaDesignEnv` and the batched
:class:`envs.vector.RnaDesignVecEnv`.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np

from envs.constraints import (
    DesignConstraints,
    action_masks,
    check_feasible,
    repair,
    unit_options,
    violations,
)
from envs.dot_bracket import Target, pair_table
from envs.folding import EnergyModel, hamming, mfe_structure
from envs.refinement import refine

UNPAIRED = np.frombuffer(b"GAUC", dtype=np.uint8)
PAIRS = ("GC", "CG", "AU", "UA", "GU", "UG")
PAIR_FIRST = np.frombuffer("".join(p[0] for p in PAIRS).encode(), dtype=np.uint8)
PAIR_SECOND = np.frombuffer("".join(p[1] for p in PAIRS).encode(), dtype=np.uint8)
TOKENS = {".": 0, "(": 1, ")": 2}
PAD_TOKEN = 3
ENCODINGS = ("tokens", "binary")


@dataclass(frozen=True)
class RnaDesignConfig:
    """Settings of the RNA design MDP.

    Attributes:
        state_radius: The agent sees 2r+1 target symbols centred on the current site.
        reward_exponent: alpha in the terminal reward (1 - d/n) ** alpha.
        encoding: ``tokens`` (codes 0-3 for ``.()`` and padding, for an embedding) or
            ``binary`` (1 paired, 0 unpaired or padding), as in LEARNA.
        gu_pairs: Offer GU and UG wobble pairs at paired sites (6 actions instead of 4).
        local_improvement: Run local improvement when 0 < d <= this many sites; 0 disables it.
        local_improvement_budget: Most folds one local improvement may spend. When all
            assignments of the mismatched sites fit, all are tried (LEARNA's exhaustive
            search); otherwise this many are drawn at random.
        refinement_budget: Most folds the refinement stage (:mod:`envs.refinement`, an
            adaptive walk around the mismatched sites) may spend on a batch's closest
            design after local improvement; 0 (the published configurations) disables it.
            ``autorl design`` and the benchmark runner turn it on (``--refine``).
        refinement_distance: The walk runs only on a design within this many mismatched
            sites (twice local improvement's reach by default: it changes one unit at a
            time, so it can afford designs local improvement cannot enumerate).
    """

    state_radius: int = 32
    reward_exponent: float = 9.34
    encoding: str = "tokens"
    gu_pairs: bool = False
    local_improvement: int = 5
    local_improvement_budget: int = 64
    refinement_budget: int = 0
    refinement_distance: int = 10

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
        if isinstance(self.refinement_budget, bool) or not isinstance(self.refinement_budget, int):
            raise ValueError(
                f"refinement_budget must be an integer, got {self.refinement_budget!r}"
            )
        if self.refinement_budget < 0 or self.refinement_distance < 1:
            raise ValueError(
                "refinement_budget must be >= 0 and refinement_distance >= 1, got "
                f"{self.refinement_budget} and {self.refinement_distance}"
            )

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
        masks: Allowed actions per decision site, ``(num_steps, num_actions)``.
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
        """Whether some action is forbidden somewhere."""
        return self.masks is not None and not bool(self.masks.all())

    @property
    def num_steps(self) -> int:
        """Episode length: the number of decision sites."""
        return len(self.sites)

    def window(self, step: int, width: int) -> np.ndarray:
        """Observation codes at decision ``step`` (a fresh array)."""
        start = self.sites[min(step, self.num_steps - 1)]
        return self.padded[start : start + width].copy()


def actions_to_sequence(encoding: TargetEncoding, actions: np.ndarray) -> str:
    """Turn one action per decision site into the designed sequence.

    Args:
        encoding: The target's encoding.
        actions: Integer actions, one per decision site.

    Returns:
        The RNA sequence.
    """
    actions = np.asarray(actions, dtype=np.int64)
    sequence = np.zeros(len(encoding.target), dtype=np.uint8)
    paired = encoding.partners >= 0
    unpaired = ~paired
    sequence[encoding.sites[unpaired]] = UNPAIRED[actions[unpaired] % 4]
    sequence[encoding.sites[paired]] = PAIR_FIRST[actions[paired]]
    sequence[encoding.partners[paired]] = PAIR_SECOND[actions[paired]]
    return sequence.tobytes().decode("ascii")


@dataclass(frozen=True)
class DesignOutcome:
    """The evaluation of one designed sequence.

    Attributes:
        sequence: The final sequence (after local improvement, when it helped).
        structure: Its MFE structure.
        distance: Hamming distance between ``structure`` and the target.
        folds: Number of ``RNA.fold`` calls spent.
        valid: Whether ``sequence`` satisfies every constraint (a design that does not is
            never a solution).
    """

    sequence: str
    structure: str
    distance: int
    folds: int
    valid: bool = True

    @property
    def solved(self) -> bool:
        """Folds into the target and satisfies every constraint."""
        return self.distance == 0 and self.valid


def _site_options(
    structure: str,
    pairs: np.ndarray,
    sites: list[int],
    gu_pairs: bool,
    constraint: str | None = None,
):
    """Mutation units for the mismatched sites: a pair is mutated as a pair, once.

    Each unit's options are those its IUPAC codes allow (all, without a constraint).
    """
    all_units, all_options = unit_options(structure, constraint, gu_pairs)
    options_of = {site: option for (site, _), option in zip(all_units, all_options)}
    units: list[tuple[int, int]] = []
    seen: set[int] = set()
    for site in sites:
        partner = int(pairs[site])
        first = min(site, partner) if partner >= 0 else site
        if first in seen:
            continue
        seen.add(first)
        units.append((first, max(site, partner) if partner >= 0 else -1))
    return units, [options_of[first] for first, _ in units]


def local_improvement(
    sequence: str,
    structure: str,
    folded: str,
    rng: np.random.Generator,
    budget: int,
    gu_pairs: bool = False,
    deadline: float | None = None,
    constraints: DesignConstraints | None = None,
    energy: EnergyModel | None = None,
) -> DesignOutcome:
    """Try assignments of the mismatched sites and keep the best sequence.

    Unlike the original LEARNA code, the improved sequence is returned, not only its
    distance. Paired target sites are mutated together with their partner as a valid pair.
    Under constraints only moves that keep every constraint are tried: the IUPAC codes
    limit each site's options, and a candidate outside the GC range or containing a
    forbidden motif is skipped without folding.

    Args:
        sequence: The designed sequence.
        structure: The target structure.
        folded: The MFE structure of ``sequence``.
        rng: Source of randomness when the assignments exceed ``budget``.
        budget: Most folds to spend.
        gu_pairs: Allow GU/UG when re-assigning pairs.
        deadline: ``time.monotonic()`` value after which no further fold is started.
        constraints: Constraints every candidate must keep.
        energy: The energy model to fold under.

    Returns:
        The best outcome found (the original one if nothing was better).
    """
    rules = constraints or DesignConstraints()
    best = DesignOutcome(sequence, folded, hamming(folded, structure), 0)
    mismatched = [i for i, (a, b) in enumerate(zip(folded, structure)) if a != b]
    units, options = _site_options(
        structure, pair_table(structure), mismatched, gu_pairs, rules.sequence
    )
    total = math.prod(len(o) for o in options)  # exact: 4**32 overflows int64
    if total <= budget:
        candidates = itertools.product(*options)
    else:
        candidates = (tuple(o[rng.integers(len(o))] for o in options) for _ in range(budget))
    chars = list(sequence)
    folds = 0
    for assignment in candidates:
        if deadline is not None and time.monotonic() >= deadline:
            break
        mutated = chars.copy()
        for (site, partner), choice in zip(units, assignment):
            mutated[site] = choice[0]
            if partner >= 0:
                mutated[partner] = choice[1]
        candidate = "".join(mutated)
        if candidate == sequence or (rules.needs_repair and violations(candidate, rules)):
            continue
        new_folded = mfe_structure(candidate, energy)
        folds += 1
        distance = hamming(new_folded, structure)
        if distance < best.distance:
            best = DesignOutcome(candidate, new_folded, distance, 0)
            if distance == 0:
                break
    return DesignOutcome(best.sequence, best.structure, best.distance, folds)


#: One design to evaluate: ``(sequence, structure, config, seed)``, optionally followed by
#: its :class:`DesignConstraints` and :class:`EnergyModel`.
Job = tuple


def _unpack(
    job: Job,
) -> tuple[str, str, RnaDesignConfig, int, DesignConstraints, EnergyModel | None]:
    sequence, structure, config, seed, *rest = job
    constraints = rest[0] if rest and rest[0] is not None else DesignConstraints()
    energy = rest[1] if len(rest) > 1 else None
    return sequence, structure, config, seed, constraints, energy


def evaluate_design(
    sequence: str,
    structure: str,
    config: RnaDesignConfig,
    seed: int,
    constraints: DesignConstraints | None = None,
    energy: EnergyModel | None = None,
) -> DesignOutcome:
    """Fold a design, apply local improvement when it is close, and report the result.

    A module-level function so that worker processes can run it.

    Args:
        sequence: The designed sequence.
        structure: The target structure.
        config: Environment settings (local improvement threshold and budget).
        seed: Seed for the local improvement's random draws.
        constraints: What the design must satisfy (GC and motifs are repaired first).
        energy: The energy model to fold under (None: ViennaRNA's default).

    Returns:
        The outcome, counting every fold spent.
    """
    return evaluate_batch([(sequence, structure, config, seed, constraints, energy)])[0]


def evaluate_batch(
    jobs: list[Job],
    deadline: float | None = None,
    stop_at_solution: bool = False,
) -> list[DesignOutcome]:
    """:func:`evaluate_design` over ``(sequence, structure, config, seed[, constraints, energy])``.

    A design that breaks a GC or motif constraint is repaired first (:func:`envs.constraints.
    repair`, seeded by the job), then every design is folded; local improvement then runs
    on the close ones, closest first. A batch of 64 designs that are all close can cost
    thousands of folds (minutes on a 400 nt target), so a design loop may bound it: past
    ``deadline`` no further fold is started, and with ``stop_at_solution`` local
    improvement ends once a design in the batch is solved. Without them, the outcomes are
    those of :func:`evaluate_design` on each job alone (each job's draws come from its own
    seed).

    Lives here, away from torch and SB3, so that folding worker processes start quickly.

    Args:
        jobs: One tuple per design.
        deadline: ``time.monotonic()`` value after which local improvement stops.
        stop_at_solution: End local improvement as soon as any design is solved.

    Returns:
        One outcome per job, in order, counting every fold spent.
    """
    unpacked = [_unpack(job) for job in jobs]
    outcomes = []
    for index, (sequence, structure, config, seed, rules, energy) in enumerate(unpacked):
        if rules.needs_repair:
            repair_rng = np.random.default_rng([seed, 1])
            sequence = repair(sequence, structure, rules, repair_rng, config.gu_pairs)
            unpacked[index] = (sequence, structure, config, seed, rules, energy)
        folded = mfe_structure(sequence, energy)
        valid = rules.empty or not violations(sequence, rules)
        outcomes.append(DesignOutcome(sequence, folded, hamming(folded, structure), 1, valid))
    close = [
        index
        for index, (outcome, job) in enumerate(zip(outcomes, unpacked))
        if outcome.valid and 0 < outcome.distance <= job[2].local_improvement
    ]
    for index in sorted(close, key=lambda i: outcomes[i].distance):
        if stop_at_solution and any(o.solved for o in outcomes):
            break
        if deadline is not None and time.monotonic() >= deadline:
            break
        sequence, structure, config, seed, rules, energy = unpacked[index]
        plain = outcomes[index]
        improved = local_improvement(
            sequence,
            structure,
            plain.structure,
            np.random.default_rng(seed),
            config.local_improvement_budget,
            config.gu_pairs,
            deadline,
            rules,
            energy,
        )
        outcomes[index] = DesignOutcome(
            improved.sequence, improved.structure, improved.distance, 1 + improved.folds
        )
    walkable = [
        index
        for index, (outcome, job) in enumerate(zip(outcomes, unpacked))
        if outcome.valid and 0 < outcome.distance <= job[2].refinement_distance
    ]
    _refine_close(outcomes, unpacked, walkable, deadline, stop_at_solution)
    return outcomes


def _refine_close(
    outcomes: list[DesignOutcome],
    jobs: list[tuple],
    close: list[int],
    deadline: float | None,
    stop_at_solution: bool,
) -> None:
    """Refine the closest of the ``close`` designs (one per batch).

    One per batch keeps a batch's cost bounded by one refinement budget; the design loop
    sees many batches, each giving its best near-miss a walk.
    """
    candidates = [i for i in close if outcomes[i].distance > 0]
    if stop_at_solution and any(o.solved for o in outcomes):
        return
    for index in sorted(candidates, key=lambda i: outcomes[i].distance)[:1]:
        sequence, structure, config, seed, rules, energy = jobs[index]
        outcome = outcomes[index]
        if config.refinement_budget == 0:
            continue
        if deadline is not None and time.monotonic() >= deadline:
            break
        refined, folded, distance, folds = refine(
            outcome.sequence,
            structure,
            outcome.structure,
            np.random.default_rng([seed, 2]),
            config.refinement_budget,
            config.gu_pairs,
            deadline,
            rules,
            energy,
        )
        outcomes[index] = DesignOutcome(refined, folded, distance, outcome.folds + folds)


def reward(distance: int, length: int, exponent: float) -> float:
    """LEARNA's terminal reward (1 - d/n) ** alpha."""
    return float((1.0 - distance / length) ** exponent)


def observation_space(config: RnaDesignConfig) -> gym.spaces.Box:
    """The observation space: a window of codes (int64 tokens or float32 binary)."""
    if config.encoding == "tokens":
        return gym.spaces.Box(0, PAD_TOKEN, shape=(config.window,), dtype=np.int64)
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
    G, A, U or C; at an opening bracket it sets both partners to GC, CG, AU or UA (GU, UG).
    Under an IUPAC sequence constraint, :meth:`action_masks` lists the allowed actions
    (sb3-contrib's MaskablePPO reads it); a forbidden action is refused with a ValueError,
    never taken silently.

    ## Observation Space
    A window of ``2 * state_radius + 1`` target symbols centred on the current site, padded
    beyond the ends: token codes 0-3 (``.()`` and padding) or the binary paired encoding.

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

    def _observation(self) -> np.ndarray:
        window = self._encoding.window(len(self._actions), self.config.window)
        return window.astype(self.observation_space.dtype)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start a new episode on a (randomly drawn, if several) target."""
        super().reset(seed=seed)
        self._encoding = self.encodings[int(self.np_random.integers(len(self.encodings)))]
        self._actions = []
        return self._observation(), {"target_id": self._encoding.target.id}

    def action_masks(self) -> np.ndarray:
        """Allowed actions at the current site (all, without a sequence constraint)."""
        step = min(len(self._actions), self._encoding.num_steps - 1)
        return self._encoding.masks[step].copy()

    def step(self, action):
        """Assign the current site (and its partner, if paired)."""
        if not self.action_space.contains(action):
            raise ValueError(f"invalid action {action!r} for {self.action_space}")
        if len(self._actions) >= self._encoding.num_steps:
            raise RuntimeError("the episode is over: call reset() before step()")
        if not self._encoding.masks[len(self._actions), int(action)]:
            site = int(self._encoding.sites[len(self._actions)])
            raise ValueError(
                f"action {int(action)} at position {site + 1} breaks the sequence constraint "
                f"{self._encoding.constraints.sequence[site]!r}"
            )
        self._actions.append(int(action))
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
        info = outcome_info(target, outcome)
        value = reward(outcome.distance, len(target), self.config.reward_exponent)
        return self._observation(), value, True, False, info


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
    }
