"""NAS episodes evaluated on an executor, each distinct child paid for once, within a budget.

:class:`NasVecEnv` is a :class:`envs.deferred.DeferredRewardVecEnv` (always deferred) of
:class:`envs.nas_mdp.NasMdpEnv` s built with ``evaluator=None``: every episode hands over
an architecture, and the child is trained by :class:`envs.nas_children.ChildEvaluator` on
the executor (worker processes, or Ray). Between the episode and the executor sit:

- **This search's evaluations** (``seen``): an architecture the search has already
  evaluated, or is evaluating, is not evaluated again; the episode gets the same reward
  (``info["repeat"] = True``). The budget counts *distinct* architectures evaluated
  (:attr:`NasVecEnv.started`), so a controller that proposes its best child again pays
  nothing for it.
- **The cache** (:class:`envs.evaluation_cache.EvaluationCache`, keyed by architecture,
  dataset and training recipe, seed included): a child trained before, by this search
  before a restart or by another search sharing the file, is read back instead of being
  trained (``info["cached"] = True``). It still counts as one of this search's
  evaluations: a shared cache saves time, never budget.
- **The budget** (``budget``): once ``budget`` distinct architectures have been started,
  a new one ends its episode with reward 0 and ``info["over_budget"] = True``
  (the search stops at :attr:`NasVecEnv.exhausted`).

``on_evaluation(entry)`` gets every evaluation of this search as it finishes, numbered
from 1 in the order they were started (deterministic for a seeded controller, whatever
the order the workers finish in): ``{"evaluation", "architecture", "val_accuracy",
"parameters", "seconds", "epochs", "device", "invalid", "cached", "reward"}`` (the search
writes them to its JSON-lines log). :meth:`NasVecEnv.collect` hands over each finished
evaluation as soon as it is received, also while it blocks for the rest, so a process
killed mid-batch keeps every evaluation that came back before the kill.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import gymnasium as gym

from envs.deferred import ARTIFACT, DeferredRewardVecEnv, Evaluation
from envs.evaluation_cache import EvaluationCache
from envs.execution import Executor
from envs.nas_children import ChildEvaluator, ChildRecipe
from envs.nas_space import Architecture

#: The fields of an evaluation record (besides the architecture).
RECORD_KEYS = ("val_accuracy", "parameters", "seconds", "epochs", "device", "invalid")


def child_key(architecture: Mapping[str, Any], dataset: str, recipe: ChildRecipe) -> str:
    """The cache key of a child: its architecture, dataset and training recipe (seed included).

    The device and the CPU threads are not part of it.
    """
    return json.dumps(
        {
            "architecture": Architecture.from_dict(architecture).to_dict(),
            "dataset": dataset,
            "recipe": recipe.identity(),
        },
        sort_keys=True,
        separators=(",", ":"),
    )


def reward_of(record: Mapping[str, Any], power: float) -> float:
    """The reward of an evaluation record: validation accuracy ** power; 0 if invalid."""
    if record.get("invalid"):
        return 0.0
    return float(record["val_accuracy"]) ** power


class NasVecEnv(DeferredRewardVecEnv):
    """Deferred NAS episodes: distinct children evaluated once, through a cache, in a budget.

    Args:
        envs: :class:`envs.nas_mdp.NasMdpEnv` s with ``evaluator=None`` (or factories).
        evaluator: Trains a child (its dataset, recipe and power define the rewards).
        executor: Runs the trainings (None: in this process).
        cache: Children trained before (None: an in-memory cache).
        budget: Distinct architectures this search may evaluate (None: unlimited).
        seen: Evaluations this search finished before (log entries of a resumed search).
        on_evaluation: Called with every finished evaluation's entry.
        gpus: GPUs a training declares (a Ray executor reserves them).
        timeout: Seconds a training may run.

    Raises:
        ValueError: a budget below 1, or a seen entry without an architecture.
    """

    def __init__(
        self,
        envs: Sequence[gym.Env | Callable[[], gym.Env]],
        evaluator: ChildEvaluator,
        *,
        executor: Executor | None = None,
        cache: EvaluationCache | None = None,
        budget: int | None = None,
        seen: Iterable[Mapping[str, Any]] = (),
        on_evaluation: Callable[[dict[str, Any]], None] | None = None,
        gpus: float = 0,
        timeout: float | None = None,
    ):
        if budget is not None and budget < 1:
            raise ValueError(f"the evaluation budget must be >= 1, got {budget}")
        super().__init__(
            envs, evaluator, executor=executor, deferred=True, gpus=gpus, timeout=timeout
        )
        self.cache = EvaluationCache() if cache is None else cache
        self.budget = budget
        self.on_evaluation = on_evaluation
        #: Architecture key -> record of every evaluation this search finished.
        self.seen: dict[str, dict[str, Any]] = {}
        for entry in seen:
            if "architecture" not in entry:
                raise ValueError(f"a seen evaluation has no architecture: {dict(entry)!r}")
            self.seen[Architecture.from_dict(entry["architecture"]).key()] = dict(entry)
        #: Distinct architectures started (finished, in flight or read from the cache).
        self.started = len(self.seen)
        numbers = [int(entry.get("evaluation", 0)) for entry in self.seen.values()]
        self._next_number = max(numbers, default=0) + 1
        self._number_of: dict[str, int] = {}
        #: Architectures proposed (episodes ended), repeats included.
        self.proposals = 0
        self._key_of: dict[int, str] = {}
        self._waiting: dict[str, list[tuple[int, int, int, dict[str, Any]]]] = {}
        self._resolved: list[Evaluation] = []
        self._aliases = itertools.count(-1, -1)

    @property
    def exhausted(self) -> bool:
        """Whether the budget is spent (every further new architecture would be refused)."""
        return self.budget is not None and self.started >= self.budget

    @property
    def pending(self) -> int:
        """Episodes whose rewards have not been collected yet."""
        waiting = sum(len(entries) for entries in self._waiting.values())
        return super().pending + waiting + len(self._resolved)

    def collect(self, block: bool = False, *, first: bool = False) -> list[Evaluation]:
        """Finished evaluations (trained, cached or repeated), in the order they finished.

        Args:
            block: Wait for every training in flight.
            first: Wait until at least one evaluation is ready.
        """
        out = self._take_resolved()
        if first and not out:
            out += self._receive(super().collect(first=True))
        out += self._receive(super().collect())
        while block and super().pending:
            out += self._receive(super().collect(first=True))
        return out + self._take_resolved()

    def _take_resolved(self) -> list[Evaluation]:
        resolved, self._resolved = self._resolved, []
        return resolved

    def _receive(self, evaluations: list[Evaluation]) -> list[Evaluation]:
        out = []
        for evaluation in evaluations:
            key = self._key_of.pop(evaluation.ticket)
            info = evaluation.info
            record = {"architecture": info["architecture"]}
            record.update({name: info.get(name) for name in RECORD_KEYS})
            self.cache.put(self._cache_key(record["architecture"]), record)
            entry = self._finish(key, {**record, "cached": False})
            out.append(evaluation._replace(info={**info, **entry}))
            for ticket, index, step, instance in self._waiting.pop(key):
                repeat = {**instance, **entry, "repeat": True}
                out.append(Evaluation(ticket, index, step, evaluation.reward, repeat))
        return out

    def _finish(self, key: str, record: dict[str, Any]) -> dict[str, Any]:
        """Record a finished evaluation of this search; tell ``on_evaluation``."""
        entry = {"evaluation": self._number_of.pop(key), **record}
        entry["reward"] = reward_of(entry, self.evaluator.power)
        self.seen[key] = entry
        if self.on_evaluation is not None:
            self.on_evaluation(dict(entry))
        return entry

    def _cache_key(self, architecture: Mapping[str, Any]) -> str:
        return child_key(architecture, self.evaluator.dataset, self.evaluator.recipe)

    def _submit(self, index: int, step: int, info: dict[str, Any]) -> int:
        self.proposals += 1
        instance = {k: v for k, v in info.items() if k not in (ARTIFACT, "terminal_observation")}
        architecture = info[ARTIFACT]
        key = Architecture.from_dict(architecture).key()
        if key in self.seen:
            return self._resolve(index, step, {**instance, **self.seen[key], "repeat": True})
        if key in self._waiting:
            ticket = next(self._aliases)
            self._waiting[key].append((ticket, index, step, instance))
            return ticket
        if self.exhausted:
            return self._resolve(index, step, {**instance, "over_budget": True})
        self.started += 1
        self._number_of[key] = self._next_number
        self._next_number += 1
        cached = self.cache.get(self._cache_key(architecture))
        if cached is not None:
            entry = self._finish(key, {**cached, "architecture": architecture, "cached": True})
            return self._resolve(index, step, {**instance, **entry})
        ticket = super()._submit(index, step, info)
        self._key_of[ticket] = key
        self._waiting[key] = []
        return ticket

    def _resolve(self, index: int, step: int, info: dict[str, Any]) -> int:
        """An episode whose reward is known now; :meth:`collect` hands it over."""
        ticket = next(self._aliases)
        reward = 0.0 if info.get("over_budget") else float(info["reward"])
        self._resolved.append(Evaluation(ticket, index, step, reward, info))
        return ticket


__all__ = ["RECORD_KEYS", "NasVecEnv", "child_key", "reward_of"]
