"""Many RNA design episodes at once, as one SB3 ``VecEnv``.

PPO's per-step overhead (about 0.4 ms with one environment on this machine) dwarfs one
fold per episode unless steps are batched. :class:`RnaDesignVecEnv` advances N episodes
with array operations, so the policy sees one batch of N windows per step, and folds the
designs of all episodes that finish in the same step together on an :mod:`envs.execution`
executor: by default a :class:`~envs.execution.ProcessExecutor` of ``workers`` processes
when ``workers > 1`` (``RNA.fold`` holds the GIL, so threads would not help), in this
process otherwise.

A design loop bounds a batch: with a ``deadline`` a batch is folded in one go only while its
folds (timed: :attr:`RnaDesignVecEnv.fold_seconds`) fit before it, and otherwise in pieces,
checking the clock between them; designs whose fold would end past the deadline, or beyond
``episode_limit`` evaluated episodes, are skipped (their episodes end with reward 0 and an
``info`` without ``distance``, marked ``"skipped"``).

With ``deferred=True`` (meta-training, where episodes of different targets end at
different steps) a finished design is handed to the folding processes (by default a
:class:`~envs.execution.ProcessExecutor`, even of one worker) and the step returns at once
with reward 0 and ``info["pending"]``; :meth:`RnaDesignVecEnv.collect` later gives the
rewards (:class:`envs.deferred.Evaluation` s, the bookkeeping of
:class:`envs.deferred.EvaluationQueue` that every deferred-reward environment shares), which
:class:`meta.deferred_rewards.DeferredRewards` writes into the rollout before returns are
computed. Folding then overlaps the policy's steps instead of stalling them.

With ``pipelined = True`` (a design loop with folding processes,
:func:`meta.pipelined_learning.learn_one_behind`) the batch of designs that ends in one step
is folded in a background thread exactly as a synchronous step would fold it (pieces, local
improvement, the walk, the deadline), and the step returns at once with
``info["pending"]``; :meth:`RnaDesignVecEnv.collect` gives the batch's rewards once it is
done. The policy's update and next rollout then run while the batch folds.

Any SB3 wrapper works with the single environment too (``DummyVecEnv``,
``SubprocVecEnv`` over :class:`envs.rna_design.RnaDesignEnv`, see :func:`make_vec_env`);
this class is the fast path that the design loop and meta-training use.
"""

from __future__ import annotations

import functools
import itertools
import math
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv

from envs.constraints import DesignConstraints
from envs.deferred import Evaluation, EvaluationError, EvaluationQueue
from envs.dot_bracket import Target
from envs.evaluation import (
    DesignOutcome,
    evaluate_batch,
    improvable,
    improve_design,
    refine_closest,
)
from envs.execution import (
    Done,
    Executor,
    ProcessExecutor,
    SerialExecutor,
    Unit,
    UnitError,
    run_all,
)
from envs.folding import EnergyModel, mfe_structure
from envs.rna_design import (
    RnaDesignConfig,
    RnaDesignEnv,
    TargetEncoding,
    actions_to_sequence,
    as_targets,
    finished_info,
    observation_space,
    reward,
    with_letters,
    write_letters,
)


class RnaDesignVecEnv(VecEnv):
    """N RNA design episodes stepped together, folding finished designs in parallel.

    Each environment draws a target at random (from this object's seeded generator) at
    every reset, exactly like :class:`envs.rna_design.RnaDesignEnv`.

    Args:
        targets: The targets (one for single-target design, many for meta-training).
        config: MDP settings.
        n_envs: Number of parallel episodes.
        workers: Folding processes of the default executor (1 folds in this process,
            unless ``deferred``).
        seed: Seed of the target draws and of local improvement.
        deferred: Fold finished designs in the background and report their rewards through
            :meth:`collect` (the step reports reward 0 and ``info["pending"]``).
        constraints: GC-content and forbidden-motif rules (IUPAC codes come from each
            target's ``constraint``); :meth:`action_masks` gives the allowed actions.
        energy: The energy model designs are folded under (None: ViennaRNA's default).
        executor: Folds the designs instead of the default one (``workers`` is then its
            ``slots``); it stays the caller's: :meth:`close` leaves it running. It must
            serve this environment alone while a batch or deferred folds are in flight.

    Raises:
        ValueError: ``n_envs`` or ``workers`` below 1, or both ``workers > 1`` and an
            ``executor``.
    """

    def __init__(
        self,
        targets: Sequence[Target | str] | Target | str,
        config: RnaDesignConfig | None = None,
        n_envs: int = 32,
        workers: int = 1,
        seed: int | None = None,
        deferred: bool = False,
        constraints: DesignConstraints | None = None,
        energy: EnergyModel | None = None,
        executor: Executor | None = None,
    ):
        if n_envs < 1 or workers < 1:
            raise ValueError(f"n_envs and workers must be >= 1, got {n_envs} and {workers}")
        if executor is not None and workers > 1:
            raise ValueError("give workers or an executor, not both")
        self.config = config or RnaDesignConfig()
        self.energy = energy
        self.encodings = [
            TargetEncoding.build(t, self.config, constraints) for t in as_targets(targets)
        ]
        # Once: meta-training steps thousands of targets, and step_wait asks every step.
        # GU pairs always mask (actions 4 and 5 at unpaired sites): MaskablePPO throughout.
        self._masked = self.config.gu_pairs or any(e.masked for e in self.encodings)
        space = observation_space(self.config)
        self.render_mode = None
        super().__init__(n_envs, space, gym.spaces.Discrete(self.config.num_actions))
        owns = executor is None
        executor = executor or _default_executor(workers, deferred)
        #: The folds in flight (deferred) and the executor that runs every fold.
        self.evaluations = EvaluationQueue(executor, owns=owns, name="fold")
        #: Designs folded at once (the executor's slots).
        self.workers = executor.slots
        self._units = itertools.count()
        self._rng = np.random.default_rng(seed)
        self._table = _EncodingTable(self.encodings, self.config.window, self.config.num_actions)
        #: Index into ``encodings`` of each environment's target (see :meth:`_encoding`).
        self._which = np.zeros(n_envs, dtype=np.int64)
        #: The actions taken so far, one row per environment (as long as the longest target).
        self._actions = np.zeros((n_envs, self._table.longest), dtype=np.int64)
        self._steps = np.zeros(n_envs, dtype=np.int64)
        self._rows = np.arange(n_envs)
        #: The letters written so far, padded as the targets' codes (``observe_letters``).
        self._letters = np.zeros((n_envs, self._table.widest), dtype=np.int64)
        self._pending: np.ndarray | None = None
        self.total_folds = 0
        self.total_episodes = 0
        self.deferred = deferred
        #: ``time.monotonic()`` after which local improvement stops (a design loop's deadline).
        self.deadline: float | None = None
        #: End a batch's local improvement once one of its designs is solved.
        self.stop_at_solution = False
        #: Evaluate no design beyond this many episodes in all (``total_episodes``).
        self.episode_limit: int | None = None
        #: Seconds one ``RNA.fold`` of a design takes here (measured; None until needed).
        self.fold_seconds: float | None = None
        #: Steps taken so far (the ``step_index`` of the next one).
        self.step_count = 0
        #: The step whose designs are being evaluated (named when a fold fails).
        self._evaluating = 0
        #: Fold each batch of finished episodes in the background (see :meth:`collect`).
        self.pipelined = False
        self._batches: list[_BatchInFlight] = []
        #: The thread that folds the batches (one, reused for the life of this object).
        self._folding_thread: ThreadPoolExecutor | None = None
        self._batch_tickets = itertools.count()
        #: Set to make a batch folding in the background stop starting folds.
        self._abort = threading.Event()

    # -- SB3 VecEnv interface -------------------------------------------------
    def seed(self, seed: int | None = None) -> list[int | None]:
        """Reseed the target draws and local improvement."""
        self._rng = np.random.default_rng(seed)
        return [seed] * self.num_envs

    def reset(self) -> np.ndarray:
        """Start a new episode in every environment."""
        if self._seeds[0] is not None:
            self._rng = np.random.default_rng(self._seeds[0])
            self._reset_seeds()
        for index in range(self.num_envs):
            self._start_episode(index)
        self.reset_infos = [{"target_id": self.encodings[w].target.id} for w in self._which]
        return self._observations()

    def step_async(self, actions: np.ndarray) -> None:
        """Remember the actions of all environments."""
        self._pending = np.asarray(actions, dtype=np.int64).reshape(self.num_envs)

    def step_wait(self):
        """Apply the actions; fold and reward the episodes that end here, then restart them."""
        actions, self._pending = self._pending, None
        if actions is None:
            raise RuntimeError("step_wait called without step_async")
        if actions.min() < 0 or actions.max() >= self.action_space.n:
            raise ValueError(f"actions out of range for {self.action_space}: {actions}")
        if self.masked:
            allowed = self.action_masks()[np.arange(self.num_envs), actions]
            if not allowed.all():
                index = int(np.flatnonzero(~allowed)[0])
                encoding = self._encoding(index)
                refusal = encoding.refusal(int(self._steps[index]), int(actions[index]))
                raise ValueError(f"environment {index}: {refusal}")
        step, self.step_count = self.step_count, self.step_count + 1
        self._actions[self._rows, self._steps] = actions
        if self.config.observe_letters:
            decisions = self._table.rows(self._which, self._steps)
            sites, partners = self._table.sites[decisions], self._table.partners[decisions]
            write_letters(self._letters, sites, partners, actions, self.config.state_radius)
        self._steps += 1
        done = self._steps == self._table.num_steps[self._which]
        rewards = np.zeros(self.num_envs, dtype=np.float32)
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        finished = np.flatnonzero(done)
        if len(finished) and (self.deferred or self.pipelined):
            terminal = self._observations(finished)
            if self.deferred:
                tickets = self._submit(finished, step)  # one design each
            else:
                tickets = self._start_batch(finished, step)  # the whole batch
            for slot, (index, ticket) in enumerate(zip(finished, tickets)):
                infos[index] = {
                    "pending": ticket,
                    "target_id": self._encoding(index).target.id,
                    "terminal_observation": terminal[slot],
                    "TimeLimit.truncated": False,
                }
                self._start_episode(index)
        elif len(finished):
            if self._batches:
                raise RuntimeError("collect the batches folding in the background first")
            terminal = self._observations(finished)
            self._evaluating = step
            for slot, (index, outcome) in enumerate(zip(finished, self._evaluate(finished))):
                rewards[index], infos[index] = self._rewarded(self._encoding(index), outcome)
                infos[index]["terminal_observation"] = terminal[slot]
                infos[index]["TimeLimit.truncated"] = False
                self._start_episode(index)
        return self._observations(), rewards, done, infos

    def collect(self, block: bool = False, *, first: bool = False) -> list[Evaluation]:
        """Rewards of deferred episodes whose designs have been folded.

        With :attr:`pipelined` (and not ``deferred``), the episodes that end in the same step
        are one batch, folded in the background (a thread drives the folding processes, as
        a synchronous step would: pieces, local improvement, the refinement walk, the
        ``deadline``, ``stop_at_solution`` and ``episode_limit``); the step returns at once
        with reward 0 and ``info["pending"]``, and the batch's rewards come back here
        together once it is done, a skipped design's with reward 0 and ``info["skipped"]``.
        One batch folds at a time: a step that ends episodes first waits for the batch
        before. The policy's steps and updates then overlap folding; the executor must not
        be used otherwise while a batch is in flight.

        Args:
            block: Wait for every design in flight.
            first: Wait until at least one design's reward is ready (when any is in flight).

        Returns:
            One :class:`envs.deferred.Evaluation` ``(ticket, env_index, step_index, reward,
            info)`` per finished fold, in the order they finished; ``ticket`` is the
            ``info["pending"]`` value of the step that ended the episode.

        Raises:
            envs.deferred.EvaluationError: a fold failed (the message names the episode).
        """
        if not self._batches:
            return self.evaluations.collect(block, first=first)
        ready: list[Evaluation] = []
        while self._batches and (block or (first and not ready) or self._batches[0].done):
            ready.extend(self._finish_batch(self._batches.pop(0)))
        return ready

    @property
    def masked(self) -> bool:
        """Whether actions are masked (use MaskablePPO): with GU pairs, or by a constraint."""
        return self._masked

    def action_masks(self) -> np.ndarray:
        """Allowed actions of every environment at its current site, ``(n_envs, n_actions)``."""
        return self._table.masks(self._which, self._steps)

    @property
    def pending(self) -> int:
        """Deferred designs not yet collected."""
        return self.evaluations.pending + sum(len(b.tickets) for b in self._batches)

    def cancel_batches(self) -> None:
        """Drop the batches folding in the background (:attr:`pipelined`), unrewarded.

        Their folds in progress end first (at most one piece per folding process).
        """
        self._abort.set()
        try:
            wait_futures([batch.future for batch in self._batches])
        finally:
            self._batches.clear()
            self._abort.clear()

    def close(self) -> None:
        """Stop the folds in flight and, unless the executor was given, the folding processes.

        Returns at once: folds still running (a design loop past its deadline) are killed.
        """
        self.cancel_batches()
        if self._folding_thread is not None:
            self._folding_thread.shutdown()
            self._folding_thread = None
        self.evaluations.close()

    def start_workers(self) -> None:
        """Start the folding processes now rather than at the first batch.

        Starting takes a moment (a fresh interpreter each, importing ViennaRNA); a design
        loop lets it overlap building the agent and the first rollout. A no-op when
        designs are folded in this process.
        """
        if not isinstance(self.evaluations.executor, SerialExecutor):
            units = (self._unit(evaluate_batch, []) for _ in range(self.workers))
            self.evaluations.warm_up(units)

    def get_attr(self, attr_name: str, indices=None) -> list[Any]:
        """Attributes are shared by all environments."""
        return [getattr(self, attr_name)] * len(self._get_indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
        """Set a shared attribute."""
        setattr(self, attr_name, value)

    def env_method(self, method_name: str, *method_args, indices=None, **method_kwargs):
        """Call a method once per requested environment.

        ``action_masks`` (what sb3-contrib's MaskablePPO asks for) gives each environment's
        own row.
        """
        if method_name == "action_masks":
            return list(self.action_masks()[self._get_indices(indices)])
        method = getattr(self, method_name)
        return [method(*method_args, **method_kwargs) for _ in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class, indices=None) -> list[bool]:
        """No environment is wrapped."""
        return [False] * len(self._get_indices(indices))

    # -- internals ------------------------------------------------------------
    def _encoding(self, index: int) -> TargetEncoding:
        """The encoding of environment ``index``'s current target."""
        return self.encodings[self._which[index]]

    def _start_episode(self, index: int) -> None:
        which = int(self._rng.integers(len(self.encodings)))
        self._which[index] = which
        self._steps[index] = 0
        self._letters[index] = 0

    def _observations(self, indices: np.ndarray | None = None) -> np.ndarray:
        if indices is None:  # every environment: no copies of the per-env arrays
            indices, which, steps = self._rows, self._which, self._steps
        else:
            which, steps = self._which[indices], self._steps[indices]
        windows = self._table.windows(which, steps)
        if self.config.observe_letters:
            starts = self._table.sites[self._table.rows(which, steps)]
            letters = self._letters[indices[:, None], starts[:, None] + self._table.span]
            windows = with_letters(windows, letters)
        return windows.astype(self.observation_space.dtype, copy=False)

    def fold_time(self) -> float:
        """Seconds one fold of a design takes (:attr:`fold_seconds`; timed once if unknown).

        The first call folds a random sequence as long as the longest target (not counted
        in ``total_folds``); evaluated batches then keep the figure up to date.
        """
        if self.fold_seconds is None:
            length = max(len(encoding.target.structure) for encoding in self.encodings)
            sequence = "".join(np.random.default_rng(length).choice(list("ACGU"), length))
            start = time.monotonic()
            mfe_structure(sequence, self.energy)
            self.fold_seconds = time.monotonic() - start
        return self.fold_seconds

    def _evaluate(self, indices: np.ndarray) -> list[DesignOutcome | None]:
        """Outcomes of the finished episodes' designs, None for a skipped design."""
        return self._evaluate_jobs(self._jobs(indices))

    def _evaluate_jobs(self, jobs: list[tuple]) -> list[DesignOutcome | None]:
        """Outcomes of the designs of ``jobs``, None for a skipped design."""
        allowed = len(jobs)
        if self.episode_limit is not None:
            allowed = max(0, min(allowed, self.episode_limit - self.total_episodes))
        evaluate = functools.partial(
            evaluate_batch, deadline=self.deadline, stop_at_solution=self.stop_at_solution
        )
        outcomes: list[DesignOutcome | None]
        if allowed == 0:
            outcomes = []
        elif self.deadline is None or not math.isfinite(self.deadline):
            outcomes = list(self._evaluate_all(jobs[:allowed], evaluate))
        elif self.workers == 1 or allowed == 1:
            outcomes = list(self._evaluate_until(jobs[:allowed], evaluate, self.deadline))
        else:
            outcomes = self._pool_until(jobs[:allowed], evaluate, self.deadline)
        done = [o for o in outcomes if o is not None]
        self.total_folds += sum(o.folds for o in done)
        self.total_episodes += len(done)
        return outcomes + [None] * (len(jobs) - len(outcomes))

    def _evaluate_all(self, jobs: list[tuple], evaluate: Callable) -> list[DesignOutcome | None]:
        if self.workers == 1 or len(jobs) == 1:
            (done,) = run_all(self.evaluations.executor, [self._unit(evaluate, jobs)])
            return self._outcomes(done)
        plain = functools.partial(evaluate, improve=False, refine=False)  # the rest below
        outcomes = self._fold_pieces(self._chunks(jobs), plain, None)
        return self._finish_pieces(jobs, outcomes)  # type: ignore[return-value]

    def _chunks(self, jobs: list[tuple], size: int | None = None) -> list[list[tuple]]:
        """Pieces of a batch for the folding processes, ``size`` designs each.

        By default small chunks, handed out as workers free up: one design's local
        improvement can cost dozens of folds, so equal static shares would leave a worker idle.
        """
        size = size or max(1, len(jobs) // (8 * self.workers))
        return [jobs[i : i + size] for i in range(0, len(jobs), size)]

    def _evaluate_until(
        self, jobs: list[tuple], evaluate: Callable, deadline: float
    ) -> list[DesignOutcome | None]:
        """Evaluate in this process, in as few pieces as the time before ``deadline`` allows.

        With time to spare this is one ``evaluate_batch`` call, as without a deadline.
        Otherwise each piece holds the designs whose folds fit in the time left (with a
        safety factor), and a design whose single fold would end past the deadline is not
        started: those designs are skipped, like every design after a solution (with
        ``stop_at_solution``).
        """
        fold = self.fold_time()
        outcomes: list[DesignOutcome | None] = []
        while len(outcomes) < len(jobs) and not self._abort.is_set():
            now = time.monotonic()
            fit = int((deadline - now) / (_FOLD_SAFETY * fold)) if fold > 0 else len(jobs)
            if fit < 1:
                if now + fold > deadline:
                    break
                fit = 1
            if self.stop_at_solution and any(o is not None and o.solved for o in outcomes):
                break
            piece = jobs[len(outcomes) : len(outcomes) + fit]
            (done,) = run_all(self.evaluations.executor, [self._unit(evaluate, piece)])
            folded = self._outcomes(done)
            outcomes.extend(folded)
            folds = sum(o.folds for o in folded if o is not None)
            if folds:
                self.fold_seconds = fold = (time.monotonic() - now) / folds
        return outcomes

    def _pool_until(
        self, jobs: list[tuple], evaluate: Callable, deadline: float
    ) -> list[DesignOutcome | None]:
        """Evaluate in the folding processes; pieces not done by ``deadline`` are skipped.

        With time to spare the chunks are those of the batch without a deadline; otherwise
        one design each, so that little runs past the deadline.
        """
        fold = self.fold_time()
        ample = time.monotonic() + _FOLD_SAFETY * fold * len(jobs) / self.workers <= deadline
        chunks = self._chunks(jobs, None if ample else 1)
        plain = functools.partial(evaluate, improve=False, refine=False)  # the rest below
        return self._finish_pieces(jobs, self._fold_pieces(chunks, plain, deadline))

    def _fold_pieces(
        self, chunks: list[list[tuple]], plain: Callable, deadline: float | None
    ) -> list[DesignOutcome | None]:
        """Fold ``chunks`` on the folding processes, one chunk a process at a time.

        No chunk starts past ``deadline`` or, with ``stop_at_solution``, once a design is
        solved (as the serial path stops between its pieces); chunks still running at the
        deadline are cancelled. The designs of both are None (skipped). Queuing every chunk
        at once instead folded all 64 designs of a batch whose first chunk held a solution:
        on 280-320-nt targets ~3 s a batch.
        """
        results: list[list[DesignOutcome] | None] = [None] * len(chunks)
        executor = self.evaluations.executor
        running: dict[str, int] = {}
        started, solved = 0, False
        try:
            while True:
                late = deadline is not None and time.monotonic() >= deadline
                while started < len(chunks) and len(running) < self.workers:
                    if solved or late:
                        break
                    unit = self._unit(plain, chunks[started])
                    executor.submit(unit)
                    running[unit.id], started = started, started + 1
                if not running or self._abort.is_set():
                    break  # an abort: what runs is cancelled below
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                dones = [done for done in executor.wait(left) if done.id in running]
                for done in dones:
                    outcomes = self._outcomes(done)
                    results[running.pop(done.id)] = outcomes
                    solved = solved or (
                        self.stop_at_solution and any(o is not None and o.solved for o in outcomes)
                    )
                if not dones and late:
                    break  # still running at the deadline: cancelled below
        finally:
            for unit_id in running:
                executor.cancel(unit_id)
        return [
            outcome
            for chunk, result in zip(chunks, results)
            for outcome in (result if result is not None else [None] * len(chunk))
        ]

    def _finish_pieces(
        self, jobs: list[tuple], outcomes: list[DesignOutcome | None]
    ) -> list[DesignOutcome | None]:
        """Local improvement and the walk of a batch whose designs were folded in pieces.

        As :func:`envs.evaluation.evaluate_batch` treats a batch folded in one piece:
        local improvement goes to the close designs closest first over the whole batch
        (one design a unit, at most one unit per folding process in flight, none started
        past the deadline or, with ``stop_at_solution``, once a design is solved), then
        one refinement walk to the closest near-miss, here (the processes are idle then).
        Folding the pieces with their own improvement and walk instead ran them in the
        pieces' order and walked every piece's closest design: on a 170-nt target a
        batch of 64 then had 16 of its designs folded within 4 s, against all 64 here.
        """
        deadline, stop = self.deadline, self.stop_at_solution
        queue = improvable(jobs, outcomes)
        running: dict[str, int] = {}
        executor = self.evaluations.executor
        try:
            while queue or running:
                solved = stop and any(o is not None and o.solved for o in outcomes)
                late = deadline is not None and time.monotonic() >= deadline
                while queue and len(running) < self.workers and not solved and not late:
                    index = queue.pop(0)
                    unit = Unit(
                        f"improve-{next(self._units)}",
                        improve_design,
                        (jobs[index], outcomes[index], deadline),
                    )
                    executor.submit(unit)
                    running[unit.id] = index
                if not running or self._abort.is_set():
                    break
                for done in executor.wait():
                    if done.id in running:
                        outcomes[running.pop(done.id)] = self._outcomes(done)  # one outcome
        finally:
            for unit_id in running:  # an abort (or a failed fold)
                executor.cancel(unit_id)
        if self._abort.is_set():
            return outcomes
        return refine_closest(jobs, outcomes, deadline, stop)

    def _start_batch(self, indices: np.ndarray, step: int) -> list[int]:
        """Start folding the designs of the episodes ``indices`` in the background.

        Returns:
            One ticket per episode (its ``info["pending"]``).

        Raises:
            RuntimeError: the folds run in this process (one worker): a background
                thread would only compete with the policy for the GIL.
        """
        if isinstance(self.evaluations.executor, SerialExecutor):
            raise RuntimeError("pipelined folding needs folding processes (workers > 1)")
        if self._batches:  # one batch at a time: each drives the executor alone
            wait_futures([self._batches[-1].future])
        if self._folding_thread is None:
            self._folding_thread = ThreadPoolExecutor(1, thread_name_prefix="fold-batches")
        self._evaluating = step
        jobs = self._jobs(indices)  # here: the actions and seeds change with the next step
        encodings = [self._encoding(index) for index in indices]
        tickets = [next(self._batch_tickets) for _ in indices]
        future = self._folding_thread.submit(self._evaluate_jobs, jobs)
        self._batches.append(_BatchInFlight(step, indices.copy(), encodings, tickets, future))
        return tickets

    def _finish_batch(self, batch: _BatchInFlight) -> list[Evaluation]:
        """The rewards of a batch folded in the background (waiting for it first)."""
        try:
            outcomes = batch.future.result()
        except EvaluationError:
            raise  # it names the step
        except Exception as error:
            raise _fold_failure(batch.step, str(error)) from error
        evaluations = []
        for index, encoding, ticket, outcome in zip(
            batch.indices, batch.encodings, batch.tickets, outcomes
        ):
            value, info = self._rewarded(encoding, outcome)
            evaluations.append(Evaluation(ticket, int(index), batch.step, value, info))
        return evaluations

    def _rewarded(
        self, encoding: TargetEncoding, outcome: DesignOutcome | None
    ) -> tuple[float, dict[str, Any]]:
        """Reward and ``info`` of an episode's design.

        A skipped design (None: not evaluated, for the deadline, the episode limit or a
        solution) gets reward 0 and ``info["skipped"]``. With ``site_credit``, ``info``
        has each step's ``return_bonus`` (:func:`envs.rna_design.site_scores` times it).
        """
        target = encoding.target
        if outcome is None:
            return 0.0, {"target_id": target.id, "skipped": True}
        value = reward(outcome.distance, len(target), self.config.reward_exponent)
        return value, finished_info(encoding, outcome, self.config)

    def _unit(self, evaluate: Callable, jobs: list[tuple]) -> Unit:
        """A unit that evaluates ``jobs`` (it runs in a worker: ``evaluate`` is picklable)."""
        return Unit(f"fold-batch-{next(self._units)}", evaluate, (jobs,))

    def _outcomes(self, done: Done) -> list[DesignOutcome | None]:
        """The outcomes of a batch's unit; a failed fold raises, naming the step."""
        try:
            return done.result()
        except UnitError as error:
            raise _fold_failure(self._evaluating, str(done.error)) from error

    def _submit(self, indices: np.ndarray, step: int) -> list[int]:
        """Hand the designs of finished episodes to the folding processes; their tickets."""
        tickets = []
        for index, job in zip(indices, self._jobs(indices)):
            encoding = self._encoding(index)
            target = encoding.target
            ticket = self.evaluations.submit(
                evaluate_batch,
                ([job],),
                env_index=int(index),
                step_index=step,
                finish=functools.partial(self._finish_design, encoding),
                label=f", target {target.id}",
            )
            tickets.append(ticket)
        return tickets

    def _finish_design(
        self, encoding: TargetEncoding, outcomes: list[DesignOutcome]
    ) -> tuple[float, dict[str, Any]]:
        """Reward and ``info`` of a deferred design's fold (counted here)."""
        (outcome,) = outcomes
        self.total_folds += outcome.folds
        self.total_episodes += 1
        return self._rewarded(encoding, outcome)

    def _jobs(self, indices: np.ndarray) -> list[tuple]:
        """``evaluate_batch`` jobs for the finished episodes (one local-improvement seed each)."""
        jobs = []
        for index in indices:
            encoding = self._encoding(index)
            sequence = actions_to_sequence(encoding, self._actions[index, : encoding.num_steps])
            seed = int(self._rng.integers(2**63))
            structure = encoding.target.structure
            jobs.append((sequence, structure, self.config, seed, encoding.constraints, self.energy))
        return jobs


def _fold_failure(step: int, detail: str) -> EvaluationError:
    """The error of a failed fold, naming the step whose episodes' designs it folded."""
    return EvaluationError(
        f"folding the designs of the episodes that ended at step {step} failed: {detail}"
    )


class _BatchInFlight:
    """A batch of designs folding in the background (:attr:`RnaDesignVecEnv.pipelined`)."""

    def __init__(
        self,
        step: int,
        indices: np.ndarray,
        encodings: list[TargetEncoding],
        tickets: list[int],
        future: Future,
    ):
        self.step, self.indices, self.encodings = step, indices, encodings
        self.tickets = tickets
        #: Gives the batch's outcomes (None for a skipped design), or raises.
        self.future = future

    @property
    def done(self) -> bool:
        return self.future.done()


class _EncodingTable:
    """Every target's windows and masks in flat arrays, so that a step is array operations.

    A window starts at a decision site of the padded target codes: the codes of all
    targets are concatenated, and an episode at ``step`` of target ``which`` reads the
    ``width`` codes from ``starts[offsets[which] + step]``. Masks are stacked the same way
    (all True for a target without any).

    Args:
        encodings: The targets' encodings.
        width: Observation window width.
        num_actions: Size of the action space.
    """

    def __init__(self, encodings: Sequence[TargetEncoding], width: int, num_actions: int):
        self.num_steps = np.array([e.num_steps for e in encodings], dtype=np.int64)
        #: Steps of the longest target (the width of an action buffer).
        self.longest = int(self.num_steps.max())
        self.offsets = np.concatenate(([0], np.cumsum(self.num_steps)[:-1]))
        padded_offsets = np.concatenate(([0], np.cumsum([len(e.padded) for e in encodings])))
        self.codes = np.concatenate([e.padded for e in encodings])
        self.starts = np.concatenate([e.sites + padded_offsets[i] for i, e in enumerate(encodings)])
        #: Every step's decision site and its partner (-1: unpaired), in target positions.
        self.sites = np.concatenate([e.sites for e in encodings])
        self.partners = np.concatenate([e.partners for e in encodings])
        #: The longest padded target (the width of a letter row).
        self.widest = max(len(e.padded) for e in encodings)
        self.span = np.arange(width, dtype=np.int64)
        self.allowed = np.concatenate(
            [
                e.masks if e.masks is not None else np.ones((e.num_steps, num_actions), bool)
                for e in encodings
            ]
        )

    def rows(self, which: np.ndarray, steps: np.ndarray) -> np.ndarray:
        """Flat step indices of episodes of targets ``which`` at ``steps`` (clipped to the end)."""
        return self.offsets[which] + np.minimum(steps, self.num_steps[which] - 1)

    def windows(self, which: np.ndarray, steps: np.ndarray) -> np.ndarray:
        """Observation windows, ``(len(which), width)`` target codes."""
        return self.codes[self.starts[self.rows(which, steps)][:, None] + self.span]

    def masks(self, which: np.ndarray, steps: np.ndarray) -> np.ndarray:
        """Allowed actions, ``(len(which), num_actions)`` (a fresh array)."""
        return self.allowed[self.rows(which, steps)]


def _default_executor(workers: int, deferred: bool) -> Executor:
    """Folding processes when ``workers > 1`` or deferred (folds overlap steps), else here."""
    if workers > 1 or deferred:
        return ProcessExecutor(workers, name="autorl-fold")
    return SerialExecutor()


#: A batch (or a piece of it) is folded in one go only if its folds, timed by the previous
#: ones, times this factor fit before the deadline.
_FOLD_SAFETY = 1.25


def make_vec_env(
    targets: Sequence[Target | str] | Target | str,
    config: RnaDesignConfig | None = None,
    n_envs: int = 8,
    workers: int = 1,
    kind: str = "batched",
    seed: int | None = None,
) -> VecEnv:
    """Build a vectorized RNA design environment.

    Args:
        targets: The targets.
        config: MDP settings.
        n_envs: Number of parallel episodes.
        workers: Folding processes (``batched`` only; ``subproc`` uses one per env).
        kind: ``batched`` (:class:`RnaDesignVecEnv`), ``dummy`` (SB3 ``DummyVecEnv``) or
            ``subproc`` (SB3 ``SubprocVecEnv``, one process per environment).
        seed: Seed.

    Returns:
        The vectorized environment.
    """
    if kind == "batched":
        return RnaDesignVecEnv(targets, config, n_envs=n_envs, workers=workers, seed=seed)
    target_list = as_targets(targets)

    def factory() -> RnaDesignEnv:
        return RnaDesignEnv(target_list, config)

    if kind == "dummy":
        env = DummyVecEnv([factory] * n_envs)
    elif kind == "subproc":
        env = SubprocVecEnv([factory] * n_envs, start_method="spawn")
    else:
        raise ValueError(f"kind must be 'batched', 'dummy' or 'subproc', got {kind!r}")
    env.seed(seed)
    return env
