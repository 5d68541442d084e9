"""Vectorized environments whose episodes end with an artifact to evaluate: deferred rewards.

Some tasks reward an episode only by an expensive evaluation of what it made: a designed RNA
sequence is folded, a sampled child network is trained. :class:`DeferredRewardVecEnv` steps
N gymnasium environments (an SB3 ``VecEnv``); an environment whose episode ends puts the
episode's *artifact* in ``info[ARTIFACT]`` at its terminal step (with reward 0 or a
provisional reward), and ``evaluator(artifact, instance_info) -> (reward, info)`` runs as an
:class:`envs.execution.Unit` on an injected executor (default: in this process). The
evaluated reward replaces the terminal step's reward.

- Immediate mode: the step waits for the evaluations of the episodes that ended in it.
- Deferred mode (``deferred=True``): the step returns at once, with the provisional reward
  and ``info["pending"] = ticket``; :meth:`DeferredRewardVecEnv.collect` gives
  :class:`Evaluation` s ``(ticket, env_index, step_index, reward, info)`` as evaluations
  finish, and :class:`meta.deferred_rewards.DeferredRewards` writes them into an SB3
  rollout before returns are computed. Evaluations then overlap the policy's steps.

Truncation is real: an environment that truncates (gymnasium ``truncated=True``, e.g. a
``TimeLimit``) gives SB3's ``info["TimeLimit.truncated"] = True`` and
``info["terminal_observation"]``, so PPO bootstraps from the value of the last observation;
termination does not.

:class:`EvaluationQueue` is the bookkeeping both modes share (tickets, what finished, errors
naming the episode); :class:`envs.vector.RnaDesignVecEnv` uses it for its deferred folds.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import DummyVecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvStepReturn

from envs.execution import Done, Executor, SerialExecutor, Unit, UnitError

#: The ``info`` key under which an environment hands over its episode's artifact.
ARTIFACT = "artifact"
#: The ``info`` key of a deferred episode's ticket (the step that ended it).
PENDING = "pending"
#: ``info`` keys of the terminal step not handed to the evaluator.
_NOT_INSTANCE = (ARTIFACT, "terminal_observation")

#: ``evaluator(artifact, instance_info) -> (reward, info)``; picklable for process executors.
Evaluator = Callable[[Any, dict[str, Any]], tuple[float, dict[str, Any]]]
#: Turns a unit's value into ``(reward, info)`` in this process.
Finish = Callable[[Any], tuple[float, dict[str, Any]]]

_QUEUES = itertools.count()


class Evaluation(NamedTuple):
    """A finished evaluation of an episode.

    Attributes:
        ticket: The ``info["pending"]`` value of the step that ended the episode.
        env_index: The environment the episode ran in.
        step_index: The vectorized step that ended it (0 is the first ``step`` call).
        reward: The evaluated reward of that step.
        info: The episode's ``info`` with the evaluation's entries.
    """

    ticket: int
    env_index: int
    step_index: int
    reward: float
    info: dict[str, Any]


class EvaluationError(RuntimeError):
    """An evaluation that gave no reward; the message names the episode."""


@dataclass(frozen=True)
class _Ticket:
    env_index: int
    step_index: int
    finish: Finish
    label: str

    def describe(self, ticket: int) -> str:
        where = f"env {self.env_index} at step {self.step_index}"
        return f"the episode that ended in {where}{self.label} (ticket {ticket})"


class EvaluationQueue:
    """Evaluations in flight on an executor, each under a ticket, and what they gave.

    The executor must serve this queue alone while evaluations are in flight: a
    :class:`~envs.execution.Done` of a unit the queue did not submit is dropped.

    Args:
        executor: Runs the evaluations (None: a :class:`~envs.execution.SerialExecutor`).
        owns: Shut the executor down in :meth:`close` (default: only one made here).
        name: Prefix of the units' ids.
    """

    def __init__(
        self, executor: Executor | None = None, *, owns: bool | None = None, name: str = "eval"
    ):
        self.executor: Executor = SerialExecutor() if executor is None else executor
        self.owns = executor is None if owns is None else owns
        self._prefix = f"{name}-{next(_QUEUES)}-"
        self._tickets = itertools.count()
        self._in_flight: dict[int, _Ticket] = {}
        self._ready: dict[int, Evaluation] = {}
        self._ignored: set[str] = set()

    @property
    def pending(self) -> int:
        """Evaluations submitted and not yet returned by :meth:`collect` or :meth:`wait_for`."""
        return len(self._in_flight) + len(self._ready)

    def submit(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        *,
        env_index: int,
        step_index: int,
        finish: Finish | None = None,
        label: str = "",
        cpus: float = 1,
        gpus: float = 0,
        timeout: float | None = None,
    ) -> int:
        """Start ``fn(*args)`` for the episode that ended in ``env_index`` at ``step_index``.

        Args:
            fn: The evaluation (picklable for process executors).
            args: Its arguments.
            env_index: The episode's environment.
            step_index: The step that ended it.
            finish: Turns the unit's value into ``(reward, info)`` here (default: the value
                must be that pair).
            label: Appended to the episode's description in errors (e.g. ``", target 3"``).
            cpus: CPUs the unit declares.
            gpus: GPUs the unit declares.
            timeout: Seconds the evaluation may run (None: no limit).

        Returns:
            The ticket of the evaluation.
        """
        ticket = next(self._tickets)
        unit = Unit(f"{self._prefix}{ticket}", fn, args, cpus=cpus, gpus=gpus, timeout=timeout)
        self.executor.submit(unit)
        self._in_flight[ticket] = _Ticket(env_index, step_index, finish or _pair, label)
        return ticket

    def warm_up(self, units: Iterable[Unit]) -> None:
        """Submit units whose results are dropped (e.g. to start worker processes early)."""
        for unit in units:
            self.executor.submit(unit)
            self._ignored.add(unit.id)

    def collect(self, block: bool = False, *, first: bool = False) -> list[Evaluation]:
        """The evaluations that have finished, in the order they finished.

        Args:
            block: Wait for every evaluation in flight.
            first: Wait until at least one evaluation is ready (when any is in flight).

        Raises:
            EvaluationError: an evaluation failed (raised, timed out, lost its worker).
        """
        if block:
            while self._in_flight:
                self._receive(self._wait(None))
        elif self._in_flight:
            if first and not self._ready:
                self._receive(self._wait(None))
            while dones := self.executor.wait(0):
                self._receive(dones)
        ready, self._ready = list(self._ready.values()), {}
        return ready

    def wait_for(self, tickets: Sequence[int]) -> list[Evaluation]:
        """Wait for the evaluations of ``tickets``; they are returned here, in that order."""
        while any(ticket not in self._ready for ticket in tickets):
            self._receive(self._wait(None))
        return [self._ready.pop(ticket) for ticket in tickets]

    def cancel(self) -> None:
        """Stop every evaluation in flight and forget the finished ones."""
        for unit_id in [f"{self._prefix}{t}" for t in self._in_flight] + sorted(self._ignored):
            self.executor.cancel(unit_id)
        self._in_flight.clear()
        self._ready.clear()
        self._ignored.clear()

    def close(self) -> None:
        """Stop the evaluations in flight; shut the executor down if the queue owns it."""
        if self.owns:
            self._in_flight.clear()
            self._ready.clear()
            self._ignored.clear()
            self.executor.shutdown()
        else:
            self.cancel()

    def _wait(self, timeout: float | None) -> list[Done]:
        dones = self.executor.wait(timeout)
        if not dones and timeout is None:
            lost = sorted(self._in_flight)
            raise RuntimeError(f"the executor lost the evaluations of tickets {lost}")
        return dones

    def _receive(self, dones: list[Done]) -> None:
        """Record finished evaluations; then raise the first failure among them."""
        failure: Exception | None = None
        for done in dones:
            if done.id in self._ignored:
                self._ignored.discard(done.id)
                continue
            if not done.id.startswith(self._prefix):
                continue  # not ours: see the class docstring
            ticket = int(done.id[len(self._prefix) :])
            record = self._in_flight.pop(ticket)
            try:
                reward, info = self._finish(ticket, record, done)
            except (EvaluationError, ValueError) as error:
                failure = failure or error
                continue
            self._ready[ticket] = Evaluation(
                ticket, record.env_index, record.step_index, reward, info
            )
        if failure is not None:
            raise failure

    @staticmethod
    def _finish(ticket: int, record: _Ticket, done: Done) -> tuple[float, dict[str, Any]]:
        episode = record.describe(ticket)
        try:
            value = done.result()
        except UnitError as error:
            raise EvaluationError(f"evaluation of {episode} failed: {done.error}") from error
        try:
            reward, info = record.finish(value)
        except ValueError as error:
            raise ValueError(f"evaluation of {episode}: {error}") from None
        return reward, info


def _pair(value: Any) -> tuple[float, dict[str, Any]]:
    """``value`` as ``(reward, info)``: a finite real number and a dict."""
    if not (isinstance(value, tuple | list) and len(value) == 2):
        raise ValueError(f"the evaluator must return (reward, info), got {value!r}")
    reward, info = value
    if isinstance(reward, bool) or not isinstance(reward, numbers.Real):
        raise ValueError(f"the evaluator's reward must be a real number, got {reward!r}")
    if not math.isfinite(reward):
        raise ValueError(f"the evaluator's reward must be finite, got {reward!r}")
    if not isinstance(info, dict):
        raise ValueError(f"the evaluator's info must be a dict, got {type(info).__name__}")
    return float(reward), info


@dataclass(frozen=True)
class _WithInstance:
    """Finish of :class:`DeferredRewardVecEnv`: the episode's info updated by the evaluator's."""

    instance_info: dict[str, Any]

    def __call__(self, value: Any) -> tuple[float, dict[str, Any]]:
        reward, info = _pair(value)
        return reward, {**self.instance_info, **info}


def _factory(env: gym.Env | Callable[[], gym.Env], index: int) -> Callable[[], gym.Env]:
    if isinstance(env, gym.Env):
        return lambda: env
    if callable(env):
        return env
    raise ValueError(
        f"environment {index}: expected a gymnasium.Env or a function making one, got {env!r}"
    )


class DeferredRewardVecEnv(DummyVecEnv):
    """N gymnasium environments whose finished episodes' artifacts are evaluated on an executor.

    An environment hands over an episode's artifact in ``info[ARTIFACT]`` (``"artifact"``)
    at the step that ends the episode, terminated or truncated; an episode that ends
    without one keeps its reward and is not evaluated (an artifact at another step is
    ignored). ``evaluator(artifact, instance_info)`` gets the terminal step's ``info``
    without the artifact and the terminal observation (the target, the physics context...,
    and ``TimeLimit.truncated``) and returns ``(reward, info)``: the reward replaces the
    terminal step's, the info is added to the step's (immediate mode) or to the
    collected :class:`Evaluation` (deferred mode).

    Everything else is SB3's ``DummyVecEnv``: seeding (``seed`` then ``reset``), automatic
    reset, ``get_attr``/``env_method``, and ``action_masks`` for sb3-contrib's
    MaskablePPO when the environments have it.

    Args:
        envs: The environments, or functions making them (one per environment).
        evaluator: ``evaluator(artifact, instance_info) -> (reward, info)``; a
            module-level function or an instance of a module-level class for executors
            with processes.
        executor: Runs the evaluations (None: in this process, a
            :class:`~envs.execution.SerialExecutor`). An injected executor is the
            caller's: :meth:`close` cancels this env's evaluations but leaves it running.
        deferred: Return at once with ``info["pending"]``; rewards through :meth:`collect`.
        cpus: CPUs an evaluation declares (a Ray executor reserves them).
        gpus: GPUs an evaluation declares.
        timeout: Seconds an evaluation may run (enforced by process and Ray executors).

    Raises:
        ValueError: no environments, an entry that is neither an environment nor a
            factory, an evaluator that is not callable, or bad resources.
    """

    def __init__(
        self,
        envs: Sequence[gym.Env | Callable[[], gym.Env]],
        evaluator: Evaluator,
        *,
        executor: Executor | None = None,
        deferred: bool = False,
        cpus: float = 1,
        gpus: float = 0,
        timeout: float | None = None,
    ):
        if not envs:
            raise ValueError("DeferredRewardVecEnv needs at least one environment")
        if not callable(evaluator):
            raise ValueError(f"the evaluator must be callable, got {evaluator!r}")
        Unit("resources", evaluator, cpus=cpus, gpus=gpus, timeout=timeout)  # checks them
        super().__init__([_factory(env, index) for index, env in enumerate(envs)])
        self.evaluator = evaluator
        self.deferred = deferred
        self.evaluations = EvaluationQueue(executor, name="episode")
        self._resources = {"cpus": cpus, "gpus": gpus, "timeout": timeout}
        #: Vectorized steps taken so far (the ``step_index`` of the next one).
        self.step_count = 0

    def step_wait(self) -> VecEnvStepReturn:
        """Step every environment; evaluate (or hand over) the artifacts of ended episodes."""
        observations, rewards, dones, infos = super().step_wait()
        step, self.step_count = self.step_count, self.step_count + 1
        ended = [int(i) for i in np.flatnonzero(dones) if ARTIFACT in infos[i]]
        tickets = [self._submit(index, step, infos[index]) for index in ended]
        if self.deferred:
            for index, ticket in zip(ended, tickets):
                infos[index][PENDING] = ticket
        else:
            for index, evaluation in zip(ended, self.evaluations.wait_for(tickets)):
                rewards[index] = evaluation.reward
                infos[index].update(evaluation.info)
        return observations, rewards, dones, infos

    def collect(self, block: bool = False, *, first: bool = False) -> list[Evaluation]:
        """Evaluations of deferred episodes that have finished, in the order they finished.

        Args:
            block: Wait for every evaluation in flight.
            first: Wait until at least one evaluation is ready (when any is in flight).

        Returns:
            One :class:`Evaluation` ``(ticket, env_index, step_index, reward, info)`` each;
            ``ticket`` is the ``info["pending"]`` of the step that ended the episode.

        Raises:
            EvaluationError: an evaluation failed; the message names the episode.
        """
        return self.evaluations.collect(block, first=first)

    @property
    def pending(self) -> int:
        """Deferred evaluations not yet collected."""
        return self.evaluations.pending

    def action_masks(self) -> np.ndarray:
        """Allowed actions of every environment, ``(n_envs, n_actions)``.

        Raises:
            ValueError: the environments have no ``action_masks``.
        """
        if not self.has_attr("action_masks"):
            raise ValueError("the environments have no action_masks method")
        return np.stack(self.env_method("action_masks"))

    def close(self) -> None:
        """Stop the evaluations (and the executor if this env made it); close the envs."""
        self.evaluations.close()
        super().close()

    def _submit(self, index: int, step: int, info: dict[str, Any]) -> int:
        instance = {key: value for key, value in info.items() if key not in _NOT_INSTANCE}
        return self.evaluations.submit(
            self.evaluator,
            (info[ARTIFACT], instance),
            env_index=index,
            step_index=step,
            finish=_WithInstance(instance),
            **self._resources,
        )


__all__ = [
    "ARTIFACT",
    "PENDING",
    "DeferredRewardVecEnv",
    "Evaluation",
    "EvaluationError",
    "EvaluationQueue",
    "Evaluator",
]
