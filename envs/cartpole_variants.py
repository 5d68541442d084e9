"""CartPole with a physics context (CARL-style): the environment ``AutoRL/CartPoleVariants-v0``.

:class:`CartPoleVariantsEnv` is gymnasium's ``CartPole-v1`` (it subclasses
:class:`gymnasium.envs.classic_control.CartPoleEnv` and calls its ``step`` and ``reset``)
whose physics is a *context* of six features, the context features of the CARL benchmark
(Benjamins et al., "Contextualize Me -- The Case for Context in Reinforcement Learning",
TMLR 2023; github.com/automl/CARL):

============  =========  ====================================================
feature       default    meaning (gymnasium's attribute of the same name)
============  =========  ====================================================
gravity       9.8        gravitational acceleration (m/s^2)
masscart      1.0        mass of the cart (kg)
masspole      0.1        mass of the pole (kg)
length        0.5        *half* the pole's length (m), as in gymnasium
force_mag     10.0       magnitude of the force of one push (N)
tau           0.02       seconds between two states (Euler integration step)
============  =========  ====================================================

The defaults are exactly CartPole-v1's (:class:`CartPoleContext`). ``total_mass`` and
``polemass_length``, which CartPoleEnv derives from the masses and the length, are
recomputed with gymnasium's own expressions whenever the context changes.

Contexts per episode:
    At every ``reset`` a context is drawn uniformly, feature by feature, from
    :class:`ContextRanges` (a closed interval ``(low, high)`` per feature; ``low == high``
    fixes the feature). ``reset(options={"context": {...}})`` pins the named features (a
    mapping or a :class:`CartPoleContext`) for that episode; the others are drawn as usual.
    ``info["context"]`` (after ``reset`` and after every ``step``) is the episode's context as
    a ``dict`` of floats, and :attr:`CartPoleVariantsEnv.context` the
    :class:`CartPoleContext`.

Range presets (``ranges=`` of the constructor and of ``gym.make``):
    * ``None`` / ``"default"`` -- :data:`DEFAULT_RANGES`: every range is the single point of
      CartPole-v1, so ``gym.make("AutoRL/CartPoleVariants-v0")`` *is* CartPole-v1: with the
      same seed and the same actions it gives bit-identical observations, rewards,
      terminations and truncations (the registration has the same 500-step time limit and
      reward threshold 475).
    * ``"train"`` -- :data:`TRAINING_RANGES`, the ranges to train on. They are CARL's: the
      ``CONTEXT_BOUNDS`` of CARL's JAX (gymnax) CartPole, whose features are these six:
      gravity [5, 15], masscart [0.5, 2], masspole [0.05, 0.2], length [0.25, 1], force_mag
      [5, 15], tau [0.01, 0.05]. Each contains the CartPole-v1 default and spans a factor 3
      to 5. (CARL's gymnasium CartPole only bounds the features to valid physics, e.g.
      gravity >= 0.1 and masscart in [0.1, 10]: too wide a box to train on.)
    * ``"test"`` -- :data:`TEST_RANGES`, for evaluation on contexts not trained on (our
      choice): every test range contains its training range and extends it on both sides,
      ``(low / 2, high * 1.5)``, so test contexts are partly interpolation (inside the
      training box) and partly extrapolation (outside it; with six features 98% of the
      test contexts lie outside the box in at least one feature).
    * a mapping ``{feature: (low, high) or value}`` -- the named features get those ranges
      (a single number is a point range), the others stay at the CartPole-v1 point; or a
      :class:`ContextRanges`.

    Every bound must be finite and positive (a mass, a length, a time step, a push and
    gravity that pulls the pole down are all positive), and ``low <= high``; anything else is
    a ``ValueError`` that names the feature, e.g. ``context range masspole: min 0.2 > max
    0.1``.

    The ranges keep the task mostly solvable: a bang-bang controller that pushes in the
    direction of the context's discrete-time LQR gain balances the pole for the full 500
    steps (3 seeds) in all of 300 contexts drawn from the training ranges and in 96% of 300
    drawn from the test ranges. It fails at 4 of the 64 corners of the training box (a
    light cart, a short pole, a strong push and tau 0.05: one push overshoots) and at 24 of
    the 64 corners of the test box (mostly tau 0.075).

Seeding:
    Contexts come from their own random stream, derived from the seed of the env's
    ``np_random`` (``reset(seed=s)`` reseeds both), not from ``np_random`` itself. Hence the
    initial states of every episode are those CartPole-v1 draws with the same seed, whatever
    the ranges are (the same seed gives the same starting states in every context -- common
    random numbers when comparing contexts), and the same seed gives the same sequence of
    contexts. (If ``np_random`` was assigned directly, so that it has no seed, the context
    stream is seeded from fresh entropy.)

Context in the observation:
    With ``context_in_observation=True`` the observation is CartPole's four numbers followed
    by the six features, each mapped linearly onto [-1, 1] over its normalization range
    (``low`` -> -1, ``high`` -> 1; a single-point range maps to 0). The normalization ranges
    are ``ranges`` unless ``normalization_ranges`` is given: to evaluate an agent trained on
    :data:`TRAINING_RANGES` on :data:`TEST_RANGES`, pass ``ranges="test",
    normalization_ranges="train"`` so a context reads the same as in training; the context
    part of ``observation_space`` then widens to cover the test ranges (e.g. gravity 22.5 ->
    1.75). A pinned context that the observation cannot show -- normalized outside
    ``observation_space``, or off the point of a single-point normalization range -- is a
    ``ValueError``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, SupportsFloat, TypeAlias

import numpy as np
from gymnasium import spaces
from gymnasium.envs.classic_control.cartpole import CartPoleEnv

FEATURES: Final[tuple[str, ...]] = (
    "gravity",
    "masscart",
    "masspole",
    "length",
    "force_mag",
    "tau",
)
"""The context features, in the order they are appended to the observation."""

# Key of the context's random stream, spawned from the seed of the env's np_random.
_CONTEXT_STREAM: Final = 0x435458  # "CTX"


def _as_float(value: Any, where: str) -> float:
    """``value`` as a finite float, or a ValueError naming ``where``."""
    if isinstance(value, str | bytes) or np.ndim(value) != 0:
        raise ValueError(f"{where}: {value!r} is not a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {value!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{where}: {number} is not finite")
    return number


def _check_feature_names(names: Any, what: str) -> None:
    """Raise a ValueError naming the keys of ``names`` that are not context features."""
    unknown = [name for name in names if name not in FEATURES]
    if unknown:
        listed = ", ".join(repr(name) for name in unknown)
        raise ValueError(
            f"unknown {what} feature(s) {listed}; the features are {', '.join(FEATURES)}"
        )


@dataclass(frozen=True)
class CartPoleContext:
    """The physics of one CartPole episode; the defaults are exactly CartPole-v1's.

    Attributes:
        gravity: Gravitational acceleration (m/s^2), > 0.
        masscart: Mass of the cart (kg), > 0.
        masspole: Mass of the pole (kg), > 0.
        length: Half the pole's length (m), > 0 (gymnasium's convention).
        force_mag: Magnitude of the force of a push (N), > 0.
        tau: Seconds between two states, > 0.

    Raises:
        ValueError: A feature is not a finite positive number; the message names it.
    """

    gravity: float = 9.8
    masscart: float = 1.0
    masspole: float = 0.1
    length: float = 0.5
    force_mag: float = 10.0
    tau: float = 0.02

    def __post_init__(self) -> None:
        for name in FEATURES:
            value = _as_float(getattr(self, name), f"context {name}")
            if value <= 0:
                raise ValueError(f"context {name}: {value} must be > 0")
            object.__setattr__(self, name, value)

    @classmethod
    def from_mapping(
        cls, values: Mapping[str, SupportsFloat], base: CartPoleContext | None = None
    ) -> CartPoleContext:
        """``base`` (default: CartPole-v1's context) with the features named in ``values``.

        Raises:
            ValueError: ``values`` names an unknown feature or holds an invalid value.
        """
        _check_feature_names(values, "context")
        return dataclasses.replace(base or cls(), **dict(values))

    def as_dict(self) -> dict[str, float]:
        """The features as ``{name: value}``, in the order of :data:`FEATURES`."""
        return {name: getattr(self, name) for name in FEATURES}

    def as_array(self) -> np.ndarray:
        """The features as a float64 array, in the order of :data:`FEATURES`."""
        return np.array([getattr(self, name) for name in FEATURES], dtype=np.float64)


Range: TypeAlias = tuple[float, float]

_V1 = CartPoleContext()


@dataclass(frozen=True)
class ContextRanges:
    """A closed interval ``(low, high)`` per context feature; ``low == high`` fixes it.

    The defaults are the single points of CartPole-v1's context.

    Raises:
        ValueError: A range is not a pair of finite numbers, its min is > its max, or its
            min is not positive; the message names the feature and the range.
    """

    gravity: Range = (_V1.gravity, _V1.gravity)
    masscart: Range = (_V1.masscart, _V1.masscart)
    masspole: Range = (_V1.masspole, _V1.masspole)
    length: Range = (_V1.length, _V1.length)
    force_mag: Range = (_V1.force_mag, _V1.force_mag)
    tau: Range = (_V1.tau, _V1.tau)

    def __post_init__(self) -> None:
        for name in FEATURES:
            value = getattr(self, name)
            where = f"context range {name}"
            if isinstance(value, str | bytes) or not hasattr(value, "__len__") or len(value) != 2:
                raise ValueError(f"{where}: {value!r} is not a (min, max) pair")
            low, high = (_as_float(bound, where) for bound in value)
            if low > high:
                raise ValueError(f"{where}: min {low} > max {high}")
            if low <= 0:
                raise ValueError(f"{where}: min {low} must be > 0 ({name} is positive)")
            object.__setattr__(self, name, (low, high))

    @classmethod
    def from_mapping(
        cls,
        values: Mapping[str, SupportsFloat | tuple[SupportsFloat, SupportsFloat]],
        base: ContextRanges | None = None,
    ) -> ContextRanges:
        """``base`` (default: the CartPole-v1 points) with the ranges named in ``values``.

        Args:
            values: ``{feature: (low, high)}``; a single number is the point range
                ``(value, value)``. Lists are accepted as pairs (JSON).
            base: The ranges of the features not named.

        Raises:
            ValueError: An unknown feature or an invalid range; the message names it.
        """
        _check_feature_names(values, "context range")
        changes = {
            name: (value, value) if np.ndim(value) == 0 else tuple(value)
            for name, value in values.items()
        }
        return dataclasses.replace(base or cls(), **changes)

    @classmethod
    def point(cls, context: CartPoleContext) -> ContextRanges:
        """The ranges that always give ``context``."""
        return cls(**{name: (value, value) for name, value in context.as_dict().items()})

    @property
    def low(self) -> np.ndarray:
        """The lower bounds, float64, in the order of :data:`FEATURES`."""
        return np.array([getattr(self, name)[0] for name in FEATURES], dtype=np.float64)

    @property
    def high(self) -> np.ndarray:
        """The upper bounds, float64, in the order of :data:`FEATURES`."""
        return np.array([getattr(self, name)[1] for name in FEATURES], dtype=np.float64)

    @property
    def varying(self) -> tuple[str, ...]:
        """The features whose range is more than one point."""
        return tuple(name for name in FEATURES if getattr(self, name)[0] < getattr(self, name)[1])

    def as_dict(self) -> dict[str, Range]:
        """The ranges as ``{name: (low, high)}``, in the order of :data:`FEATURES`."""
        return {name: getattr(self, name) for name in FEATURES}

    def contains(self, context: CartPoleContext) -> bool:
        """Whether every feature of ``context`` lies in its range."""
        values = context.as_array()
        return bool(np.all((self.low <= values) & (values <= self.high)))

    def sample(self, rng: np.random.Generator) -> CartPoleContext:
        """A context drawn uniformly from the ranges (one draw per feature, fixed or not)."""
        low, high = self.low, self.high
        values = np.where(low == high, low, rng.uniform(low, high))
        return CartPoleContext(**dict(zip(FEATURES, values.tolist())))

    def normalize(self, context: CartPoleContext) -> np.ndarray:
        """``context`` mapped linearly so that ``low`` -> -1 and ``high`` -> 1 (float64).

        A feature whose range is a single point maps to 0; values outside a range map
        outside [-1, 1].
        """
        low, high = self.low, self.high
        width = high - low
        degenerate = width == 0
        scaled = 2.0 * (context.as_array() - low) / np.where(degenerate, 1.0, width) - 1.0
        return np.where(degenerate, 0.0, scaled)


DEFAULT_RANGES: Final = ContextRanges()
"""Every feature fixed at CartPole-v1's value: the environment is CartPole-v1."""

TRAINING_RANGES: Final = ContextRanges(
    gravity=(5.0, 15.0),
    masscart=(0.5, 2.0),
    masspole=(0.05, 0.2),
    length=(0.25, 1.0),
    force_mag=(5.0, 15.0),
    tau=(0.01, 0.05),
)
"""The ranges to train on: the CONTEXT_BOUNDS of CARL's JAX (gymnax) CartPole."""

TEST_RANGES: Final = ContextRanges(
    gravity=(2.5, 22.5),
    masscart=(0.25, 3.0),
    masspole=(0.025, 0.3),
    length=(0.125, 1.5),
    force_mag=(2.5, 22.5),
    tau=(0.005, 0.075),
)
"""Evaluation on unseen contexts (our choice): each training range widened to (low/2, 1.5 high)."""

RANGE_PRESETS: Final[Mapping[str, ContextRanges]] = {
    "default": DEFAULT_RANGES,
    "train": TRAINING_RANGES,
    "test": TEST_RANGES,
}
"""The ranges that ``ranges="<name>"`` selects."""

RangesLike: TypeAlias = (
    ContextRanges | Mapping[str, SupportsFloat | tuple[SupportsFloat, SupportsFloat]] | str | None
)


def resolve_ranges(ranges: RangesLike) -> ContextRanges:
    """The :class:`ContextRanges` that ``ranges`` names or describes.

    Args:
        ranges: None (CartPole-v1's point ranges), a preset name of :data:`RANGE_PRESETS`,
            a mapping for :meth:`ContextRanges.from_mapping` or a :class:`ContextRanges`.

    Raises:
        ValueError: An unknown preset, an unknown feature or an invalid range.
        TypeError: ``ranges`` is none of the above.
    """
    if ranges is None:
        return DEFAULT_RANGES
    if isinstance(ranges, ContextRanges):
        return ranges
    if isinstance(ranges, str):
        try:
            return RANGE_PRESETS[ranges]
        except KeyError:
            raise ValueError(
                f"unknown context ranges {ranges!r}; the presets are {', '.join(RANGE_PRESETS)}"
            ) from None
    if isinstance(ranges, Mapping):
        return ContextRanges.from_mapping(ranges)
    raise TypeError(
        f"context ranges must be None, a preset name, a mapping or ContextRanges, "
        f"not {type(ranges).__name__}"
    )


def _context_generator(seed: int) -> np.random.Generator:
    """The context stream for ``seed`` (>= 0), or for fresh entropy when ``seed`` < 0."""
    entropy = seed if seed >= 0 else None
    sequence = np.random.SeedSequence(entropy, spawn_key=(_CONTEXT_STREAM,))
    return np.random.Generator(np.random.PCG64(sequence))


class CartPoleVariantsEnv(CartPoleEnv):
    """CartPole-v1 whose physics is drawn per episode from context ranges.

    See the module docstring for the ranges, the seeding and the observation.

    Args:
        ranges: Where the contexts are drawn from: None (CartPole-v1's physics), ``"train"``,
            ``"test"``, ``"default"``, a mapping ``{feature: (low, high)}`` or a
            :class:`ContextRanges`.
        context_in_observation: Append the context, normalized to [-1, 1] over
            ``normalization_ranges``, to the observation.
        normalization_ranges: The ranges that map to [-1, 1] in the observation (same
            forms as ``ranges``); default: ``ranges``.
        sutton_barto_reward: As in CartPoleEnv.
        render_mode: As in CartPoleEnv.

    Raises:
        ValueError: Invalid ranges (the message names the feature), or a context feature
            that varies over ``ranges`` but has a single-point normalization range.
    """

    def __init__(
        self,
        ranges: RangesLike = None,
        *,
        context_in_observation: bool = False,
        normalization_ranges: RangesLike = None,
        sutton_barto_reward: bool = False,
        render_mode: str | None = None,
    ) -> None:
        super().__init__(sutton_barto_reward=sutton_barto_reward, render_mode=render_mode)
        self.ranges = resolve_ranges(ranges)
        self.normalization_ranges = (
            self.ranges if normalization_ranges is None else resolve_ranges(normalization_ranges)
        )
        self.context_in_observation = bool(context_in_observation)
        self._context_rng: np.random.Generator | None = None
        self._context = CartPoleContext()
        self._context_obs = np.zeros(len(FEATURES), dtype=np.float32)
        self._apply(self._context)
        if self.context_in_observation:
            lost = set(self.ranges.varying) - set(self.normalization_ranges.varying)
            if lost:
                raise ValueError(
                    f"normalization range of {', '.join(sorted(lost))} is a single point "
                    "but the context varies: the observation would not show it"
                )
            norm = self.normalization_ranges
            context_low = np.minimum(-1.0, norm.normalize(CartPoleContext(*self.ranges.low)))
            context_high = np.maximum(1.0, norm.normalize(CartPoleContext(*self.ranges.high)))
            state_space = self.observation_space
            assert isinstance(state_space, spaces.Box)
            low = np.concatenate([state_space.low, context_low]).astype(np.float32)
            high = np.concatenate([state_space.high, context_high]).astype(np.float32)
            self.observation_space = spaces.Box(low=low, high=high, dtype=np.float32)

    @property
    def context(self) -> CartPoleContext:
        """The context of the current episode (CartPole-v1's before the first reset)."""
        return self._context

    def _apply(self, context: CartPoleContext) -> None:
        """Set CartPoleEnv's physics attributes, derived ones with gymnasium's expressions."""
        self.gravity = context.gravity
        self.masscart = context.masscart
        self.masspole = context.masspole
        self.total_mass = self.masspole + self.masscart
        self.length = context.length
        self.polemass_length = self.masspole * self.length
        self.force_mag = context.force_mag
        self.tau = context.tau

    def _pinned_features(self, pinned: Any) -> dict[str, float]:
        """The features that ``options["context"]`` pins, validated.

        Raises:
            ValueError: Not a mapping or CartPoleContext, an unknown feature, an invalid value,
                or (with the context in the observation) a value outside
                ``observation_space``.
        """
        if pinned is None:
            return {}
        if isinstance(pinned, CartPoleContext):
            values = pinned.as_dict()
        elif isinstance(pinned, Mapping):
            checked = CartPoleContext.from_mapping(pinned)  # names and values
            values = {name: getattr(checked, name) for name in pinned}
        else:
            raise ValueError(
                f'options["context"] must be a mapping or a CartPoleContext, not {pinned!r}'
            )
        if self.context_in_observation:
            assert isinstance(self.observation_space, spaces.Box)
            normalized = self.normalization_ranges.normalize(CartPoleContext(**values))
            normalized = normalized.astype(np.float32)
            low, high = self.observation_space.low[4:], self.observation_space.high[4:]
            point = self.normalization_ranges.low == self.normalization_ranges.high
            outside = [
                f"{name}={values[name]} (normalized {normalized[i]:.3g} not in "
                f"[{low[i]:.3g}, {high[i]:.3g}])"
                if not point[i]
                else f"{name}={values[name]} (its normalization range is the single point "
                f"{self.normalization_ranges.low[i]}, which shows as 0)"
                for i, name in enumerate(FEATURES)
                if name in values
                and (
                    not low[i] <= normalized[i] <= high[i]
                    or (point[i] and values[name] != self.normalization_ranges.low[i])
                )
            ]
            if outside:
                raise ValueError(
                    f"pinned context outside the observation space: {'; '.join(outside)}; "
                    "widen `ranges` or `normalization_ranges`"
                )
        return values

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode with a new context.

        Args:
            seed: Reseeds the initial states and the contexts (see the module docstring).
            options: CartPoleEnv's ``"low"``/``"high"`` of the initial state, and
                ``"context"``: a mapping ``{feature: value}`` or a :class:`CartPoleContext`
                whose features are pinned for this episode (the others are drawn).

        Returns:
            The first observation and ``{"context": {feature: value}}``.

        Raises:
            ValueError: The pinned context names an unknown feature or holds an invalid
                value, or (with the context in the observation) lies outside
                ``observation_space``.
        """
        options = dict(options) if options else {}
        pinned = self._pinned_features(options.pop("context", None))
        obs, info = super().reset(seed=seed, options=options or None)
        if seed is not None or self._context_rng is None:
            self._context_rng = _context_generator(self.np_random_seed)
        context = self.ranges.sample(self._context_rng)
        if pinned:
            context = dataclasses.replace(context, **pinned)
        self._context = context
        self._apply(context)
        if self.context_in_observation:
            self._context_obs = self.normalization_ranges.normalize(context).astype(np.float32)
        info["context"] = context.as_dict()
        return self._observe(obs), info

    def step(self, action: int | np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        """CartPoleEnv's step under the episode's context; ``info["context"]`` is added."""
        obs, reward, terminated, truncated, info = super().step(action)
        info["context"] = self._context.as_dict()
        return self._observe(obs), reward, terminated, truncated, info

    def _observe(self, obs: np.ndarray) -> np.ndarray:
        """CartPole's observation, with the normalized context appended if asked for."""
        if not self.context_in_observation:
            return obs
        return np.concatenate([obs, self._context_obs])
