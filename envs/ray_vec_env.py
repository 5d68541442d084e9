"""A vectorized environment whose environments live in Ray actors, spread over a cluster.

:class:`RayVecEnv` is an SB3 ``VecEnv`` of N environments hosted by K Ray actors. Each actor
holds a share of the environments as a sub-``VecEnv`` that a picklable factory builds
(``factory(n_envs, seed) -> VecEnv``), so anything that runs as a ``VecEnv`` on one machine
runs on a cluster: a ``DummyVecEnv`` of gymnasium environments (:class:`GymVecEnvFactory`) or
a batched environment such as :class:`envs.vector.RnaDesignVecEnv`. A step sends every actor
its slice of the actions and concatenates what comes back, so the learner (in the driver)
sees one batch, in the order of the environment indices.

Actors are placed with Ray's ``SPREAD`` strategy (across the nodes of the cluster) and each
declares ``num_cpus`` CPUs (1 by default).

Fault tolerance: when an actor dies (its node is lost, its process is killed), the call that
notices it replaces the actor by a fresh one (a new seed) and raises :class:`EnvWorkersLost`.
The environments' states are then partly lost, so the caller resets the environment and
redoes its work; :func:`with_rollout_redo` makes an SB3 on-policy algorithm (``PPO``,
sb3-contrib's ``MaskablePPO``) do that for a rollout. :meth:`RayVecEnv.reset` replaces lost
actors and retries by itself.

Ray is imported when a :class:`RayVecEnv` is built, so this module imports without Ray.
"""

from __future__ import annotations

import abc
import contextlib
import functools
import logging
from collections.abc import Callable, Sequence
from copy import deepcopy
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

log = logging.getLogger(__name__)

#: Builds the sub-environment of one actor: ``factory(n_envs, seed)``.
VecEnvFactory = Callable[[int, int], VecEnv]

#: How often :meth:`RayVecEnv.reset` replaces lost actors before it gives up.
RESET_ATTEMPTS = 3
#: Seconds :meth:`RayVecEnv.close` waits for the actors to close their environments.
CLOSE_TIMEOUT = 10.0
#: Seconds a replacement actor may wait for a node with free resources before it is placed
#: without reserving any (sharing a busy node's CPU), so a lost node does not stall the run.
PLACEMENT_TIMEOUT = 30.0


class EnvWorkersLost(RuntimeError):
    """Ray actors hosting environments died; they were replaced by fresh ones.

    The replaced actors' environments start from scratch: reset the environment before
    stepping it again.

    Attributes:
        actors: Indices of the lost actors.
    """

    def __init__(self, actors: Sequence[int], cause: BaseException):
        self.actors = list(actors)
        super().__init__(
            f"{len(self.actors)} environment actor(s) lost ({', '.join(map(str, self.actors))}): "
            f"{type(cause).__name__}: {_first_line(cause)}; replaced by fresh actors"
        )


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else repr(error)


def _last_line(error: BaseException | None) -> str:
    """The last line of an error's message (a remote traceback ends with its cause)."""
    text = str(error).strip()
    return text.splitlines()[-1] if text else repr(error)


@dataclass(frozen=True)
class GymVecEnvFactory:
    """A picklable factory of a ``DummyVecEnv`` of a registered gymnasium environment.

    Environment ``j`` of a sub-environment built with ``seed`` is seeded ``seed + j`` at its
    first reset, as in SB3's ``VecEnv.seed``.

    Attributes:
        env_id: The gymnasium id, e.g. ``CartPole-v1``.
        kwargs: Keyword arguments of ``gymnasium.make``.
    """

    env_id: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __call__(self, n_envs: int, seed: int) -> VecEnv:
        """Build ``n_envs`` environments seeded from ``seed``."""
        env = DummyVecEnv([functools.partial(gym.make, self.env_id, **self.kwargs)] * n_envs)
        env.seed(seed)
        return env


class _EnvWorker:
    """The Ray actor: one sub-``VecEnv`` and the calls :class:`RayVecEnv` forwards to it."""

    def __init__(self, factory: VecEnvFactory, n_envs: int, seed: int):
        self.env = factory(n_envs, seed)
        if self.env.num_envs != n_envs:
            raise ValueError(f"the factory built {self.env.num_envs} environments, not {n_envs}")

    def spaces(self) -> tuple[gym.Space, gym.Space]:
        return self.env.observation_space, self.env.action_space

    def reset(self) -> tuple[Any, list[dict[str, Any]]]:
        obs = self.env.reset()
        return obs, list(self.env.reset_infos)

    def step(self, actions: np.ndarray) -> tuple[Any, np.ndarray, np.ndarray, list[dict]]:
        return self.env.step(actions)

    def seed(self, seed: int) -> list[int | None]:
        return list(self.env.seed(seed))

    def set_options(self, options: list[dict[str, Any]]) -> None:
        self.env.set_options(options)

    def has_attr(self, name: str) -> bool:
        return self.env.has_attr(name)

    def get_attr(self, name: str, indices: list[int]) -> list[Any]:
        return self.env.get_attr(name, indices)

    def set_attr(self, name: str, value: Any, indices: list[int]) -> None:
        self.env.set_attr(name, value, indices)

    def env_method(self, name: str, args: tuple, kwargs: dict, indices: list[int]) -> list[Any]:
        return self.env.env_method(name, *args, indices=indices, **kwargs)

    def env_is_wrapped(self, wrapper_class: type, indices: list[int]) -> list[bool]:
        return self.env.env_is_wrapped(wrapper_class, indices)

    def action_masks(self) -> np.ndarray:
        masks = getattr(self.env, "action_masks", None)
        if callable(masks):
            return np.asarray(masks())
        return np.stack(self.env.env_method("action_masks"))

    def get_images(self) -> list[Any]:
        return list(self.env.get_images())

    def close(self) -> None:
        self.env.close()


@functools.cache
def _remote_worker(ray: Any) -> Any:
    """The Ray actor class of :class:`_EnvWorker` (made once per process)."""
    return ray.remote(_EnvWorker)


def split(n_envs: int, n_workers: int) -> list[range]:
    """The environment indices of each actor: contiguous, sizes differing by at most one."""
    if n_envs < 1 or n_workers < 1:
        raise ValueError(f"n_envs and n_workers must be >= 1, got {n_envs} and {n_workers}")
    if n_workers > n_envs:
        raise ValueError(f"{n_workers} actors cannot share {n_envs} environment(s)")
    bounds = np.linspace(0, n_envs, n_workers + 1).round().astype(int)
    return [range(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def _concatenate(parts: Sequence[Any]) -> Any:
    """Concatenate batched observations (arrays, dicts or tuples of arrays) along axis 0."""
    first = parts[0]
    if isinstance(first, dict):
        return {key: np.concatenate([part[key] for part in parts]) for key in first}
    if isinstance(first, tuple):
        return tuple(np.concatenate(column) for column in zip(*parts))
    return np.concatenate(parts)


class RayVecEnv(VecEnv):
    """N environments in K Ray actors, as one SB3 ``VecEnv``.

    Actor ``k`` hosts the contiguous environments ``slices[k]`` as ``factory(len, seed)``,
    with ``seed + slices[k].start`` (so with a ``DummyVecEnv`` factory, environment ``i`` is
    seeded ``seed + i`` as in one local ``DummyVecEnv``). Ray must be initialized.

    Args:
        factory: Picklable ``factory(n_envs, seed) -> VecEnv`` run inside each actor.
        n_envs: Environments in all.
        n_workers: Actors (at most ``n_envs``).
        seed: Seed of the factories (None: random).
        num_cpus: CPUs each actor declares to Ray.
        num_gpus: GPUs each actor declares to Ray.
        scheduling_strategy: Ray's placement of the actors (``SPREAD``: across nodes).

    Raises:
        ValueError: bad sizes, or actors whose environments disagree on the spaces.
    """

    def __init__(
        self,
        factory: VecEnvFactory,
        n_envs: int,
        n_workers: int = 1,
        seed: int | None = None,
        num_cpus: float = 1.0,
        num_gpus: float = 0.0,
        scheduling_strategy: str = "SPREAD",
    ):
        import ray

        self._ray = ray
        self.factory = factory
        self.slices = split(n_envs, n_workers)
        self._owner = np.repeat(np.arange(n_workers), [len(s) for s in self.slices])
        self._seed = int(np.random.SeedSequence().generate_state(1)[0]) if seed is None else seed
        self._resources = {"num_cpus": num_cpus, "num_gpus": num_gpus}
        self._strategy = scheduling_strategy
        #: Actors replaced so far (each with a fresh seed).
        self.restarts = 0
        #: Seconds a replacement may wait for free resources (see :data:`PLACEMENT_TIMEOUT`).
        self.placement_timeout = PLACEMENT_TIMEOUT
        #: Replacements placed without reserved resources (the cluster had none left).
        self.oversubscribed = 0
        self._actors: list[Any] = []
        self._pending: list[Any] | None = None
        self.num_envs = n_envs
        try:
            self._actors = [self._start(k, self._seed + s.start) for k, s in enumerate(self.slices)]
            spaces, lost, cause = self._collect([a.spaces.remote() for a in self._actors])
        except BaseException:
            self.close()
            raise
        if lost:
            self.close()
            raise RuntimeError(
                f"environment actor(s) {lost} did not start: {_last_line(cause)}"
            ) from cause
        observation_space, action_space = spaces[0]
        if any(s != spaces[0] for s in spaces[1:]):
            self.close()
            raise ValueError("the actors' environments have different spaces")
        super().__init__(n_envs, observation_space, action_space)

    # -- actors -----------------------------------------------------------------
    @property
    def actors(self) -> list[Any]:
        """The Ray actor handles, one per slice (a replaced actor's handle changes)."""
        return list(self._actors)

    def _start(self, index: int, seed: int, reserve: bool = True) -> Any:
        """Start the actor of slice ``index`` (``reserve``: with its declared resources)."""
        resources = self._resources if reserve else {"num_cpus": 0, "num_gpus": 0}
        worker = _remote_worker(self._ray).options(
            **resources, scheduling_strategy=self._strategy, max_restarts=0
        )
        return worker.remote(self.factory, len(self.slices[index]), seed)

    def _start_replacement(self, index: int, seed: int) -> Any:
        """Start a replacement; if no node can take it in time, start it unreserved."""
        actor = self._start(index, seed)
        ready, _ = self._ray.wait([actor.spaces.remote()], timeout=self.placement_timeout)
        if ready:
            return actor
        with contextlib.suppress(Exception):
            self._ray.kill(actor, no_restart=True)
        log.warning(
            "no node had free resources for a replacement of environment actor %d within "
            "%g s (a node was lost?); it shares a CPU instead",
            index,
            self.placement_timeout,
        )
        self.oversubscribed += 1
        return self._start(index, seed, reserve=False)

    def _fresh_seed(self, index: int) -> int:
        """A new seed for a replacement of actor ``index`` (distinct per restart)."""
        sequence = np.random.SeedSequence([self._seed, index, self.restarts])
        return int(sequence.generate_state(1)[0])

    def _replace(self, indices: Sequence[int]) -> None:
        """Kill the actors ``indices`` (if still alive) and start fresh ones."""
        for index in indices:
            with contextlib.suppress(Exception):
                self._ray.kill(self._actors[index], no_restart=True)
            self.restarts += 1
            self._actors[index] = self._start_replacement(index, self._fresh_seed(index))

    def _collect(
        self, refs: Sequence[Any], actors: Sequence[int] | None = None
    ) -> tuple[list[Any], list[int], BaseException | None]:
        """``ray.get`` every result: ``(results, lost actors, first error)``.

        Args:
            refs: One object reference per actor in ``actors``.
            actors: The actor index of each reference (default: ``0..len(refs)-1``).

        Returns:
            The results (None for a lost actor), the lost actors, the first such error.
        """
        actors = range(len(refs)) if actors is None else actors
        results: list[Any] = []
        lost: list[int] = []
        cause: BaseException | None = None
        for index, ref in zip(actors, refs):
            try:
                results.append(self._ray.get(ref))
            except self._ray.exceptions.RayActorError as error:
                lost.append(index)
                cause = cause or error
                results.append(None)
        if lost:
            log.warning("environment actor(s) %s died: %s", lost, _first_line(cause))
        return results, lost, cause

    def _gather(self, refs: Sequence[Any], actors: Sequence[int] | None = None) -> list[Any]:
        """``ray.get`` every result; replace dead actors and raise :class:`EnvWorkersLost`.

        Args:
            refs: One object reference per actor in ``actors``.
            actors: The actor index of each reference (default: ``0..len(refs)-1``).
        """
        results, lost, cause = self._collect(refs, actors)
        if lost:
            assert cause is not None
            self._replace(lost)
            raise EnvWorkersLost(lost, cause)
        return results

    def _by_actor(self, indices: Any) -> list[tuple[int, list[int], list[int]]]:
        """Group environment indices by actor: ``(actor, local indices, positions)``."""
        groups: dict[int, tuple[list[int], list[int]]] = {}
        for position, index in enumerate(self._get_indices(indices)):
            index = int(index)
            if not 0 <= index < self.num_envs:
                raise IndexError(f"environment index {index} out of range 0..{self.num_envs - 1}")
            actor = int(self._owner[index])
            local, positions = groups.setdefault(actor, ([], []))
            local.append(index - self.slices[actor].start)
            positions.append(position)
        return [(actor, local, positions) for actor, (local, positions) in groups.items()]

    def _per_env(self, method: str, indices: Any, *args: Any) -> list[Any]:
        """Call ``method(*args, local_indices)`` on the actors of ``indices``; results in order."""
        groups = self._by_actor(indices)
        refs = [getattr(self._actors[a], method).remote(*args, local) for a, local, _ in groups]
        answers = self._gather(refs, [a for a, _, _ in groups])
        results: list[Any] = [None] * sum(len(positions) for _, _, positions in groups)
        for (_, _, positions), answer in zip(groups, answers):
            for position, value in zip(positions, answer):
                results[position] = value
        return results

    # -- SB3 VecEnv interface ---------------------------------------------------
    def reset(self) -> Any:
        """Reset every environment; lost actors are replaced and their share reset again.

        Raises:
            EnvWorkersLost: actors kept dying (:data:`RESET_ATTEMPTS` times in a row).
        """
        self._pending = None
        results: list[Any] = [None] * len(self._actors)
        todo = list(range(len(self._actors)))
        for _ in range(RESET_ATTEMPTS):
            answers, lost, cause = self._collect(
                [self._actors[k].reset.remote() for k in todo], todo
            )
            for k, answer in zip(todo, answers):
                results[k] = answer  # the survivors' fresh episodes are kept
            if not lost:
                break
            self._replace(lost)
            todo = lost
        else:
            assert cause is not None
            raise EnvWorkersLost(todo, cause)
        self.reset_infos = [info for _, infos in results for info in infos]
        return _concatenate([obs for obs, _ in results])

    def step_async(self, actions: np.ndarray) -> None:
        """Send every actor its slice of ``actions``."""
        actions = np.asarray(actions)
        self._pending = [
            actor.step.remote(actions[s.start : s.stop])
            for actor, s in zip(self._actors, self.slices)
        ]

    def step_wait(self) -> tuple[Any, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        """Gather and concatenate the actors' ``(obs, rewards, dones, infos)``.

        Raises:
            EnvWorkersLost: an actor died; it was replaced; reset before stepping again.
        """
        pending, self._pending = self._pending, None
        if pending is None:
            raise RuntimeError("step_wait called without step_async")
        results = self._gather(pending)
        obs = _concatenate([r[0] for r in results])
        rewards = np.concatenate([np.asarray(r[1]) for r in results])
        dones = np.concatenate([np.asarray(r[2]) for r in results])
        infos = [info for r in results for info in r[3]]
        return obs, rewards, dones, infos

    def seed(self, seed: int | None = None) -> list[int | None]:
        """Seed the environments (actor ``k`` with ``seed + slices[k].start``) at next reset."""
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1)[0])
        self._seed = seed
        refs = [a.seed.remote(seed + s.start) for a, s in zip(self._actors, self.slices)]
        return [value for answer in self._gather(refs) for value in answer]

    def set_options(self, options: list[dict] | dict | None = None) -> None:
        """Options of the environments' next reset (one dict for all, or one per env)."""
        if options is None:
            options = {}
        if isinstance(options, dict):
            options = [options] * self.num_envs
        if len(options) != self.num_envs:
            raise ValueError(f"{len(options)} options for {self.num_envs} environments")
        self._options = deepcopy(list(options))
        refs = [
            a.set_options.remote(self._options[s.start : s.stop])
            for a, s in zip(self._actors, self.slices)
        ]
        self._gather(refs)

    def close(self) -> None:
        """Close the environments and kill the actors."""
        refs = [actor.close.remote() for actor in self._actors]
        if refs:
            with contextlib.suppress(Exception):
                self._ray.wait(refs, num_returns=len(refs), timeout=CLOSE_TIMEOUT)
        for actor in self._actors:
            with contextlib.suppress(Exception):
                self._ray.kill(actor, no_restart=True)
        self._actors = []
        self._pending = None

    def has_attr(self, attr_name: str) -> bool:
        """Whether every actor's environments have ``attr_name`` (checked in the actors)."""
        return all(self._gather([a.has_attr.remote(attr_name) for a in self._actors]))

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        """The attribute of each environment (values must pickle: no bound methods)."""
        return self._per_env("get_attr", indices, attr_name)

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        """Set an attribute of the environments ``indices``."""
        groups = self._by_actor(indices)
        refs = [self._actors[a].set_attr.remote(attr_name, value, local) for a, local, _ in groups]
        self._gather(refs, [a for a, _, _ in groups])

    def env_method(
        self, method_name: str, *method_args: Any, indices: Any = None, **method_kwargs: Any
    ) -> list[Any]:
        """Call a method of the environments ``indices`` in their actors."""
        return self._per_env("env_method", indices, method_name, method_args, method_kwargs)

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: Any = None) -> list[bool]:
        """Whether the environments ``indices`` are wrapped with ``wrapper_class``."""
        return self._per_env("env_is_wrapped", indices, wrapper_class)

    def action_masks(self) -> np.ndarray:
        """Allowed actions of every environment, ``(n_envs, n_actions)``.

        Raises:
            AttributeError: the sub-environments have no action masks.
        """
        return np.concatenate(self._gather([a.action_masks.remote() for a in self._actors]))

    def get_images(self) -> list[Any]:
        """The rendered images of every environment."""
        return [
            image
            for part in self._gather([a.get_images.remote() for a in self._actors])
            for image in part
        ]


# -- redoing a rollout after lost actors -----------------------------------------

#: Attributes of the redo bookkeeping (never saved with the model).
_REDO_ATTRIBUTES = ("max_rollout_redos", "rollout_redos", "on_rollout_redo")


class RolloutRedo(abc.ABC):  # noqa: B024 - a marker, joined by registration
    """Marks SB3 models made by :func:`with_rollout_redo` (``isinstance(model, RolloutRedo)``).

    Such a model redoes a rollout whose environment actors died: when ``collect_rollouts``
    raises :class:`EnvWorkersLost`, the step count goes back to its value at the start of the
    rollout, the environment is reset and the rollout is collected again, up to
    ``max_rollout_redos`` times in a row; ``rollout_redos`` counts the redos and
    ``on_rollout_redo(error, attempt)`` is called before each.
    """


def _collect_with_redo(
    model: Any, collect: Callable[..., bool], env: VecEnv, *args: Any, **kwargs: Any
) -> bool:
    """``collect(env, ...)`` (the algorithm's ``collect_rollouts``), redone after lost actors.

    Raises:
        RuntimeError: the rollout failed ``max_rollout_redos + 1`` times in a row.
    """
    start = model.num_timesteps
    error: EnvWorkersLost | None = None
    for attempt in range(model.max_rollout_redos + 1):
        try:
            if error is not None:
                _restart_rollout(model, env, error, attempt)
            return collect(env, *args, **kwargs)
        except EnvWorkersLost as lost:
            model.num_timesteps = start
            error = lost
    raise RuntimeError(
        f"a rollout failed {model.max_rollout_redos + 1} times in a row because environment "
        f"actors died (last: {error}); is the cluster losing nodes?"
    ) from error


def _restart_rollout(model: Any, env: VecEnv, error: EnvWorkersLost, attempt: int) -> None:
    """Reset the environment for a redo (as at the start of ``learn``) and report it."""
    model.rollout_redos += 1
    log.warning(
        "redoing the rollout at %d steps (attempt %d of %d): %s",
        model.num_timesteps,
        attempt,
        model.max_rollout_redos,
        error,
    )
    if model.on_rollout_redo is not None:
        model.on_rollout_redo(error, attempt)
    model._last_obs = env.reset()
    model._last_episode_starts = np.ones((env.num_envs,), dtype=bool)


@functools.cache
def _redo_class(algorithm: type) -> type:
    """A subclass of ``algorithm`` that redoes lost rollouts (one class per algorithm).

    A direct subclass without other bases, so that a built model's ``__class__`` can become
    it (CPython refuses a class whose layout chain differs).
    """

    class WithRolloutRedo(algorithm):  # type: ignore[valid-type, misc]
        def collect_rollouts(self, env: VecEnv, *args: Any, **kwargs: Any) -> bool:
            return _collect_with_redo(self, super().collect_rollouts, env, *args, **kwargs)

        def _excluded_save_params(self) -> list[str]:
            return [*super()._excluded_save_params(), *_REDO_ATTRIBUTES]

    WithRolloutRedo.__name__ = WithRolloutRedo.__qualname__ = algorithm.__name__
    RolloutRedo.register(WithRolloutRedo)
    return WithRolloutRedo


def with_rollout_redo(
    model: Any,
    max_redos: int = 3,
    on_redo: Callable[[EnvWorkersLost, int], None] | None = None,
) -> Any:
    """Make a built SB3 on-policy model redo rollouts whose environment actors died.

    Works for any algorithm whose ``collect_rollouts`` refills the rollout buffer from
    ``_last_obs`` (``PPO``, ``A2C``, sb3-contrib's ``MaskablePPO``). The model's class becomes
    a subclass of its own (see :class:`RolloutRedo`); weights, saving and loading into the
    plain class are unchanged.

    Args:
        model: The model.
        max_redos: Redos of one rollout before a ``RuntimeError``.
        on_redo: Called with the error and the attempt (1, 2, ...) before each redo.

    Returns:
        The same model.
    """
    if max_redos < 0:
        raise ValueError(f"max_redos must be >= 0, got {max_redos}")
    if not isinstance(model, RolloutRedo):
        model.__class__ = _redo_class(type(model))
    model.max_rollout_redos = max_redos
    model.rollout_redos = 0
    model.on_rollout_redo = on_redo
    return model
