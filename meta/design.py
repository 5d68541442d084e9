"""The design loop: run an agent on one target until it is solved or time runs out.

Methods (Runge et al. 2019):

- ``learna``: PPO from scratch on the target.
- ``meta-learna``: sample designs from a meta-trained policy, without learning.
- ``meta-learna-adapt``: continue PPO on the target from the meta-trained weights.

The meta methods use a checkpoint (:mod:`meta.checkpoints`; default: the shipped model).
Every finished episode's design is checked, so the first sequence whose MFE structure
equals the target ends the search (or is collected, until ``num_solutions`` distinct
solutions are found).

Constraints (:mod:`envs.constraints`) are honoured inside the decision process: with an
IUPAC sequence constraint the agent is sb3-contrib's MaskablePPO, which never samples a
forbidden action (the pretrained weights load unchanged); GC and motif rules are repaired
before a design is folded, and a design that still breaks one is never a solution.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Logger

from envs.constraints import DesignConstraints
from envs.dot_bracket import Target
from envs.folding import EnergyModel, hamming
from envs.rna_design import TargetEncoding
from envs.vector import RnaDesignVecEnv
from meta.checkpoints import Checkpoint, load_checkpoint, load_weights
from meta.config import LEARNA, LearnaConfig
from meta.quality import RANKINGS, DesignedSequence, rank_designs
from policies.extractors import policy_kwargs

#: Design methods implemented by :func:`design`.
METHODS = ("learna", "meta-learna", "meta-learna-adapt")

#: The methods that start from a meta-trained checkpoint.
META_METHODS = ("meta-learna", "meta-learna-adapt")

#: Folds the refinement stage (:mod:`envs.refinement`) may spend per batch's closest
#: near-miss when a design is run from ``autorl design``, the API or the benchmark runner
#: (the published configurations have it off; ``--refine 0`` turns it off).
DEFAULT_REFINEMENT = 200


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

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``length`` and normalized distance added)."""
        data = asdict(self)
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

    A PPO update cannot be interrupted, so at the last step of a rollout the run also
    stops when the update (timed on the previous rollout) would end past the deadline.
    """

    def __init__(self, state: _DesignState, train_threads: int | None):
        super().__init__()
        self.state = state
        self.train_threads = train_threads
        self._train_seconds = 0.0
        self._rollout_end = 0.0

    def _on_rollout_start(self) -> None:
        if self._rollout_end:
            self._train_seconds = time.monotonic() - self._rollout_end
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
        if self.state.should_stop():
            return False
        rollout_done = self.n_calls % self.model.n_steps == 0
        if rollout_done and time.monotonic() + self._train_seconds > self.state.deadline:
            self.state.out_of_time = True
            return False
        return True


class _DesignState:
    """Mutable bookkeeping of one design run, shared by restarts."""

    def __init__(
        self,
        result: DesignResult,
        deadline: float,
        num_solutions: int,
        on_improvement: Callable[[DesignResult], None] | None,
        on_progress: Callable[[DesignProgress], None] | None,
        time_limit: float,
    ):
        self.result = result
        self.start = time.monotonic()
        self.deadline = deadline
        self.num_solutions = num_solutions
        self.on_improvement = on_improvement
        self.on_progress = on_progress
        self.time_limit = time_limit
        self.restart_deadline = math.inf
        self.restarts = 0
        self.out_of_time = False

    def record(self, info: dict[str, Any]) -> None:
        result = self.result
        result.episodes += 1
        result.folds += int(info["folds"])
        distance = int(info["distance"])
        valid = bool(info.get("valid", True))
        solved = distance == 0 and valid
        if (
            solved
            and len(result.solutions) < self.num_solutions
            and info["sequence"] not in result.solutions
        ):
            result.solutions.append(info["sequence"])
        # A design that breaks a constraint (its repair failed) is never reported.
        if valid and (not result.sequence or distance < result.distance):
            result.sequence, result.structure = info["sequence"], info["structure"]
            result.distance, result.solved = distance, solved
            result.seconds = time.monotonic() - self.start
            if self.on_improvement is not None:
                self.on_improvement(result)

    def should_stop(self) -> bool:
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
        return (
            len(self.result.solutions) >= self.num_solutions
            or now >= self.deadline
            or now >= self.restart_deadline
        )

    @property
    def finished(self) -> bool:
        return (
            self.out_of_time
            or len(self.result.solutions) >= self.num_solutions
            or time.monotonic() >= self.deadline
        )


def build_ppo(
    env: RnaDesignVecEnv, config: LearnaConfig, n_steps: int, seed: int, device: str
) -> PPO:
    """A PPO agent for ``env`` with the given configuration (see meta.config for the mapping).

    When a sequence constraint masks actions (``env.masked``) the agent is sb3-contrib's
    MaskablePPO: the same networks and update, with forbidden actions' probabilities set to
    zero when sampling and in the likelihood ratios.

    Args:
        env: The vectorized design environment.
        config: The agent configuration.
        n_steps: Steps per environment per rollout.
        seed: Seed of the policy initialization and sampling.
        device: ``auto``, ``cpu`` or ``cuda``.

    Returns:
        The untrained agent.
    """
    ppo = config.ppo
    algorithm: Any = PPO
    if getattr(env, "masked", False):
        from sb3_contrib import MaskablePPO

        algorithm = MaskablePPO
    with warnings.catch_warnings():
        # A rollout that is not a multiple of batch_size ends with a smaller minibatch: fine.
        warnings.filterwarnings("ignore", message=".*mini-batch size.*")
        model = algorithm(
            "MlpPolicy",
            env,
            learning_rate=ppo.learning_rate,
            n_steps=n_steps,
            batch_size=ppo.batch_size,
            n_epochs=ppo.n_epochs,
            gamma=1.0,
            gae_lambda=1.0,
            clip_range=ppo.clip_range,
            ent_coef=ppo.entropy_coef,
            vf_coef=ppo.vf_coef,
            max_grad_norm=ppo.max_grad_norm,
            policy_kwargs=policy_kwargs(config.policy),
            seed=seed,
            device=device,
            verbose=0,
        )
    # A logger of our own: SB3's default makes an empty SB3-<date> folder in the temp
    # directory for every learn() call.
    model.set_logger(Logger(folder=None, output_formats=[]))
    return model


def _design_learna(
    state: _DesignState,
    target: Target,
    config: LearnaConfig,
    seed: int,
    device: str,
    workers: int,
    threads: int | None,
    checkpoint: Checkpoint | None = None,
) -> None:
    """PPO on the target: from scratch, or from ``checkpoint``'s weights (adapt)."""
    encoding = TargetEncoding.build(target, config.env, state.result.constraints)
    env = _target_env(target, config, workers, seed, state)
    try:
        while not state.finished:
            restart_seed = seed + 7919 * state.restarts
            env.seed(restart_seed)
            model = build_ppo(env, config, encoding.num_steps, restart_seed, device)
            if checkpoint is not None:
                load_weights(model, checkpoint, with_optimizer=False)
            timeout = config.ppo.restart_timeout
            state.restart_deadline = time.monotonic() + timeout if timeout > 0 else math.inf
            model.learn(total_timesteps=2**62, callback=_Tracker(state, threads))
            state.restarts += 1
    finally:
        env.close()


def _target_env(
    target: Target, config: LearnaConfig, workers: int, seed: int, state: _DesignState
) -> RnaDesignVecEnv:
    env = RnaDesignVecEnv(
        [target],
        config.env,
        n_envs=config.ppo.n_envs,
        workers=workers,
        constraints=state.result.constraints,
        energy=state.result.energy,
    )
    env.seed(seed)
    _bound_batches(env, state)
    return env


def _bound_batches(env: RnaDesignVecEnv, state: _DesignState) -> None:
    """Stop a batch's local improvement at the deadline and, for one solution, at the first.

    The run ends there anyway; unbounded, a batch of close designs on a long target costs
    minutes of folds before any design is reported.
    """
    env.deadline = state.deadline
    env.stop_at_solution = state.num_solutions == 1


def sample_designs(model: PPO, env: RnaDesignVecEnv, state: _DesignState) -> None:
    """Sample episodes from ``model``'s policy on ``env``, without learning, until done."""
    observations = env.reset()
    masked = getattr(env, "masked", False)
    while True:
        with torch.no_grad():
            if masked:
                actions, _ = model.predict(
                    observations, deterministic=False, action_masks=env.action_masks()
                )
            else:
                actions, _ = model.predict(observations, deterministic=False)
        observations, _, _, infos = env.step(actions)
        for info in infos:
            if "distance" in info:
                state.record(info)
        if state.should_stop():
            return


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
        torch.set_num_threads(1)  # one window batch per step: one thread is fastest
        sample_designs(model, env, state)
    finally:
        env.close()


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
    the one ``config.env`` gives.

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
    result = DesignResult(target.id, target.structure, method="meta-learna", seed=seed)
    state = _DesignState(result, time.monotonic() + time_limit, 1, None, None, time_limit)
    env = _target_env(target, config, workers, seed, state)
    try:
        sample_designs(model, env, state)
    finally:
        env.close()
    if not result.solved:
        result.seconds = time.monotonic() - state.start
    return result


def warm_up(device: str = "cpu") -> None:
    """Pay one-time start-up costs now (torch's lazy imports on the first optimizer).

    Benchmark workers call this before their clock starts, so that the time limit measures
    designing, not importing.
    """
    env = RnaDesignVecEnv(["((((....))))"], LEARNA.env, n_envs=2, seed=0)
    try:
        build_ppo(env, LEARNA, 8, 0, device)
    finally:
        env.close()


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
) -> DesignResult:
    """Design a sequence for ``target`` until solved (``num_solutions`` times) or out of time.

    Args:
        target: The target structure.
        method: One of :data:`METHODS`.
        config: Agent configuration (default: the published LEARNA configuration for
            ``learna``, the checkpoint's own for the meta methods; a configuration given
            for a meta method must keep the checkpoint's architecture and window).
        time_limit: Seconds for this target (checked after every batch of episodes).
        seed: Seed of everything random in the run.
        num_solutions: Stop after this many distinct solutions.
        device: Torch device for the policy: ``auto``, ``cpu`` or ``cuda``.
        workers: Processes that fold designs in parallel.
        threads: Torch CPU threads for the PPO updates (sampling uses one; torch's setting
            is restored afterwards); None leaves torch's setting alone. The folding workers
            are idle during updates, so ``workers`` threads are free then; use 1 when other
            jobs share the cores.
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

    Returns:
        The best design; ``solutions`` lists every distinct solution found and ``designs``
        the reported designs with their quality, ranked.

    Raises:
        ValueError: unknown method, invalid arguments or infeasible constraints.
        meta.checkpoints.CheckpointError: a missing, corrupt or mismatched checkpoint.
    """
    if method not in METHODS:
        raise ValueError(f"unknown design method {method!r}; available: {', '.join(METHODS)}")
    if not time_limit > 0:
        raise ValueError(f"time_limit must be > 0 seconds, got {time_limit}")
    if num_solutions < 1:
        raise ValueError(f"num_solutions must be >= 1, got {num_solutions}")
    if rank_by not in RANKINGS:
        raise ValueError(f"unknown ranking {rank_by!r}; choose one of {', '.join(RANKINGS)}")
    checkpoint = None
    if method in META_METHODS:
        checkpoint = model if isinstance(model, Checkpoint) else load_checkpoint(model)
        config = config or checkpoint.config
    config = config or LEARNA
    if refinement is not None:
        config = config.updated({"refinement_budget": refinement}, source="refinement")
    constraints = (constraints or DesignConstraints()).with_sequence(target.constraint)
    energy = energy or EnergyModel()
    result = DesignResult(
        target.id,
        target.structure,
        method=method,
        seed=seed,
        constraints=constraints,
        energy=energy,
    )
    state = _DesignState(
        result,
        time.monotonic() + time_limit,
        num_solutions,
        on_improvement,
        on_progress,
        time_limit,
    )
    previous_threads = torch.get_num_threads()
    try:
        if method == "meta-learna":
            assert checkpoint is not None
            _design_meta_learna(state, target, config, seed, device, workers, checkpoint)
        else:
            _design_learna(state, target, config, seed, device, workers, threads, checkpoint)
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
    return result
