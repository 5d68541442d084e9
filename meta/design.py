"""The design loop: run an agent on one target until it is solved or time runs out.

Methods (Runge et al. 2019):

- ``learna``: PPO from scratch on the target.
- ``meta-learna``: sample designs from a meta-trained policy, without learning.
- ``meta-learna-adapt``: continue PPO on the target from the meta-trained weights.
- ``stages``: no policy at all: the targeted starts, then the ensemble stage for the whole
  run. An ablation baseline that measures what the policy adds; it is not LEARNA.

The meta methods use a checkpoint (:mod:`meta.checkpoints`; default: the shipped model).
Every finished episode's design is checked, so the first sequence whose MFE structure
equals the target ends the search (or is collected, until ``num_solutions`` distinct
solutions are found).

Constraints (:mod:`envs.constraints`) are honoured inside the decision process: with an
IUPAC sequence constraint the agent is sb3-contrib's MaskablePPO, which never samples a
forbidden action (the pretrained weights load unchanged; a recurrent policy,
``lstm_mode="episode"``, cannot mask and is refused there); GC and motif rules are repaired
before a design is folded, and a design that still breaks one is never a solution.

The time limit holds from the call of :func:`design` to its return, whatever the agent:
a PPO update cannot be interrupted, so it is started only when it is expected to end before
the deadline (the first one is timed on a few minibatches before it runs, later ones on the
previous update); when none fits, the policy samples designs until the deadline instead. A
batch's folds stop at the deadline (:class:`envs.vector.RnaDesignVecEnv`), a restart that
could not produce a design in time is not made, and the scoring of the reported designs
(``metrics``) has its time set aside. ``max_episodes`` bounds the designs evaluated instead
of (or as well as) the time.

With more than one folding process the PPO loop is pipelined (``pipeline``, on by default):
each batch of designs folds in the background while the policy updates on the batch before
and samples the next (:func:`meta.pipelined_learning.learn_one_behind`), so the policy that
samples a batch is one update behind the one trained on it. The ensemble stage's turns
still come between batches, once the batch in flight is back.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback, CallbackList

from envs.constraints import DesignConstraints, repair, violations
from envs.dot_bracket import Target
from envs.ensemble_search import EnsembleSearch, run_islands
from envs.evaluation import ENSEMBLE, POLICY, TARGETED_START
from envs.execution import Executor, ProcessExecutor, Unit, run_until
from envs.folding import EnergyModel, hamming, mfe_structure
from envs.rna_design import RnaDesignConfig, TargetEncoding
from envs.targeted_start import TargetedStarts
from envs.vector import RnaDesignVecEnv
from meta.checkpoints import Checkpoint, CheckpointError, load_checkpoint, load_weights
from meta.config import LEARNA, STAGE_OPTION_KEYS, LearnaConfig, with_stage_options
from meta.deferred_rewards import PendingRewards, ReturnBonuses
from meta.numpy_ppo import blas_limit, time_minibatch
from meta.pipelined_learning import learn_one_behind
from meta.quality import RANKINGS, DesignedSequence, rank_designs
from meta.rna_agent import RNA_AGENT
from policies.config import PolicyConfig
from policies.device import resolve_device

if TYPE_CHECKING:
    from policies.recurrent import EpisodeMemory

#: Design methods implemented by :func:`design`.
METHODS = ("learna", "meta-learna", "meta-learna-adapt", "stages")

#: The method without a policy: the stages alone (an ablation baseline).
STAGES = "stages"

#: The methods that start from a meta-trained checkpoint.
META_METHODS = ("meta-learna", "meta-learna-adapt")

#: Folds the refinement stage (:mod:`envs.refinement`) may spend per batch's closest
#: near-miss when a design is run from ``autorl design``, the API or the benchmark runner
#: (the published configurations have it off; ``--refine 0`` turns it off).
DEFAULT_REFINEMENT = 200

#: Share of a design run's time that ``autorl design``, ``autorl.api`` and the benchmark
#: runner give the ensemble refinement stage (:mod:`envs.ensemble_search`); this module's
#: :func:`design` keeps the configuration's (0, off, in the published configurations).
DEFAULT_ENSEMBLE_SHARE = 0.5
#: SAMFEO's targeted starts (G-C/C-G pairs, A loops) that ``autorl design``, ``autorl.api``
#: and the benchmark runner add to the ensemble stage's pool at its first turn; this
#: module's :func:`design` keeps the configuration's (0 in the published configurations).
DEFAULT_ENSEMBLE_STARTS = 10
#: Targeted starts that ``autorl design``, ``autorl.api`` and the benchmark runner fold
#: before the policy's first batch; this module's :func:`design` keeps the configuration's
#: (0 in the published configurations).
DEFAULT_QUICK_STARTS = 3
#: Share of the ensemble stage's steps that are competitor steps (walks on folding
#: energies against the wrong structures met) when a design is run from ``autorl design``,
#: ``autorl.api`` or the benchmark runner; this module's :func:`design` keeps the
#: configuration's (0 in the published configurations).
DEFAULT_ENSEMBLE_RIVALS = 0.5
#: The ensemble stage's share of a design run's time once the schedule's horizon
#: (``ensemble_horizon``, 10 s) has passed, when a design is run from ``autorl design``,
#: ``autorl.api`` or the benchmark runner; this module's :func:`design` keeps the
#: configuration's (0: ``ensemble_share`` throughout). After 5 s on Eterna100-v2 every
#: solve is the stage's (session 41's ``found_by``), so the policy keeps a tenth.
DEFAULT_ENSEMBLE_LATE_SHARE = 0.9
#: LEARNA's local improvement (refold the alternatives of the mismatched sites of every
#: design within this Hamming distance of the target) when a design is run from ``autorl
#: design``, ``autorl.api`` or the benchmark runner: off. The walk and the ensemble stage
#: search the same near-misses, and with it off the policy's loop runs about 1.5 times as
#: many episodes per second at 100 nt; back to back in session 50 the benchmarks tied
#: (388 solves without it, 390 with it, of 429 target-runs; docs/results/i14an). This
#: module's :func:`design` keeps the configuration's (5 in the published configurations
#: and the shipped model's).
DEFAULT_LOCAL_IMPROVEMENT = 0
#: With more than one folding process, each PPO update runs while the next batch of designs
#: folds, one rollout behind (:func:`_learn_pipelined`): on 100-nt targets with 2 processes
#: the loop ran 1.17-1.24 times as many episodes per second in session 51 (README,
#: throughput). :func:`design` and its callers use it unless told otherwise.
DEFAULT_PIPELINE = True
#: Designs of one rollout (the closest) offered to the ensemble search at its next turn.
_OFFERS_PER_TURN = 3
#: Seconds of the first slice of the stage's islands when it runs alone (``stages``).
_FIRST_SLICE = 1.0

#: The first PPO update is expected to take this many times its timed minibatches.
_FIRST_UPDATE_SAFETY = 1.5
#: Later updates are expected to take this many times the slowest of the last few.
_UPDATE_SAFETY = 1.2
#: Measured updates the estimate of the next one looks back on.
_UPDATE_HISTORY = 3
#: Seconds added to every update estimate (timer resolution, scheduling).
_UPDATE_SLACK = 0.05
#: Minibatch steps timed to estimate the first update (the first is a warm-up).
_TIMED_MINIBATCHES = 4
#: Seconds set aside per reported design for its scoring, in folds of the target.
_MEASURE_FOLDS = 5
#: Seconds set aside for ending the run (closing the environment, ranking).
_TAIL_SECONDS = 0.02
#: The share of the time limit within which the targeted starts (``quick_starts``) are
#: folded before the policy, and the factor on a timed fold that the next must fit in.
QUICK_SHARE = 0.1
_FOLD_SAFETY = 2.0


@dataclass
class DesignResult:
    """The best design found for one target.

    Attributes:
        target_id: The target's id.
        target: The target structure.
        sequence: The best designed sequence (the first solution, if solved).
        structure: MFE structure of ``sequence``.
        distance: Hamming distance between ``structure`` and the target.
        solved: Whether ``structure`` equals the target.
        seconds: Seconds until the first solution, or the whole run if unsolved.
        episodes: Episodes (designs) evaluated.
        folds: ``RNA.fold`` calls spent (one per episode plus local improvement).
        solutions: Distinct solutions found, in order.
        method: The design method.
        seed: The seed of the run.
        designs: The reported designs with their quality (the solutions, ranked, or the
            best design when unsolved); empty when metrics were not asked for, or when no
            design met the constraints (a design that breaks one is never reported).
        constraints: The constraints the designs were made under.
        energy: The energy model designs were folded, verified and scored under.
        time_limit: The run's time limit in seconds (None: unbounded; ``to_dict`` writes
            None for an infinite limit, which JSON cannot hold).
        max_episodes: The run's episode budget (None: unbounded).
        found_by: The stage that made ``sequence`` (:data:`envs.evaluation.STAGES`: the
            policy's own design, local improvement, the refinement walk or the ensemble
            stage); empty while there is no design.
        settings: How the run was made: its stage options (the configuration's values
            after the options given, named as the options), ``workers``, ``device`` and
            whether its PPO loop was ``pipelined`` (:func:`design` fills it).
    """

    target_id: str
    target: str
    sequence: str = ""
    structure: str = ""
    distance: int = -1
    solved: bool = False
    seconds: float = 0.0
    episodes: int = 0
    folds: int = 0
    solutions: list[str] = field(default_factory=list)
    method: str = "learna"
    seed: int = 0
    designs: list[DesignedSequence] = field(default_factory=list)
    constraints: DesignConstraints = field(default_factory=DesignConstraints)
    energy: EnergyModel = field(default_factory=EnergyModel)
    time_limit: float | None = None
    max_episodes: int | None = None
    found_by: str = ""
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``length`` and normalized distance added)."""
        data = asdict(self)
        if self.time_limit is not None and not math.isfinite(self.time_limit):
            data["time_limit"] = None
        data["length"] = len(self.target)
        data["normalized_distance"] = self.distance / len(self.target) if self.sequence else 1.0
        data["designs"] = [d.to_dict() for d in self.designs]
        data["constraints"] = self.constraints.to_dict()
        data["energy"] = self.energy.to_dict()
        return data


@dataclass(frozen=True)
class DesignProgress:
    """A snapshot of a running design, for progress displays."""

    target_id: str
    episodes: int
    best_distance: int
    elapsed: float
    time_limit: float
    restarts: int


class _Tracker(BaseCallback):
    """Checks every finished episode, keeps the best design and stops when done.

    A PPO update cannot be interrupted, so at the last step of a rollout the run also stops
    when the update would end past the deadline (``state.no_update`` is then set): the first
    update's time is estimated before it runs, later ones from the previous update. A
    rollout with skipped designs (past the batch's time, reward 0 without a fold) makes no
    update either: the rest of the run samples designs (:func:`sample_designs`).
    """

    def __init__(self, state: _DesignState, train_threads: int | None):
        super().__init__()
        self.state = state
        self.train_threads = train_threads
        self._rollout_start = 0.0
        self._rollout_end = 0.0
        self._skipped = False

    def _on_rollout_start(self) -> None:
        self._rollout_start = time.monotonic()
        if self._rollout_end:
            self.state.update_took(self._rollout_start - self._rollout_end)
            self.state.refine_turn()  # after the update, before the next rollout
            self._rollout_start = time.monotonic()
        if self.train_threads is not None:
            torch.set_num_threads(1)  # sampling: one window per step, one thread is fastest

    def _on_rollout_end(self) -> None:
        self._rollout_end = time.monotonic()
        if self.train_threads is not None:
            torch.set_num_threads(self.train_threads)  # the folding workers are idle now

    def _on_step(self) -> bool:
        for info in self.locals["infos"]:
            if "distance" in info:
                self.state.record(info)
            elif info.get("skipped"):
                self._skipped = True
        if self.state.should_stop():
            return False
        if self.n_calls % self.model.n_steps == 0:  # the rollout is complete: an update next
            now = time.monotonic()
            self.state.rollout_seconds = now - self._rollout_start
            # No update on a rollout whose designs were skipped (reward 0, not a verdict).
            if now + self.state.update_budget > self.state.deadline or self._skipped:
                self.state.no_update = True
                return False
        return True


class _PipelineTracker(BaseCallback):
    """:class:`_Tracker`'s part in a pipelined design loop (:func:`_learn_pipelined`).

    Designs are recorded as their batch's rewards come back (:class:`meta.deferred_rewards.
    PendingRewards`), and the update's deadline check runs before each update
    (``before_update``); this callback stops the sampling when the run is done and gives the
    ensemble stage its turn after each update, once the folds in flight are back (the stage
    folds on the same processes).
    """

    def __init__(self, state: _DesignState, env: RnaDesignVecEnv, rewards: PendingRewards):
        super().__init__()
        self.state, self.env, self.rewards = state, env, rewards
        self._rollout_start = 0.0
        self._started = False

    def _on_rollout_start(self) -> None:
        if self._started and self.state.stage_due():
            self.rewards.receive(self.env.collect(block=True))
        if self._started:
            self.state.refine_turn()  # after the update, before the next rollout
        self._started = True
        self._rollout_start = time.monotonic()

    def _on_step(self) -> bool:
        if self.state.should_stop():
            return False
        if self.n_calls % self.model.n_steps == 0:
            self.state.rollout_seconds = time.monotonic() - self._rollout_start
        return True


class _DesignState:
    """Mutable bookkeeping of one design run, shared by restarts.

    ``end`` is the run's hard end (start + time limit); ``deadline``, the end of the search,
    is earlier by the time set aside for scoring the reported designs and ending the run.
    """

    def __init__(
        self,
        result: DesignResult,
        start: float,
        time_limit: float,
        num_solutions: int,
        on_improvement: Callable[[DesignResult], None] | None,
        on_progress: Callable[[DesignProgress], None] | None,
        max_episodes: int | None = None,
        metrics: bool = False,
    ):
        self.result = result
        self.start = start
        self.end = start + time_limit
        self.deadline = self.end
        self.num_solutions = num_solutions
        self.on_improvement = on_improvement
        self.on_progress = on_progress
        self.time_limit = time_limit
        self.max_episodes = max_episodes
        self.metrics = metrics
        self.restart_deadline = math.inf
        self.restarts = 0
        #: The last rollout ended without an update: none would have ended by the deadline.
        self.no_update = False
        #: Seconds to allow for the next PPO update (with its safety margin).
        self.update_budget = 0.0
        #: Seconds the last agent took to build, and its last complete rollout.
        self.build_seconds = 0.0
        self.rollout_seconds = 0.0
        self._folds_seen: tuple[float | None, ...] = ()
        self._envs: list[RnaDesignVecEnv] = []
        self._updates: list[float] = []
        #: The ensemble refinement stage (None: off) and its share of the run's time.
        self.search: EnsembleSearch | None = None
        self.share = 0.0
        #: The stage's share once the horizon has passed (0: ``share`` throughout).
        self.late_share = 0.0
        #: Seconds the schedule plans ahead at least (inf: the whole run; see add_search).
        self.horizon = math.inf
        #: The closest valid designs since the stage's last turn, and when that turn ended.
        self._offers: list[tuple[int, str]] = []
        self._turn_end = start
        #: The stage that made each solution (the reported one may be any of them).
        self.solution_stages: dict[str, str] = {}
        #: The targeted starts folded (``fold_starts``): distance, sequence and seconds.
        self.starts_folded: list[tuple[int, str, float]] = []
        #: Where the stage's islands run when there are no folding processes of the policy
        #: to borrow (``stages``; None: in this process).
        self.stage_executor: Executor | None = None
        #: What gives the policy's probabilities, and the share of the stage's letter draws
        #: that follow them (``use_policy``; None: no policy, or ``ensemble_prior`` 0).
        self._prior: tuple[Callable[[], np.ndarray | None], float] | None = None

    def add_search(
        self, search: EnsembleSearch, share: float, horizon: float = 0.0, late_share: float = 0.0
    ) -> None:
        """Interleave ``search`` with the policy, giving it ``share`` of the time.

        Each turn (after a PPO update, or after a sampled batch) the search gets the
        closest designs made since its last turn and runs for ``share / (1 - share)``
        times the time the policy took since then, never past the deadline. A policy batch
        may use at most ``1 - share`` of the time the schedule plans for: what is left of
        the run, or with a ``horizon`` (seconds; 0: none) at most ``max(horizon, time
        elapsed)``, so that the turns double in length from the horizon on and the
        run's first ``horizon`` seconds do not depend on its limit. With a ``late_share``
        in (0, 1) (and a horizon), the stage's share becomes that once the horizon has
        passed (0: ``share`` throughout).
        """
        if not 0.0 < share < 1.0:
            raise ValueError(f"the ensemble refinement share must be in (0, 1), got {share}")
        if not horizon >= 0:
            raise ValueError(f"the schedule's horizon must be >= 0 seconds, got {horizon}")
        if not 0.0 <= late_share < 1.0:
            raise ValueError(f"the late share must be in [0, 1), got {late_share}")
        self.search, self.share, self.late_share = search, share, late_share
        self.horizon = horizon or math.inf
        self._bound_batches()

    def bind(self, env: RnaDesignVecEnv) -> None:
        """Bound ``env``'s batches by this run's deadline, solutions and episode budget.

        Unbounded, a batch of close designs on a long target costs minutes of folds before
        any design is reported; the run ends there anyway.
        """
        env.stop_at_solution = self.num_solutions == 1
        env.episode_limit = self.max_episodes
        self._envs.append(env)
        self._set_deadline()

    def _set_deadline(self) -> None:
        """The search ends early enough to score what it reports (more as solutions grow).

        Scoring a design costs about :data:`_MEASURE_FOLDS` folds (the environments time
        their folds, so this follows their latest figure; without environments, the
        targeted starts' folds).
        """
        if math.isfinite(self.end):
            if self.metrics:
                self._folds_seen = tuple(env.fold_time() for env in self._envs) or tuple(
                    seconds for *_, seconds in self.starts_folded
                )
            reported = max(1, min(self.num_solutions, len(self.result.solutions) + 1))
            measure = _MEASURE_FOLDS * max(self._folds_seen, default=0.0)
            self.deadline = self.end - reported * measure - _TAIL_SECONDS
        self._bound_batches()

    def _bound_batches(self) -> None:
        """The policy's batches end by the deadline, leaving the stage its share.

        With the ensemble stage on, a batch may use at most ``1 - share`` of the time left
        since the stage's last turn: on a long target with a short limit one batch of the
        policy (64 folds, local improvement, the refinement walk) would otherwise fill the
        whole run, and the stage would never get its turn. Designs whose folds would end
        past that are skipped (and the rollout then makes no PPO update, see
        :class:`_Tracker`). The time left counts up to the schedule's horizon only (see
        :meth:`add_search`): otherwise the first batch of a 60-s run could take 30 s.
        """
        deadline = self.deadline
        if self.search is not None and not self.search.solved and math.isfinite(deadline):
            deadline = min(deadline, self._turn_end + (1 - self._share()) * self._planned())
        for env in self._envs:
            env.deadline = deadline

    def _planned(self) -> float:
        """The seconds the schedule plans from the stage's last turn (see :meth:`add_search`)."""
        return min(self.deadline - self._turn_end, max(self.horizon, self._turn_end - self.start))

    def _share(self) -> float:
        """The stage's share of the policy's batch that began when its last turn ended."""
        if self.late_share and self._turn_end - self.start >= self.horizon:
            return self.late_share
        return self.share

    def update_took(self, seconds: float) -> None:
        """The last PPO update took ``seconds``: allow the slowest recent one, with a margin."""
        self._updates = [*self._updates[1 - _UPDATE_HISTORY :], seconds]
        self.update_budget = _UPDATE_SAFETY * max(self._updates) + _UPDATE_SLACK

    def restart_fits(self) -> bool:
        """Whether a new agent could be built and finish a rollout before the deadline."""
        return time.monotonic() + self.build_seconds + self.rollout_seconds <= self.deadline

    @property
    def episodes_left(self) -> bool:
        return self.max_episodes is None or self.result.episodes < self.max_episodes

    def record(self, info: dict[str, Any]) -> None:
        if not self.episodes_left:
            return  # beyond the episode budget: never counted
        self.result.episodes += 1
        self.result.folds += int(info["folds"])
        distance = int(info["distance"])
        valid = bool(info.get("valid", True))
        stage = str(info.get("stage", POLICY))
        self._consider(info["sequence"], info["structure"], distance, valid, stage)
        if self.search is not None and valid:
            self.search.note(info["sequence"], info["structure"])  # feeds its grafts
        if self.search is not None and valid and distance > 0:
            self._offers = sorted([*self._offers, (distance, info["sequence"])])
            del self._offers[_OFFERS_PER_TURN:]

    def _consider(
        self, sequence: str, structure: str, distance: int, valid: bool, stage: str
    ) -> None:
        """Keep ``sequence`` (made by ``stage``) when it is a new solution or the closest yet."""
        result = self.result
        solved = distance == 0 and valid
        wanted = len(result.solutions) < self.num_solutions
        if solved and wanted and sequence not in result.solutions:
            result.solutions.append(sequence)
            self.solution_stages[sequence] = stage
            if self.num_solutions > 1:
                self._set_deadline()
        # A design that breaks a constraint (its repair failed) is never reported.
        if valid and (not result.sequence or distance < result.distance):
            result.sequence, result.structure = sequence, structure
            result.distance, result.solved = distance, solved
            result.found_by = stage
            result.seconds = time.monotonic() - self.start
            if self.on_improvement is not None:
                self.on_improvement(result)

    def fold_starts(self, starts: TargetedStarts, count: int, rng: np.random.Generator) -> None:
        """Fold up to ``count`` targeted starts before the policy (``quick_starts``).

        Each is one MFE fold, begun only while the run is not done, within the first
        :data:`QUICK_SHARE` of the time limit, and (after the first, which times them) only
        if it ends by the deadline. A start that breaks a GC or motif rule is repaired
        first, and skipped if that fails; a start drawn before is not folded again.
        """
        result, structure = self.result, self.result.target
        rules, energy = result.constraints, result.energy
        end = min(self.deadline, self.start + QUICK_SHARE * self.time_limit)
        fold, seen = 0.0, set()
        for _ in range(count):
            now = time.monotonic()
            if self.finished or now + _FOLD_SAFETY * fold > end:
                break
            sequence = starts.draw(rng)
            if rules.needs_repair:
                sequence = repair(sequence, structure, rules, rng, starts.gu_pairs)
            if sequence in seen or (not rules.empty and violations(sequence, rules)):
                continue
            seen.add(sequence)
            folded = mfe_structure(sequence, energy)
            fold = time.monotonic() - now
            result.folds += 1
            distance = hamming(folded, structure)
            self._consider(sequence, folded, distance, True, TARGETED_START)
            self.starts_folded.append((distance, sequence, fold))

    def first_turn(self, batch: int, workers: int) -> None:
        """The stage's first turn, from the targeted starts, before the policy's first batch.

        The schedule gives the stage ``share / (1 - share)`` times the policy's time after
        each of the policy's batches (:meth:`refine_turn`); here the order of the two is
        swapped for the first batch. The closest starts are offered to the stage, and the
        turn is as long as the stage's part of the time a batch of ``batch`` designs should
        take to fold on ``workers`` processes (at the starts' mean fold time). It ends by
        the stage's share of the planned time (what :meth:`_bound_batches` leaves a batch,
        mirrored), and runs in this process (the folding processes have not started).
        Nothing runs without the stage, without a folded start, or when the run is done.
        """
        folded = self.starts_folded
        if self.search is None or not folded or not self.stage_due():
            return
        self._offer_starts()
        now, share = time.monotonic(), self._share()
        batch_seconds = batch * float(np.mean([f for _, _, f in folded])) / max(1, workers)
        self.refine_turn(
            min(now + share / (1 - share) * batch_seconds, self._turn_end + share * self._planned())
        )

    def _offer_starts(self) -> None:
        """Offer the closest folded targeted starts to the stage at its next turn."""
        folded = self.starts_folded
        self._offers = sorted((d, s) for d, s, _ in folded if d > 0)[:_OFFERS_PER_TURN]

    def stage_alone(self, search: EnsembleSearch, executor: Executor | None) -> None:
        """Run ``search`` for the rest of the run, without a policy (``stages``).

        The closest targeted starts are offered first (``design`` folds at least one). The
        stage stops early when a turn makes no evaluation. With an ``executor`` it runs
        as islands on its slots, in slices as long as the run so far (at least
        :data:`_FIRST_SLICE` seconds) merged after each, as the design loop's turns double
        after the schedule's horizon; without one it runs here until the deadline.
        """
        self.search, self.stage_executor = search, executor
        self._set_deadline()  # set aside the scoring's time, by the starts' folds
        self._offer_starts()
        while self.stage_due():
            now, before = time.monotonic(), search.evaluations
            until = self.deadline if executor is None else now + max(_FIRST_SLICE, now - self.start)
            self.refine_turn(until)
            self.should_stop()  # reports progress
            if search.evaluations == before:
                break  # no step fits before the deadline, or the search is exhausted

    def use_policy(self, model: PPO, encoding: TargetEncoding, env: RnaDesignConfig) -> None:
        """Let the stage's letter draws follow ``model``'s policy from its next turn on.

        Only with ``env.ensemble_prior`` (its weight); the probabilities are read anew at
        every turn (the policy adapts between turns). See :func:`policy_prior`.
        """
        if env.ensemble_prior > 0:
            self._prior = functools.partial(policy_prior, model, encoding, env), env.ensemble_prior

    def _refresh_prior(self, search: EnsembleSearch) -> None:
        """Give ``search`` the policy's probabilities now (nothing without a policy)."""
        if self._prior is None:
            return
        read, weight = self._prior
        probabilities = read()
        if probabilities is not None:
            search.set_prior(probabilities, weight)

    def stage_due(self, now: float | None = None) -> bool:
        """Whether the ensemble stage's turn would run at ``now`` (default: the time now).

        It runs when it is on, has not solved the target and the run is not done.
        """
        search = self.search
        now = time.monotonic() if now is None else now
        return search is not None and not search.solved and not self._done(now)

    def record_evaluated(self, info: dict[str, Any]) -> None:
        """Record a design whose reward came back (skipped designs have no ``distance``)."""
        if "distance" in info:
            self.record(info)

    def refine_turn(self, until: float | None = None) -> None:
        """Give the ensemble refinement stage its share of the time (see :meth:`add_search`).

        The policy's closest designs since the last turn are offered first; the stage then
        mutates its pool until its slice ends (``until``, by default its share of the time
        since its last turn), the deadline passes or it finds a solution, which is
        recorded like the policy's.
        """
        search = self.search
        now = time.monotonic()
        if search is None or not self.stage_due(now):
            self._turn_end = now
            self._bound_batches()
            return
        if until is None:
            share = self._share()
            until = now + (now - self._turn_end) * share / (1 - share)
        until = min(self.deadline, until)
        before = search.evaluations
        self._refresh_prior(search)
        for _, sequence in self._offers:
            search.offer(sequence, until)
        self._offers = []
        executor = self._envs[-1].evaluations.executor if self._envs else self.stage_executor
        if executor is not None:  # on every process at once (idle between the policy's batches)
            run_islands(search, executor, until)
        else:
            search.run(until)
        self.result.folds += search.evaluations - before  # one MFE fold each (+ a partition)
        best = search.best
        if best is not None:
            self._consider(best.sequence, best.structure, best.distance, True, ENSEMBLE)
        self._turn_end = time.monotonic()
        self._bound_batches()

    def should_stop(self) -> bool:
        folds = tuple(env.fold_seconds for env in self._envs)
        if self.metrics and math.isfinite(self.end) and folds != self._folds_seen:
            self._set_deadline()  # a batch timed the folds anew
        now = time.monotonic()
        if self.on_progress is not None:
            self.on_progress(
                DesignProgress(
                    self.result.target_id,
                    self.result.episodes,
                    self.result.distance,
                    now - self.start,
                    self.time_limit,
                    self.restarts,
                )
            )
        return self._done(now) or now >= self.restart_deadline

    @property
    def finished(self) -> bool:
        return self._done(time.monotonic())

    def _done(self, now: float) -> bool:
        """Enough solutions, the episode budget spent, or the search's deadline passed."""
        return (
            len(self.result.solutions) >= self.num_solutions
            or not self.episodes_left
            or now >= self.deadline
        )


def build_ppo(
    env: RnaDesignVecEnv, config: LearnaConfig, n_steps: int, seed: int, device: str
) -> PPO:
    """The RNA agent for ``env``: :meth:`meta.rna_agent.RnaAgentSpec.build_model`.

    PPO, or sb3-contrib's MaskablePPO when a sequence constraint masks actions
    (``env.masked``); see :mod:`meta.config` for how LEARNA's PPO settings map onto SB3's.

    Args:
        env: The vectorized design environment.
        config: The agent configuration.
        n_steps: Steps per environment per rollout.
        seed: Seed of the policy initialization and sampling.
        device: Torch device of the policy: ``auto`` (CUDA when available), ``cpu``,
            ``cuda`` or ``cuda:N``; the environment stays on the CPU.

    Returns:
        The untrained agent (its logger writes nothing).

    Raises:
        ValueError: a device this machine does not have (SB3 itself would silently fall
            back to the CPU).
    """
    return RNA_AGENT.build_model(config, env, seed, device, n_steps=n_steps)


def _ensemble_search(
    target: Target,
    env: RnaDesignConfig,
    seed: int,
    constraints: DesignConstraints,
    gu: bool,
    energy: EnergyModel,
    time_limit: float,
) -> EnsembleSearch:
    """The ensemble stage of a design run on ``target``, with ``env``'s stage settings."""
    return EnsembleSearch(
        target.structure,
        np.random.default_rng([seed, 3]),
        constraints,
        gu,
        energy,
        objective=env.ensemble_objective,
        sites=env.ensemble_sites,
        repair=env.ensemble_repair,
        starts=env.ensemble_starts,
        start_distance=env.ensemble_start_distance,
        special_loops=env.ensemble_special_loops,
        boost=env.ensemble_boost,
        rivals=env.ensemble_rivals,
        neighbourhood=env.ensemble_neighbourhood,
        mfe_length=env.ensemble_mfe_length,
        grafts=env.ensemble_grafts,
        negative=env.ensemble_negative,
        restart=env.ensemble_restart,
        screen=env.ensemble_screen,
        decompose_seconds=_decompose_seconds(env, time_limit),
    )


def _design_stages(state: _DesignState, search: EnsembleSearch, workers: int) -> None:
    """The stages without a policy (``stages``): the ensemble stage for the rest of the run.

    With more than one worker the stage runs as islands on that many processes, started
    (and timed) first; with one it runs in this process.
    """
    if workers == 1:
        state.stage_alone(search, None)
        return
    executor = ProcessExecutor(workers, name="autorl-stage")
    try:
        started = [Unit(f"stage-start-{k}", time.sleep, (0.0,)) for k in range(workers)]
        run_until(executor, started, state.deadline)
        state.stage_alone(search, executor)
    finally:
        executor.shutdown()


def policy_prior(model: PPO, encoding: TargetEncoding, env: RnaDesignConfig) -> np.ndarray | None:
    """The policy's action probabilities at every decision step of ``encoding``'s target.

    One forward pass over the observation windows of all the steps: a windowed policy's
    action at a step depends on that step's window alone. A recurrent policy
    (``lstm_mode="episode"``), or one that sees the letters it has written
    (``observe_letters``), depends on its earlier actions too: None.

    Returns:
        ``(num_steps, num_actions)`` probabilities, or None.
    """
    if getattr(model.policy, "lstm_actor", None) is not None or env.observe_letters:
        return None
    with torch.no_grad():
        tensor, _ = model.policy.obs_to_tensor(encoding.observations(env))
        distribution = model.policy.get_distribution(tensor).distribution
    return distribution.probs.cpu().numpy()


def _design_learna(
    state: _DesignState,
    target: Target,
    config: LearnaConfig,
    seed: int,
    device: str,
    workers: int,
    threads: int | None,
    checkpoint: Checkpoint | None = None,
    pipeline: bool = False,
) -> None:
    """PPO on the target: from scratch, or from ``checkpoint``'s weights (adapt).

    When no update fits before the deadline, or a restart could not finish a rollout, the
    current policy samples designs for the time that is left. With ``pipeline`` (and more
    than one folding process) each update runs while the next batch folds
    (:func:`_learn_pipelined`).
    """
    # The folding processes start after the first update is timed: starting, they compete
    # for the cores, and a first estimate timed beside them came out up to 25 times too long
    # (a 20-s run then made no update at all).
    env = _target_env(target, config, workers, seed, state, start=False)
    encoding = env.encodings[0]
    pipelined = pipeline and env.workers > 1
    started = False
    model: PPO | None = None
    try:
        while not state.finished:
            if model is not None and not state.restart_fits():
                break
            restart_seed = seed + 7919 * state.restarts
            env.seed(restart_seed)
            began = time.monotonic()
            model = build_ppo(env, config, encoding.num_steps, restart_seed, device)
            if checkpoint is not None:
                load_weights(model, checkpoint, with_optimizer=False)
            state.use_policy(model, encoding, config.env)
            state.build_seconds = time.monotonic() - began
            if not state.update_budget and math.isfinite(state.deadline):
                estimate = estimate_update_seconds(model, encoding, threads)
                state.update_budget = _FIRST_UPDATE_SAFETY * estimate + _UPDATE_SLACK
            if not started:
                env.start_workers()
                started = True
            timeout = config.ppo.restart_timeout
            state.restart_deadline = time.monotonic() + timeout if timeout > 0 else math.inf
            if pipelined:
                _learn_pipelined(model, env, state)
            else:
                tracker = CallbackList([ReturnBonuses(), _Tracker(state, threads)])
                model.learn(total_timesteps=2**62, callback=tracker)
            if state.no_update:
                # The stage's turn for this rollout (on a long target with a short time
                # limit the first rollout is all the policy does: without this turn the
                # stage would never run).
                state.refine_turn()
                break
            state.restarts += 1
        if model is not None and not state.finished:
            # No time for an update or a restart: use what is left on designs.
            state.restart_deadline = math.inf
            if threads is not None:
                torch.set_num_threads(1)
            sample_designs(model, env, state)
    finally:
        env.close()  # folds still running on a skipped piece are stopped


def _learn_pipelined(model: PPO, env: RnaDesignVecEnv, state: _DesignState) -> None:
    """PPO on ``env`` one rollout behind (:func:`meta.pipelined_learning.learn_one_behind`).

    Each batch of designs folds in the background (``env.pipelined``) while the policy
    updates on the batch before and samples the next: on 100-nt targets the loop then runs
    ~1.2 times as many episodes per second (README, throughput). An update is made only
    when it should end before the deadline and its batch was folded whole; otherwise
    ``state.no_update`` is set and learning stops, as in the synchronous loop. Every thread
    setting is one: the folding processes are busy during updates.

    At the end the batch still folding is waited for (bounded by the batch's deadline) and
    its designs recorded, unless the run is done: it is then dropped.
    """

    def before_update(buffer: RolloutBuffer) -> bool:
        late = time.monotonic() + state.update_budget > state.deadline
        state.no_update = late or id(buffer) in rewards.incomplete
        return not state.no_update

    rewards = PendingRewards(state.record_evaluated)
    torch.set_num_threads(1)
    env.pipelined = True
    try:
        learn_one_behind(
            model,
            2**62,
            rewards,
            _PipelineTracker(state, env, rewards),
            before_update,
            state.update_took,
        )
        if state.finished:
            env.cancel_batches()
        else:
            rewards.receive(env.collect(block=True))
    finally:
        env.pipelined = False


def estimate_update_seconds(model: PPO, encoding: TargetEncoding, threads: int | None) -> float:
    """Seconds one PPO update of ``model`` should take, before any update has run.

    Times a few minibatch steps (forward pass, PPO loss, backward pass, gradient clipping,
    Adam step) on a copy of the policy, with minibatches of the target's own windows, and
    multiplies by the minibatches of one update (``n_epochs`` passes over a rollout of
    ``n_steps * n_envs`` samples). The model itself and torch's random state are untouched.
    The minibatches are built on the policy's device, and on a CUDA device every step is
    synchronized before it is timed (kernels run asynchronously). For a recurrent policy
    (RecurrentPPO) the minibatch is cut into episode sequences by sb3-contrib's rollout
    buffer, as its update gets them (:func:`policies.recurrent.update_minibatch`), and
    replayed through the LSTM from their stored states. When the update runs in numpy
    (:mod:`meta.numpy_ppo`), the numpy steps are timed (:func:`meta.numpy_ppo.time_minibatch`).

    Args:
        model: The agent (``build_ppo``), before its first update.
        encoding: The target's encoding (the windows the policy sees).
        threads: Torch threads of the updates (None: torch's current setting).

    Returns:
        The estimated seconds (without a safety margin).
    """
    samples = model.n_steps * model.n_envs
    batch = min(model.batch_size, samples)
    minibatches = model.n_epochs * math.ceil(samples / model.batch_size)
    width = int(model.observation_space.shape[0])
    windows = np.stack([encoding.padded[site : site + width] for site in encoding.sites])
    if getattr(model, "numpy_update_supported", lambda: False)():
        # The update runs in numpy (meta.numpy_ppo), 3-4 times faster than torch's.
        return minibatches * time_minibatch(model, windows, _TIMED_MINIBATCHES)
    policy = copy.deepcopy(model.policy)
    device = policy.device
    cuda = device.type == "cuda"
    evaluate, advantages, mask = _timed_minibatch(policy, model, windows, batch)
    previous_threads = torch.get_num_threads()
    times = []
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        with torch.random.fork_rng(devices=[device] if cuda else []):
            policy.set_training_mode(True)
            for _ in range(_TIMED_MINIBATCHES):
                if cuda:
                    torch.cuda.synchronize(device)
                began = time.perf_counter()
                values, log_prob, entropy = evaluate()
                ratio = torch.exp(log_prob - log_prob.detach())
                surrogate = torch.min(advantages * ratio, advantages * ratio.clamp(0.8, 1.2))
                loss = (
                    -_mean(surrogate, mask)
                    + _mean((values.flatten() - advantages) ** 2, mask)
                    - (_mean(entropy, mask) if entropy is not None else 0.0)
                )
                policy.optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(policy.parameters(), model.max_grad_norm)
                policy.optimizer.step()
                if cuda:
                    torch.cuda.synchronize(device)
                times.append(time.perf_counter() - began)
    finally:
        torch.set_num_threads(previous_threads)
    return minibatches * float(np.median(times[1:]))


def _timed_minibatch(
    policy: Any, model: PPO, windows: np.ndarray, batch: int
) -> tuple[Callable[[], Any], torch.Tensor, torch.Tensor | None]:
    """One minibatch of ``windows`` for :func:`estimate_update_seconds`.

    Returns:
        A function giving ``(values, log_prob, entropy)`` of the minibatch, its advantages,
        and its mask (None: every row counts; a recurrent minibatch is padded).
    """
    device = policy.device
    if getattr(policy, "lstm_actor", None) is not None:
        from policies.recurrent import update_minibatch

        data = update_minibatch(policy, windows, model.n_steps, model.n_envs, batch)
        actions = data.actions.long().flatten()
        return (
            lambda: policy.evaluate_actions(
                data.observations, actions, data.lstm_states, data.episode_starts
            ),
            data.advantages,
            data.mask > 1e-8,
        )
    rng = np.random.default_rng(0)
    observations = torch.as_tensor(windows[rng.integers(len(windows), size=batch)], device=device)
    actions = torch.as_tensor(rng.integers(int(model.action_space.n), size=batch), device=device)
    advantages = torch.as_tensor(rng.standard_normal(batch), dtype=torch.float32, device=device)
    return lambda: policy.evaluate_actions(observations, actions), advantages, None


def _mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """The mean of ``values`` over the rows of ``mask`` (all rows when None)."""
    return values.mean() if mask is None else values[mask].mean()


def _target_env(
    target: Target,
    config: LearnaConfig,
    workers: int,
    seed: int,
    state: _DesignState,
    start: bool = True,
) -> RnaDesignVecEnv:
    """The design environment of ``target``, bound to ``state``.

    With ``start`` its folding processes start now (they take a moment to start, which
    then overlaps what comes next); otherwise the caller starts them
    (``env.start_workers()``) once nothing it times runs beside them.
    """
    env = RNA_AGENT.make_env(
        config.ppo.n_envs,
        seed,
        targets=[target],
        config=config,
        workers=workers,
        constraints=state.result.constraints,
        energy=state.result.energy,
    )
    state.bind(env)  # times a fold: before the folding processes start and compete
    if start:
        env.start_workers()
    return env


def sample_designs(model: PPO, env: RnaDesignVecEnv, state: _DesignState) -> None:
    """Sample episodes from ``model``'s policy on ``env``, without learning, until done.

    A recurrent policy (``lstm_mode="episode"``) carries its LSTM state from step to step
    of every episode and starts each one from zeros (:class:`policies.recurrent.
    EpisodeMemory`); the episodes of ``env`` may end at different steps.
    """
    observations = env.reset()
    masked = getattr(env, "masked", False)
    memory = _episode_memory(model, env.num_envs)
    while True:
        with torch.no_grad():
            if memory is not None:
                actions = memory.act(observations)
            elif masked:
                actions, _ = model.predict(
                    observations, deterministic=False, action_masks=env.action_masks()
                )
            else:
                actions, _ = model.predict(observations, deterministic=False)
        observations, _, dones, infos = env.step(actions)
        if memory is not None:
            memory.episodes_ended(dones)
        finished = False
        for info in infos:
            if "distance" in info:
                state.record(info)
            finished = finished or "distance" in info or bool(info.get("skipped"))
        if finished:  # the batch is over (skipped designs too): the stage's turn
            state.refine_turn()
        if state.should_stop():
            return


def _episode_memory(model: PPO, n_envs: int) -> EpisodeMemory | None:
    """An :class:`policies.recurrent.EpisodeMemory` for a recurrent policy, else None."""
    if getattr(model.policy, "lstm_actor", None) is None:
        return None
    from policies.recurrent import EpisodeMemory

    return EpisodeMemory(model.policy, n_envs)


def _design_meta_learna(
    state: _DesignState,
    target: Target,
    config: LearnaConfig,
    seed: int,
    device: str,
    workers: int,
    checkpoint: Checkpoint,
) -> None:
    env = _target_env(target, config, workers, seed, state)
    try:
        model = build_ppo(env, config, 1, seed, device)
        load_weights(model, checkpoint, with_optimizer=False)
        state.use_policy(model, env.encodings[0], config.env)
        torch.set_num_threads(1)  # one window batch per step: one thread is fastest
        sample_designs(model, env, state)
    finally:
        env.close()  # folds still running on a skipped piece are stopped


def sample_on_target(
    model: PPO,
    target: Target,
    config: LearnaConfig,
    *,
    time_limit: float,
    seed: int = 0,
    workers: int = 1,
) -> DesignResult:
    """Sample designs for ``target`` from ``model``'s current policy, without learning.

    Meta-training validates its policy with this; the policy's observation space must be
    the one ``config.env`` gives. numpy's BLAS has :data:`meta.numpy_ppo.BLAS_THREADS` (1)
    meanwhile.

    Args:
        model: An SB3 agent (its policy is used as is).
        target: The target.
        config: The agent configuration (environment settings and ``n_envs``).
        time_limit: Seconds.
        seed: Seed of the environment (local improvement).
        workers: Folding processes.

    Returns:
        The best design found.
    """
    result = DesignResult(
        target.id, target.structure, method="meta-learna", seed=seed, time_limit=time_limit
    )
    state = _DesignState(result, time.monotonic(), time_limit, 1, None, None)
    env = _target_env(target, config, workers, seed, state)
    try:
        with blas_limit():
            sample_designs(model, env, state)
    finally:
        env.close()  # folds still running on a skipped piece are stopped
    if not result.solved:
        result.seconds = time.monotonic() - state.start
    return result


def warm_up(device: str = "cpu") -> None:
    """Pay one-time start-up costs now (torch's lazy imports on the first optimizer step).

    Benchmark workers call this before their clock starts, so that the time limit measures
    designing, not importing. Both policy forms are warmed up: the window form (PPO) and
    LEARNA's recurrent form (``lstm_mode="episode"``: sb3-contrib's RecurrentPPO), whose
    update estimate and sampling run through other code.

    Args:
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``: warm up the device the designs
            will use (on a CUDA device this also creates its context).
    """
    env = RNA_AGENT.make_env(2, 0, targets=["((((....))))"], config=LEARNA)
    try:
        model = build_ppo(env, LEARNA, 8, 0, device)
        estimate_update_seconds(model, env.encodings[0], None)
        recurrent = build_ppo(env, LEARNA.updated({"lstm_mode": "episode"}), 8, 0, device)
        estimate_update_seconds(recurrent, env.encodings[0], 1)
        memory = _episode_memory(recurrent, env.num_envs)
        assert memory is not None
        memory.act(env.reset())
        env.fold_time()
    finally:
        env.close()


#: The checkpoints whose weights :func:`check_weights` has loaded: (path, size, mtime) and
#: the network's keys.
_WEIGHTS_CHECKED: set[tuple[Any, ...]] = set()


def check_weights(config: LearnaConfig, checkpoint: Checkpoint, device: str = "cpu") -> None:
    """Load ``checkpoint``'s weights into an agent built from ``config``, once per file.

    A run whose target a targeted start solves never builds its agent, so a checkpoint
    whose weights do not fit its configuration would go unnoticed; the meta methods call
    this before anything else (``autorl.api`` and the benchmark workers before a target's
    clock starts). A checkpoint file checked before (same path, size and time, and the
    same network keys) is not loaded again.

    Raises:
        meta.checkpoints.CheckpointError: the weights do not fit.
    """
    stat = Path(checkpoint.path).stat()
    network = tuple(config.to_flat().get(key) for key in sorted(NETWORK_KEYS))
    key = (str(checkpoint.path), stat.st_size, stat.st_mtime_ns, network)
    if key in _WEIGHTS_CHECKED:
        return
    env = RNA_AGENT.make_env(1, 0, targets=["((((....))))"], config=config)
    try:
        load_weights(build_ppo(env, config, 8, 0, device), checkpoint, with_optimizer=False)
    finally:
        env.close()
    _WEIGHTS_CHECKED.add(key)


def _decompose_seconds(env: RnaDesignConfig, time_limit: float) -> float:
    """The ensemble stage's time for hierarchical starts: its share of the planned time.

    That is ``ensemble_decompose`` of the stage's share of the run, or of the schedule's
    horizon when the run is longer (``ensemble_horizon``; 0: the whole run); none without
    a finite limit.
    """
    if not math.isfinite(time_limit):
        return 0.0
    planned = min(time_limit, env.ensemble_horizon or math.inf)
    return env.ensemble_decompose * env.ensemble_share * planned


#: Configuration keys that shape the policy network, its input window or its action head
#: (``gu_pairs``: 6 actions instead of 4): a pretrained model's weights start only a
#: network built with the model's own values of them.
NETWORK_KEYS = (
    *(field.name for field in dataclasses.fields(PolicyConfig)),
    "state_radius",
    "encoding",
    "gu_pairs",
)


def check_network(config: LearnaConfig, checkpoint: Checkpoint) -> None:
    """Refuse a configuration whose network differs from the checkpoint's (a meta method).

    Raises:
        CheckpointError: naming the keys that differ and what to do instead.
    """
    given, own = config.to_flat(), checkpoint.config.to_flat()
    changed = [key for key in NETWORK_KEYS if given[key] != own[key]]
    if changed:
        differences = ", ".join(
            f"{key} {given[key]!r} (the model's: {own[key]!r})" for key in changed
        )
        raise CheckpointError(
            f"{checkpoint.path}: the configuration changes the pretrained model's network: "
            f"{differences}. The meta methods start from the model's weights, which fit only "
            "its own network; leave these keys out, design with method 'learna' (PPO from "
            "scratch, e.g. a BOHB incumbent of the rna-learna task), or pass a --model "
            "meta-trained with these settings (autorl meta-train --config)"
        )


def check_stages(ensemble_share: float, num_solutions: int, max_episodes: int | None) -> None:
    """Refuse what ``stages`` (the ensemble stage without a policy) cannot do.

    Raises:
        ValueError: ``ensemble_share`` 0 (the stage off), more than one solution (the
            stage stops at its first) or an episode budget (there are no episodes).
    """
    if ensemble_share == 0:
        raise ValueError(
            "method 'stages' is the ensemble stage without a policy: ensemble_share 0 turns "
            "the stage off (the share is not used by 'stages'; give any other, e.g. 0.5)"
        )
    if num_solutions != 1:
        raise ValueError(
            f"method 'stages' stops at its first solution; num_solutions={num_solutions} "
            "needs a policy (use meta-learna-adapt)"
        )
    if max_episodes is not None:
        raise ValueError("method 'stages' runs no episodes: give it a time limit, not max_episodes")


def _whole_number(value: Any) -> bool:
    """Whether ``value`` is an integer >= 1 (an integral float counts)."""
    try:
        return not isinstance(value, bool) and value >= 1 and float(value).is_integer()
    except (TypeError, ValueError):
        return False


def design(
    target: Target,
    *,
    method: str = "learna",
    config: LearnaConfig | None = None,
    time_limit: float = 60.0,
    seed: int = 0,
    num_solutions: int = 1,
    device: str = "auto",
    workers: int = 1,
    threads: int | None = 1,
    on_improvement: Callable[[DesignResult], None] | None = None,
    on_progress: Callable[[DesignProgress], None] | None = None,
    model: str | Path | Checkpoint | None = None,
    constraints: DesignConstraints | None = None,
    energy: EnergyModel | None = None,
    rank_by: str = "distance",
    metrics: bool = True,
    refinement: int | None = None,
    max_episodes: int | None = None,
    ensemble_share: float | None = None,
    ensemble_starts: int | None = None,
    ensemble_rivals: float | None = None,
    ensemble_late_share: float | None = None,
    local_improvement: int | None = None,
    pipeline: bool = DEFAULT_PIPELINE,
    quick_starts: int | None = None,
) -> DesignResult:
    """Design a sequence for ``target`` until solved (``num_solutions`` times) or out of budget.

    Args:
        target: The target structure.
        method: One of :data:`METHODS` (``stages``: one solution, no episode budget).
        config: Agent configuration (default: the published LEARNA configuration for
            ``learna``, the checkpoint's own for the meta methods; a configuration given
            for a meta method must keep the checkpoint's architecture and window).
        time_limit: Seconds for this target, from the call to the return, whatever the
            agent (updates, folds and scoring are timed ahead, so only the error of those
            estimates can make it run over); ``math.inf`` only with ``max_episodes``.
            The first call in a process also spends torch's lazy imports (1-3 s) in it,
            unless :func:`warm_up` ran first (``autorl.api`` and the benchmark workers
            call it before any target's clock starts).
        seed: Seed of everything random in the run.
        num_solutions: Stop after this many distinct solutions.
        device: Torch device of the policy: ``auto`` (CUDA when available), ``cpu``,
            ``cuda`` or ``cuda:N``. Environments and folding stay on the CPU.
        workers: Processes that fold designs in parallel.
        threads: Torch CPU threads for the PPO updates (sampling uses one; torch's setting
            is restored afterwards); None leaves torch's setting alone. The folding workers
            are idle during updates, so ``workers`` threads are free then; use 1 when other
            jobs share the cores. A pipelined loop (``pipeline``) uses one throughout.
            numpy's BLAS has :data:`meta.numpy_ppo.BLAS_THREADS` (1) throughout.
        on_improvement: Called whenever the best design improves.
        on_progress: Called after every batch of environment steps.
        model: The checkpoint of the meta methods (a loaded one, or the path of its zip);
            None for the shipped model. Ignored by ``learna``.
        constraints: GC-content and forbidden-motif rules; the IUPAC codes come from
            ``target.constraint``. Checked for feasibility before any work.
        energy: The energy model designs are folded, verified and scored under.
        rank_by: Order of ``designs`` (one of :data:`RANKINGS`).
        metrics: Score the reported designs (``designs``: one partition function each,
            after the clock stops); the benchmark runner scores in its own process.
        refinement: Fold budget of the refinement stage (overrides the configuration's
            ``refinement_budget``; None keeps it).
        max_episodes: Stop after this many episodes (designs evaluated, ``episodes``); a
            batch that would go beyond is evaluated only up to it. None: no episode budget.
        ensemble_share: Share of the time (in [0, 1); 0 turns it off) given to the
            ensemble refinement stage (:mod:`envs.ensemble_search`), interleaved with the
            policy: it starts from the policy's closest designs and stops at the first
            solution, so with ``num_solutions > 1`` the policy finds the others.
            Overrides the configuration's ``ensemble_share``; None keeps it. ``stages``
            runs the stage for the whole run whatever the share, but refuses 0 (the
            published configuration's: give one).
        ensemble_starts: SAMFEO's targeted starts the stage evaluates at its first turn
            (0-64). Overrides the configuration's ``ensemble_starts``; None keeps it.
        ensemble_rivals: Share, in [0, 1], of the stage's steps that are competitor steps.
            Overrides the configuration's ``ensemble_rivals``; None keeps it.
        ensemble_late_share: The stage's share of the time, in [0, 1), once the
            configuration's ``ensemble_horizon`` has passed (0: ``ensemble_share``
            throughout). Overrides the configuration's ``ensemble_late_share``; None
            keeps it.
        local_improvement: LEARNA's local improvement runs on designs within this
            Hamming distance of the target (0: off). Overrides the configuration's
            ``local_improvement``; None keeps it.
        quick_starts: Targeted starts folded before the policy's first batch (0-64; 0:
            none; :class:`envs.targeted_start.TargetedStarts`). Overrides the
            configuration's ``quick_starts``; None keeps it.
        pipeline: With ``workers > 1``, update the policy while the next batch of designs
            folds, one rollout behind (:func:`meta.pipelined_learning.learn_one_behind`);
            False: fold each batch, then update on it. Ignored with one worker (the
            folds then run in this process) and by ``meta-learna`` (no updates).

    Returns:
        The best design; ``solutions`` lists every distinct solution found and ``designs``
        the reported designs with their quality, ranked.

    Raises:
        ValueError: unknown method, invalid arguments, infeasible constraints or a device
            this machine does not have.
        meta.checkpoints.CheckpointError: a missing, corrupt or mismatched checkpoint, or
            a ``config`` for a meta method that changes the model's network
            (:data:`NETWORK_KEYS`).
    """
    start = time.monotonic()
    if method not in METHODS:
        raise ValueError(f"unknown design method {method!r}; available: {', '.join(METHODS)}")
    if not time_limit > 0:
        raise ValueError(f"time_limit must be > 0 seconds, got {time_limit}")
    if max_episodes is not None and not _whole_number(max_episodes):
        raise ValueError(f"max_episodes must be an integer >= 1 (or None), got {max_episodes!r}")
    if math.isinf(time_limit) and max_episodes is None:
        raise ValueError(
            "time_limit=inf needs an episode budget: give max_episodes, or a finite time_limit"
        )
    if num_solutions < 1:
        raise ValueError(f"num_solutions must be >= 1, got {num_solutions}")
    if rank_by not in RANKINGS:
        raise ValueError(f"unknown ranking {rank_by!r}; choose one of {', '.join(RANKINGS)}")
    device = resolve_device(device)
    checkpoint = None
    if method in META_METHODS:
        checkpoint = model if isinstance(model, Checkpoint) else load_checkpoint(model)
        if checkpoint.agent != RNA_AGENT.name:
            raise CheckpointError(
                f"{checkpoint.path}: a checkpoint of the {checkpoint.agent!r} agent, not an "
                "RNA design policy"
            )
        config = config or checkpoint.config
        check_network(config, checkpoint)
        check_weights(config, checkpoint, device)
    config = with_stage_options(
        config or LEARNA,
        {
            "refinement": refinement,
            "ensemble_share": ensemble_share,
            "ensemble_starts": ensemble_starts,
            "ensemble_rivals": ensemble_rivals,
            "ensemble_late_share": ensemble_late_share,
            "local_improvement": local_improvement,
            "quick_starts": quick_starts,
        },
    )
    if method == STAGES:
        check_stages(config.env.ensemble_share, num_solutions, max_episodes)
    constraints = (constraints or DesignConstraints()).with_sequence(target.constraint)
    energy = energy or EnergyModel()
    result = DesignResult(
        target.id,
        target.structure,
        method=method,
        seed=seed,
        constraints=constraints,
        energy=energy,
        time_limit=time_limit,
        max_episodes=None if max_episodes is None else int(max_episodes),
    )
    result.settings = {
        **{option: getattr(config.env, key) for option, key in STAGE_OPTION_KEYS.items()},
        "workers": workers,
        "device": device,
        "pipelined": bool(pipeline and workers > 1 and method in ("learna", "meta-learna-adapt")),
    }
    state = _DesignState(
        result,
        start,
        time_limit,
        num_solutions,
        on_improvement,
        on_progress,
        result.max_episodes,
        metrics,
    )
    stage_gu = config.env.gu_pairs or config.env.ensemble_gu  # the stages may place GU
    search = None
    if config.env.ensemble_share > 0 or method == STAGES:
        search = _ensemble_search(
            target, config.env, seed, constraints, stage_gu, energy, time_limit
        )
    if search is not None and method != STAGES:
        state.add_search(
            search,
            config.env.ensemble_share,
            config.env.ensemble_horizon,
            config.env.ensemble_late_share,
        )
    quick = config.env.quick_starts or int(method == STAGES)  # stages begin from a start
    if quick:
        starts = TargetedStarts(target.structure, constraints.sequence, stage_gu)
        state.fold_starts(starts, quick, np.random.default_rng([seed, 5]))
        if config.env.ensemble_first_turn:
            state.first_turn(config.ppo.n_envs, workers)  # none without a policy (stages)
    previous_threads = torch.get_num_threads()
    try:
        with blas_limit():
            if state.finished:
                pass  # a targeted start solved it
            elif method == STAGES:
                assert search is not None
                _design_stages(state, search, workers)
            elif method == "meta-learna":
                assert checkpoint is not None
                _design_meta_learna(state, target, config, seed, device, workers, checkpoint)
            else:
                _design_learna(
                    state, target, config, seed, device, workers, threads, checkpoint, pipeline
                )
    finally:
        torch.set_num_threads(previous_threads)
    if not result.solved:
        result.seconds = time.monotonic() - state.start
    assert not result.sequence or hamming(result.structure, target.structure) == result.distance
    if metrics and result.sequence:
        reported = result.solutions if result.solutions else [result.sequence]
        measured = [
            DesignedSequence.measure(s, target.structure, constraints, energy) for s in reported
        ]
        result.designs = rank_designs(measured, rank_by)
        if result.solved:
            result.solutions = [d.sequence for d in result.designs]
            result.sequence = result.designs[0].sequence
            result.structure = result.designs[0].mfe_structure
            result.found_by = state.solution_stages[result.sequence]
    return result
