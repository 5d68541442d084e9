"""Agents for vector-observation tasks: PPO settings, one configuration, and the task registry.

An *agent configuration* (:class:`AgentConfig`) is a policy architecture
(:class:`policies.vector.VectorPolicyConfig`) plus PPO settings (:class:`PpoSettings`). On
disk (``autorl train --config``, checkpoints) it is one flat JSON object, like the RNA
agents' (:mod:`meta.config`); a file may give any subset of the keys, the others keep the
defaults it is applied to. The keys:

====================  ==========  ===========================================================
key                   default     meaning (SB3 ``PPO`` argument)
====================  ==========  ===========================================================
policy_layers         2           hidden FC layers (:mod:`policies.vector`)
policy_units          64          units per FC layer
policy_units_2        0           units of the second FC layer (0: policy_units)
policy_activation     tanh        ``tanh``, ``relu`` or ``elu``
policy_lstm_units     0           LSTM units; > 0 trains with sb3-contrib ``RecurrentPPO``
policy_shared         false       actor and critic share their hidden layers
policy_ortho_init     true        orthogonal initialization
n_envs                1           environments stepped in parallel (``DummyVecEnv``)
n_steps               2048        steps per environment per rollout (``n_steps``)
batch_size            64          minibatch size (``batch_size``)
n_epochs              10          passes over each rollout (``n_epochs``)
learning_rate         3e-4        Adam step size at the start (``learning_rate``)
lr_schedule           constant    ``constant`` or ``linear`` (decays to 0 over the budget)
gamma                 0.99        discount (``gamma``)
gae_lambda            0.95        GAE lambda (``gae_lambda``)
clip_range            0.2         likelihood-ratio clipping at the start (``clip_range``)
clip_schedule         constant    ``constant`` or ``linear`` (decays to 0 over the budget)
entropy_coef          0.0         entropy bonus weight (``ent_coef``)
vf_coef               0.5         value loss weight (``vf_coef``)
max_grad_norm         0.5         gradient clipping (``max_grad_norm``)
====================  ==========  ===========================================================

The PPO keys reuse the names of the RNA configuration (:class:`meta.config.PPOConfig`)
where they mean the same thing, ``entropy_coef`` for SB3's ``ent_coef`` included; the
defaults are SB3's ``PPO`` defaults, so the default configuration is a plain
``PPO("MlpPolicy", env)``. A ``linear`` schedule is SB3-style: the value is
``initial * progress_remaining``, where progress runs over the whole budget of the run
(timesteps, or seconds for a time budget; see :mod:`meta.ppo_training`).

An *agent spec* is what a domain contributes to training: its configuration type with
the flat-JSON round trip, its environment factory, its model factory (policy architecture
and PPO settings -> an SB3 algorithm) and, where it has one, the return that counts as
solved. :class:`DomainSpec` is that interface; every domain implements it:

* :class:`AgentSpec` -- the vector-observation tasks (this module). Configuration
  :class:`AgentConfig`; ``make_env(n_envs, seed, monitor_path)``; the model is PPO, or
  sb3-contrib's RecurrentPPO with an LSTM.
* :data:`meta.rna_agent.RNA_AGENT` -- RNA design (LEARNA). Configuration
  :class:`meta.config.LearnaConfig`; ``make_env(n_envs, seed, targets=..., config=...)``;
  the model is PPO, or sb3-contrib's MaskablePPO when a sequence constraint masks actions.
* :data:`meta.nas_controller.NAS_AGENT` -- NAS as an MDP (Zoph & Le). Configuration
  :class:`meta.nas_controller.ControllerConfig`; ``make_env(n_envs, seed, evaluator,
  layers=..., budget=..., cache=...)`` (a :class:`envs.nas_vec.NasVecEnv`); the model is
  MaskablePPO with an LSTM over the emitted tokens.

:func:`domain_spec` finds any domain's spec by name (:data:`DOMAINS`; a domain outside
this module is imported on first use, so this module stays light). :data:`AGENTS` holds
the vector-observation tasks that ``autorl train`` runs (:func:`agent_spec`):

* ``cartpole`` -- ``AutoRL/CartPoleVariants-v0`` with the default ranges: exactly
  CartPole-v1 (500-step limit, threshold 475).
* ``cartpole-variants`` -- the same env drawing its physics from the training ranges
  (CARL's), with the normalized context appended to the observation (10 numbers).

:data:`ZOO_CARTPOLE` is the RL Baselines3 Zoo's tuned PPO for CartPole-v1
(``hyperparams/ppo.yml``), kept as a reference to evaluate against later; it is not a
default.

Importing this module is light (no torch, gymnasium or SB3); the environment and the
agent are built by functions that import them on first use.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import json
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from meta.files import cut_partial_line
from policies.vector import FLAT_KEYS as POLICY_KEYS
from policies.vector import VectorPolicyConfig

if TYPE_CHECKING:
    from stable_baselines3.common.base_class import BaseAlgorithm
    from stable_baselines3.common.vec_env import VecEnv

#: The values of ``lr_schedule`` and ``clip_schedule``.
SCHEDULES = ("constant", "linear")


@dataclass(frozen=True)
class LinearSchedule:
    """SB3-style linear decay: ``initial`` at the start of training, 0 at its end.

    Picklable by reference (SB3 saves the schedules with the model).

    Attributes:
        initial: The value at ``progress_remaining == 1``.
    """

    initial: float

    def __call__(self, progress_remaining: float) -> float:
        """The value at ``progress_remaining`` (1 at the start, 0 at the end)."""
        return self.initial * max(0.0, float(progress_remaining))


@dataclass(frozen=True)
class PpoSettings:
    """PPO settings for a vector task; the defaults are SB3's ``PPO`` defaults.

    Attributes:
        n_envs: Environments stepped in parallel (>= 1).
        n_steps: Steps per environment per rollout (>= 1; ``n_steps * n_envs`` >= 2).
        batch_size: Minibatch size (>= 2).
        n_epochs: Passes over each rollout (>= 1).
        learning_rate: Adam step size at the start, in (0, 1).
        lr_schedule: ``constant`` or ``linear`` (to 0 over the run's budget).
        gamma: Discount, in [0, 1].
        gae_lambda: GAE lambda, in [0, 1].
        clip_range: Likelihood-ratio clipping at the start, in (0, 1).
        clip_schedule: ``constant`` or ``linear`` (to 0 over the run's budget).
        entropy_coef: Entropy bonus weight (SB3 ``ent_coef``), in [0, 1).
        vf_coef: Value loss weight, >= 0.
        max_grad_norm: Gradient clipping norm, > 0.

    Raises:
        ValueError: An invalid value; the message names the key.
    """

    n_envs: int = 1
    n_steps: int = 2048
    batch_size: int = 64
    n_epochs: int = 10
    learning_rate: float = 3e-4
    lr_schedule: str = "constant"
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    clip_schedule: str = "constant"
    entropy_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5

    def __post_init__(self) -> None:
        for name in ("n_envs", "n_steps", "n_epochs"):
            _check_int(name, getattr(self, name), 1)
        _check_int("batch_size", self.batch_size, 2)
        if self.n_steps * self.n_envs < 2:
            raise ValueError(
                f"n_steps * n_envs must be >= 2 (a rollout of one step has no advantage "
                f"statistics), got {self.n_steps} * {self.n_envs}"
            )
        _check_number("learning_rate", self.learning_rate, 0, 1, low_open=True, high_open=True)
        _check_number("gamma", self.gamma, 0, 1)
        _check_number("gae_lambda", self.gae_lambda, 0, 1)
        _check_number("clip_range", self.clip_range, 0, 1, low_open=True, high_open=True)
        _check_number("entropy_coef", self.entropy_coef, 0, 1, high_open=True)
        _check_number("vf_coef", self.vf_coef, 0, math.inf)
        _check_number("max_grad_norm", self.max_grad_norm, 0, math.inf, low_open=True)
        for name in ("lr_schedule", "clip_schedule"):
            if getattr(self, name) not in SCHEDULES:
                raise ValueError(f"{name} must be one of {SCHEDULES}, got {getattr(self, name)!r}")
        for name in _FLOAT_FIELDS:
            object.__setattr__(self, name, float(getattr(self, name)))

    def to_flat(self) -> dict[str, Any]:
        """The settings as flat keys (the field names)."""
        return dataclasses.asdict(self)

    def ppo_kwargs(self) -> dict[str, Any]:
        """Arguments of SB3 ``PPO`` / sb3-contrib ``RecurrentPPO`` (schedules as callables)."""
        return {
            "n_steps": self.n_steps,
            "batch_size": self.batch_size,
            "n_epochs": self.n_epochs,
            "learning_rate": _schedule(self.learning_rate, self.lr_schedule),
            "gamma": self.gamma,
            "gae_lambda": self.gae_lambda,
            "clip_range": _schedule(self.clip_range, self.clip_schedule),
            "ent_coef": self.entropy_coef,
            "vf_coef": self.vf_coef,
            "max_grad_norm": self.max_grad_norm,
        }


_FLOAT_FIELDS = tuple(f.name for f in dataclasses.fields(PpoSettings) if f.type == "float")
_INT_FIELDS = tuple(f.name for f in dataclasses.fields(PpoSettings) if f.type == "int")
#: The flat keys of :class:`PpoSettings`, in field order.
PPO_KEYS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(PpoSettings))
#: Every flat key of an :class:`AgentConfig`.
FLAT_KEYS: tuple[str, ...] = (*POLICY_KEYS, *PPO_KEYS)


def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")


def _check_number(
    name: str,
    value: Any,
    low: float,
    high: float,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    number = float(value)
    above = number > low if low_open else number >= low
    below = number < high if high_open else number <= high
    if not (math.isfinite(number) and above and below):
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"{name} must be in {interval}, got {value!r}")


def _schedule(value: float, kind: str) -> float | LinearSchedule:
    return LinearSchedule(value) if kind == "linear" else value


def _coerce_ppo(key: str, value: Any) -> Any:
    """JSON's ``64.0`` as an int for the integer keys; other values are checked later."""
    if (
        key in _INT_FIELDS
        and isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and float(value).is_integer()
    ):
        return int(value)
    return value


@dataclass(frozen=True)
class AgentConfig:
    """Policy architecture and PPO settings of one agent for a vector task.

    Attributes:
        policy: The architecture (SB3's default 2x64 tanh MLP by default).
        ppo: The PPO settings (SB3's defaults by default).
    """

    policy: VectorPolicyConfig = field(default_factory=VectorPolicyConfig)
    ppo: PpoSettings = field(default_factory=PpoSettings)

    def to_flat(self) -> dict[str, Any]:
        """All settings as one flat dict (the on-disk form; keys in :data:`FLAT_KEYS`)."""
        return {**self.policy.to_flat(), **self.ppo.to_flat()}

    @classmethod
    def from_flat(cls, mapping: Mapping[str, Any], base: AgentConfig | None = None) -> AgentConfig:
        """``base`` (default: SB3's defaults) with the flat keys of ``mapping`` applied.

        Raises:
            ValueError: An unknown key (named, with the known keys) or an invalid value.
        """
        return (base or cls()).updated(mapping)

    def updated(self, mapping: Mapping[str, Any]) -> AgentConfig:
        """A copy with the flat keys of ``mapping`` replaced (this object is unchanged).

        Raises:
            ValueError: An unknown key (named, with the known keys) or an invalid value.
        """
        unknown = [key for key in mapping if key not in FLAT_KEYS]
        if unknown:
            raise ValueError(f"unknown key {unknown[0]!r}; known keys: {', '.join(FLAT_KEYS)}")
        policy = {**self.policy.to_flat()}
        ppo: dict[str, Any] = {}
        for key, value in mapping.items():
            if key in POLICY_KEYS:
                policy[key] = value
            else:
                ppo[key] = _coerce_ppo(key, value)
        return AgentConfig(
            VectorPolicyConfig.from_flat(policy), dataclasses.replace(self.ppo, **ppo)
        )

    @classmethod
    def load(cls, path: str | Path, base: AgentConfig | None = None) -> AgentConfig:
        """Read a flat JSON file (a ``_meta`` object in it is ignored) and apply it to ``base``.

        Raises:
            ValueError: The file is missing or unreadable, not JSON, not a JSON object, or
                has an unknown key or a bad value; the message names the file.
        """
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ValueError(f"config file not found: {path}") from None
        except OSError as error:
            raise ValueError(f"{path}: cannot read the config ({error.strerror})") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"{path}: not valid JSON ({error})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a JSON object of settings")
        data.pop("_meta", None)
        try:
            return cls.from_flat(data, base)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None


#: RL Baselines3 Zoo's tuned PPO for CartPole-v1 (``hyperparams/ppo.yml``): a reference to
#: evaluate against, not a default. The policy is the default 2x64 tanh MLP.
ZOO_CARTPOLE = AgentConfig(
    ppo=PpoSettings(
        n_envs=8,
        n_steps=32,
        batch_size=256,
        gae_lambda=0.8,
        gamma=0.98,
        n_epochs=20,
        learning_rate=1e-3,
        lr_schedule="linear",
        clip_range=0.2,
        clip_schedule="linear",
        entropy_coef=0.0,
    )
)


# --------------------------------------------------------------------------- environments


def make_cartpole_env(
    n_envs: int,
    seed: int,
    monitor_path: str | Path | None = None,
    *,
    ranges: Any = "default",
    context_in_observation: bool = False,
    normalization_ranges: Any = None,
) -> VecEnv:
    """``n_envs`` copies of ``AutoRL/CartPoleVariants-v0`` in a ``DummyVecEnv``, seeded.

    Args:
        n_envs: Environments (>= 1).
        seed: Environment ``i`` is seeded with ``seed + i`` at its first reset.
        monitor_path: A ``VecMonitor`` logs every finished episode to this file (a name
            ending in ``monitor.csv``); an existing file is appended to (see
            :func:`monitor`). None: no file.
        ranges: The context ranges: a preset name (``default`` is CartPole-v1), a
            :class:`envs.cartpole_variants.ContextRanges` or a mapping (see
            :func:`envs.cartpole_variants.resolve_ranges`).
        context_in_observation: Append the normalized context to the observation.
        normalization_ranges: The ranges the observation normalizes the context over
            (None: ``ranges``).

    Returns:
        The vectorized environment, wrapped in a ``VecMonitor``.
    """
    import gymnasium as gym
    from stable_baselines3.common.vec_env import DummyVecEnv

    from envs import CARTPOLE_VARIANTS_ID

    factory = functools.partial(
        gym.make,
        CARTPOLE_VARIANTS_ID,
        ranges=ranges,
        context_in_observation=context_in_observation,
        normalization_ranges=normalization_ranges,
    )
    venv = DummyVecEnv([factory] * n_envs)
    venv.seed(seed)
    return monitor(venv, monitor_path)


def monitor(venv: VecEnv, path: str | Path | None) -> VecEnv:
    """Wrap ``venv`` in an SB3 ``VecMonitor`` that logs episodes to ``path``.

    SB3's ``VecMonitor`` always truncates its file; here an existing, non-empty file is
    appended to instead (``ResultsWriter(override_existing=False)``: no second header), so
    a resumed run keeps the episodes of its earlier sessions in one file. A last row cut
    off by a crash (no line end) is dropped first. The ``t`` column counts seconds from
    the ``VecMonitor``'s ``t_start``; a caller that resumes may move ``t_start`` back so
    that ``t`` continues across sessions.

    Args:
        venv: The environment.
        path: The file (its name must end in ``monitor.csv``, SB3's rule), or None.
    """
    from stable_baselines3.common.monitor import ResultsWriter
    from stable_baselines3.common.vec_env import VecMonitor

    if path is None:
        return VecMonitor(venv)
    path = Path(path)
    if not (path.is_file() and path.stat().st_size > 0):
        return VecMonitor(venv, str(path))
    cut_partial_line(path)
    wrapped = VecMonitor(venv)
    wrapped.results_writer = ResultsWriter(str(path), override_existing=False)
    return wrapped


@runtime_checkable
class FlatConfig(Protocol):
    """An agent configuration with a flat-JSON form (:class:`AgentConfig`, ``LearnaConfig``).

    Its class also offers ``from_flat(mapping, base=None)`` (``base`` with the flat keys of
    ``mapping`` applied) and ``load(path, base=None)`` (the same from a flat JSON file, a
    ``_meta`` object in it ignored); both raise ``ValueError`` naming a bad key or value.
    """

    def to_flat(self) -> dict[str, Any]:
        """All settings as one flat dict (the on-disk form)."""
        ...

    def updated(self, mapping: Mapping[str, Any]) -> Any:
        """A copy with some flat keys replaced."""
        ...


@runtime_checkable
class DomainSpec(Protocol):
    """The agent spec every domain implements (RNA design, the vector tasks ...).

    Attributes:
        name: The domain's name (:data:`DOMAINS`; recorded in checkpoints as ``agent``).
        summary: One line for help texts.
        config_type: The configuration class (a :class:`FlatConfig` with ``from_flat``
            and ``load``).
        default: The default configuration.
        threshold: The mean return that counts as solved, or None when the domain has no
            such notion (RNA: a design is solved when its structure is the target's).
    """

    name: str
    summary: str
    config_type: type[Any]
    default: Any
    threshold: float | None

    def make_env(self, n_envs: int, seed: int, *args: Any, **kwargs: Any) -> VecEnv:
        """The seeded training environment: ``n_envs`` copies, plus the domain's instances.

        Every domain takes ``n_envs`` and ``seed`` first; what follows is its own (the
        vector tasks: a ``monitor_path``; RNA: the targets and the MDP settings).
        """
        ...

    def build_model(
        self,
        config: Any,
        env: VecEnv,
        seed: int,
        device: str = "auto",
        tensorboard_log: str | None = None,
    ) -> BaseAlgorithm:
        """An untrained agent for ``env``: the algorithm the configuration (and env) needs."""
        ...


@dataclass(frozen=True)
class AgentSpec:
    """The agent spec (:class:`DomainSpec`) of a vector-observation task.

    Attributes:
        config_type: :class:`AgentConfig` (a class attribute).
        name: The task's name (``--task``).
        summary: One line for help texts.
        make_env: ``make_env(n_envs, seed, monitor_path)``: the seeded training
            environment, a ``VecEnv`` wrapped in a ``VecMonitor`` that logs episodes to
            ``monitor_path`` when given (picklable: a partial of a top-level function).
        default: The default agent configuration.
        threshold: The mean return (over the last 20 episodes) that counts as solved, or
            None when the task has none.
    """

    #: The configuration class of every vector task.
    config_type: ClassVar[type[AgentConfig]] = AgentConfig

    name: str
    summary: str
    make_env: Callable[[int, int, str | Path | None], VecEnv]
    default: AgentConfig = field(default_factory=AgentConfig)
    threshold: float | None = None

    def build_model(
        self,
        config: AgentConfig,
        env: VecEnv,
        seed: int,
        device: str = "auto",
        tensorboard_log: str | None = None,
    ) -> BaseAlgorithm:
        """An untrained PPO (or RecurrentPPO, with an LSTM) agent for ``env``.

        Args:
            config: Architecture and PPO settings; ``config.ppo.n_envs`` must be ``env``'s.
            env: The environment from :attr:`make_env`.
            seed: Seed of the initialization and the sampling.
            device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
            tensorboard_log: SB3's ``tensorboard_log`` folder, or None.

        Raises:
            ValueError: ``env`` has another number of environments than the
                configuration, or a device this machine does not have.
        """
        from policies.vector import build_agent

        if env.num_envs != config.ppo.n_envs:
            raise ValueError(
                f"task {self.name}: the environment has {env.num_envs} copies but n_envs is "
                f"{config.ppo.n_envs}"
            )
        kwargs = config.ppo.ppo_kwargs()
        if tensorboard_log is not None:
            kwargs["tensorboard_log"] = tensorboard_log
        return build_agent(env, config.policy, kwargs, seed=seed, device=device)


#: The vector-observation tasks, by name.
AGENTS: dict[str, AgentSpec] = {
    spec.name: spec
    for spec in (
        AgentSpec(
            "cartpole",
            "CartPole-v1 (AutoRL/CartPoleVariants-v0 with the default physics)",
            functools.partial(make_cartpole_env, ranges="default"),
            threshold=475.0,
        ),
        AgentSpec(
            "cartpole-variants",
            "CartPole with physics drawn per episode from the training ranges, "
            "context in the observation",
            functools.partial(make_cartpole_env, ranges="train", context_in_observation=True),
            threshold=475.0,
        ),
    )
}


#: The RNA design domain's name (its spec is :data:`meta.rna_agent.RNA_AGENT`).
RNA = "rna"

#: The specs of the domains outside this module: ``module:attribute``, imported on first use
#: (they import torch).
_ENTRY_POINTS: dict[str, str] = {
    RNA: "meta.rna_agent:RNA_AGENT",
    "nas": "meta.nas_controller:NAS_AGENT",
}

#: The names of every domain's spec (:func:`domain_spec`): RNA design and the vector tasks.
DOMAINS: tuple[str, ...] = (*_ENTRY_POINTS, *AGENTS)


def agent_spec(name: str) -> AgentSpec:
    """The spec of the vector task ``name`` (one of :data:`AGENTS`).

    Raises:
        ValueError: An unknown task; the message lists the known ones.
    """
    try:
        return AGENTS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(AGENTS)}") from None


def domain_spec(name: str) -> DomainSpec:
    """The agent spec of any domain (:data:`DOMAINS`): ``rna`` or a vector task.

    Raises:
        ValueError: An unknown name; the message lists the known ones.
    """
    if name in AGENTS:
        return AGENTS[name]
    if name not in _ENTRY_POINTS:
        raise ValueError(f"unknown agent {name!r}; known agents: {', '.join(DOMAINS)}")
    module, attribute = _ENTRY_POINTS[name].split(":")
    return getattr(importlib.import_module(module), attribute)


def build_model(
    spec: DomainSpec,
    config: Any,
    env: VecEnv,
    seed: int,
    device: str = "auto",
    tensorboard_log: str | None = None,
) -> BaseAlgorithm:
    """An untrained agent of ``spec``'s domain for ``env``: ``spec.build_model(...)``.

    For a vector task: PPO (or RecurrentPPO, with an LSTM); see
    :meth:`AgentSpec.build_model` for the arguments.

    Raises:
        ValueError: What ``spec.build_model`` refuses (a device this machine does not
            have; for a vector task, ``env`` with another ``n_envs`` than the config).
    """
    return spec.build_model(config, env, seed, device, tensorboard_log)


__all__ = [
    "AGENTS",
    "DOMAINS",
    "FLAT_KEYS",
    "PPO_KEYS",
    "RNA",
    "SCHEDULES",
    "ZOO_CARTPOLE",
    "AgentConfig",
    "AgentSpec",
    "DomainSpec",
    "FlatConfig",
    "LinearSchedule",
    "PpoSettings",
    "agent_spec",
    "build_model",
    "domain_spec",
    "make_cartpole_env",
    "monitor",
]
