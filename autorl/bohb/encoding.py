"""ConfigSpace's unit-vector encoding, as the KDE model sees it.

ConfigSpace stores a configuration as a vector: float and integer parameters in [0, 1]
(log-scaled parameters already on the log scale), categorical parameters as the index of
their choice, inactive conditional parameters as NaN. The model works on the *model
dimensions* (every parameter that can take more than one value); constants are kept aside
and restored when a vector is turned back into a configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from ConfigSpace import (
    CategoricalHyperparameter,
    Configuration,
    ConfigurationSpace,
    Constant,
    OrdinalHyperparameter,
)
from ConfigSpace.hyperparameters import IntegerHyperparameter

#: Vartype of a continuous model dimension (floats and integers); categoricals use their size.
CONTINUOUS = 0


class SpaceEncoding:
    """Convert between configurations and the vectors the KDE model works on.

    Args:
        space: The search space.

    Raises:
        ValueError: the space has an ordinal parameter (encode it as an Integer, as in
            the reference BOHB) or no parameter at all.
    """

    def __init__(self, space: ConfigurationSpace):
        self.space = space
        self.names = list(space.keys())
        if not self.names:
            raise ValueError("the search space has no hyperparameters")
        hps = [space[name] for name in self.names]
        for hp in hps:
            if isinstance(hp, OrdinalHyperparameter):
                raise ValueError(
                    f"ordinal hyperparameter {hp.name!r} is not supported by BOHB's KDE; "
                    "encode it as an Integer (or a Categorical) parameter"
                )
        fixed = [_is_fixed(hp) for hp in hps]
        #: Indices (into the full vector) of the dimensions the model learns.
        self.model_dims = np.array([i for i, f in enumerate(fixed) if not f], dtype=int)
        #: 0 for a continuous dimension, else the number of categories (per model dimension).
        self.vartypes = np.array(
            [
                len(hps[i].choices) if isinstance(hps[i], CategoricalHyperparameter) else 0
                for i in self.model_dims
            ],
            dtype=int,
        )
        self._integer = [isinstance(hp, IntegerHyperparameter) for hp in hps]
        self._categorical = [isinstance(hp, CategoricalHyperparameter) for hp in hps]
        self._fixed_values = {
            i: float(hps[i].to_vector(np.array([hps[i].default_value], dtype=object))[0])
            for i, f in enumerate(fixed)
            if f
        }
        self._hps = hps
        self._parents = [list(space.parent_conditions_of[name]) for name in self.names]

    @property
    def dims(self) -> int:
        """The number of model dimensions ``d``."""
        return len(self.model_dims)

    def to_vector(self, config: Mapping[str, Any] | Configuration) -> np.ndarray:
        """The model-dimension vector of a configuration (NaN where inactive)."""
        if not isinstance(config, Configuration):
            config = Configuration(self.space, values=dict(config))
        return config.get_array()[self.model_dims].astype(float)

    def to_config(self, model_vector: np.ndarray) -> Configuration | None:
        """Snap a model vector to a legal configuration.

        Values are clipped to [0, 1], integers and categories rounded to a legal value,
        constants restored, and parameters whose conditions fail deactivated (parents are
        visited before children). Returns None when the result violates a forbidden clause.
        """
        full = np.empty(len(self.names))
        full[self.model_dims] = model_vector
        for i, value in self._fixed_values.items():
            full[i] = value
        for i, hp in enumerate(self._hps):
            if i in self._fixed_values:
                continue
            value = full[i]
            if not np.isfinite(value):
                value = float(hp.to_vector(np.array([hp.default_value], dtype=object))[0])
            if self._categorical[i]:
                value = float(np.clip(np.rint(value), 0, len(hp.choices) - 1))
            else:
                value = float(np.clip(value, 0.0, 1.0))
                if self._integer[i]:
                    value = float(hp.to_vector(hp.to_value(np.array([value])))[0])
            full[i] = value
        for i in range(len(self.names)):
            if self._parents[i] and not all(c.satisfied_by_vector(full) for c in self._parents[i]):
                full[i] = np.nan
        config = Configuration(self.space, vector=full)
        try:
            config.check_valid_configuration()
        except (ValueError, TypeError):
            return None
        return config


def config_key(config: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    """A hashable identity of a configuration (used to avoid proposing duplicates)."""
    return tuple(sorted((str(k), _plain(v)) for k, v in dict(config).items()))


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return round(value, 12)
    return value


def _is_fixed(hp: Any) -> bool:
    if isinstance(hp, Constant):
        return True
    return isinstance(hp, CategoricalHyperparameter) and len(hp.choices) == 1


def plain_config(config: Mapping[str, Any] | Configuration) -> dict[str, Any]:
    """A configuration as a plain dict of Python scalars (JSON-ready, picklable)."""
    return {str(k): (v.item() if isinstance(v, np.generic) else v) for k, v in dict(config).items()}
