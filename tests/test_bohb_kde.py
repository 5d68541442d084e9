from __future__ import annotations

import math

import numpy as np
import pytest
from ConfigSpace import (
    Categorical,
    Configuration,
    ConfigurationSpace,
    Constant,
    EqualsCondition,
    Float,
    GreaterThanCondition,
    Integer,
    OrdinalHyperparameter,
)

from autorl.bohb.encoding import SpaceEncoding
from autorl.bohb.kde import KDEModel, MixedKDE, ModelSettings, impute_inactive
from autorl.bohb.optimizer import BOHBConfig, Optimizer


def mixed_space(seed: int | None = None) -> ConfigurationSpace:
    space = ConfigurationSpace(seed=seed)
    layers = Integer("layers", (0, 2))
    units = Integer("units", (1, 64), log=True)
    act = Categorical("act", ["tanh", "relu", "elu"])
    alpha = Float("alpha", (0.01, 1.0))  # active only with act == elu and layers > 0
    space.add(
        [
            Float("lr", (1e-6, 1e-2), log=True),
            Float("momentum", (0.0, 1.0)),
            layers,
            units,
            act,
            alpha,
            Constant("name", "fixed"),
            GreaterThanCondition(units, layers, 0),
            EqualsCondition(alpha, act, "elu"),
        ]
    )
    return space


def loss_of(config):
    """Best: lr = 1e-4, momentum 0.9, 1 layer of 16 units, relu."""
    loss = abs(math.log10(config["lr"]) + 4) + abs(config["momentum"] - 0.9)
    loss += abs(config["layers"] - 1)
    if config["layers"]:
        loss += abs(math.log2(config["units"]) - 4) / 2
    return loss + (0 if config["act"] == "relu" else 1)


def trained_optimizer(seed=0, observations=120, random_fraction=0.0):
    config = BOHBConfig(1, 9, 3, seed=seed, random_fraction=random_fraction)
    optimizer = Optimizer(mixed_space(), config)
    while optimizer.stats.trials < observations:
        trial = optimizer.ask()
        optimizer.tell(trial, loss_of(trial.config))
    return optimizer


def test_encoding_respects_log_scales_and_constants():
    space = mixed_space()
    encoding = SpaceEncoding(space)
    names = [encoding.names[i] for i in encoding.model_dims]
    assert "name" not in names  # the constant is not a model dimension
    vector = encoding.to_vector(
        {"lr": 1e-4, "momentum": 0.5, "layers": 0, "act": "tanh", "name": "fixed"}
    )
    assert vector[names.index("lr")] == pytest.approx(0.5)  # 1e-4 is the log-midpoint
    assert math.isnan(vector[names.index("units")])  # inactive
    assert encoding.vartypes[names.index("act")] == 3
    assert encoding.vartypes[names.index("lr")] == 0


def test_encoding_rejects_ordinals():
    space = ConfigurationSpace()
    space.add(OrdinalHyperparameter("size", ["s", "m", "l"]))
    with pytest.raises(ValueError, match="ordinal"):
        SpaceEncoding(space)


def test_to_config_snaps_clips_and_deactivates():
    encoding = SpaceEncoding(mixed_space())
    names = [encoding.names[i] for i in encoding.model_dims]
    raw = np.full(len(names), 0.5)
    raw[names.index("layers")] = 0.1  # rounds to 0 layers -> units inactive
    raw[names.index("act")] = 2.4  # rounds to index 2 = elu -> alpha active
    raw[names.index("momentum")] = 1.7  # clipped to 1
    config = encoding.to_config(raw)
    assert config["layers"] == 0 and "units" not in config
    assert config["act"] == "elu" and 0.01 <= config["alpha"] <= 1
    assert config["momentum"] == 1.0 and config["name"] == "fixed"


def test_model_proposals_respect_bounds_types_and_conditions():
    optimizer = trained_optimizer()
    assert optimizer.model.budget is not None
    space = mixed_space()
    for _ in range(150):
        trial = optimizer.ask()
        config = dict(trial.config)
        Configuration(space, values=config).check_valid_configuration()  # raises if illegal
        assert 1e-6 <= config["lr"] <= 1e-2
        assert isinstance(config["layers"], int) and 0 <= config["layers"] <= 2
        assert ("units" in config) == (config["layers"] > 0)
        if "units" in config:
            assert isinstance(config["units"], int) and 1 <= config["units"] <= 64
        assert config["act"] in ("tanh", "relu", "elu")
        assert ("alpha" in config) == (config["act"] == "elu")
        optimizer.tell(trial, loss_of(config))
    assert optimizer.stats.model_based > 50


def test_model_proposals_follow_the_log_scale():
    optimizer = trained_optimizer(observations=150)
    lrs = []
    for _ in range(80):
        trial = optimizer.ask()
        lrs.append(trial.config["lr"])
        optimizer.tell(trial, loss_of(trial.config))
    # The good region, 1e-4, is the log-midpoint; a linear-scale model would propose ~5e-3.
    assert 1e-5 < float(np.median(lrs)) < 1e-3


def test_no_configuration_is_proposed_twice_in_a_bracket():
    space = ConfigurationSpace(seed=0)
    space.add([Integer("a", (0, 4)), Categorical("b", ["x", "y"])])  # 10 configurations
    optimizer = Optimizer(space, BOHBConfig(1, 9, 3, seed=1), iterations=4)
    seen: dict[int, list] = {}
    while (trial := optimizer.ask()) is not None:
        if trial.rung == 0:
            seen.setdefault(trial.bracket, []).append(tuple(sorted(trial.config.items())))
        optimizer.tell(trial, float(trial.config["a"]))
    for configs in seen.values():
        assert len(configs) == len(set(configs))


def test_space_smaller_than_bracket_is_reported():
    space = ConfigurationSpace(seed=0)
    space.add(Categorical("b", ["x", "y"]))
    optimizer = Optimizer(space, BOHBConfig(1, 9, 3, seed=1))
    with pytest.raises(RuntimeError, match="smaller than the bracket"):
        for _ in range(9):
            optimizer.tell(optimizer.ask(), 1.0)


def test_impute_fills_every_nan_from_donors_or_at_random():
    rng = np.random.default_rng(0)
    data = np.array([[0.1, np.nan, 1.0], [0.2, 0.7, np.nan], [0.3, 0.8, np.nan]])
    out = impute_inactive(data, np.array([0, 0, 2]), rng)
    assert np.isfinite(out).all()
    assert out[0, 1] in (0.7, 0.8)  # copied from a row where it is active
    assert out[1, 2] in (0.0, 1.0) and out[2, 2] in (0.0, 1.0)  # nobody has it: random


def test_categorical_kernel_uses_all_categories():
    data = np.array([[0.0], [0.0], [0.0]])  # every point has category 0 of 3
    kde = MixedKDE(data, np.array([3]), 1e-3)
    density = np.exp(kde.logpdf(np.array([[0.0], [1.0], [2.0]])))
    assert density[0] > density[1] > 0
    assert density.sum() == pytest.approx(1.0)  # a proper distribution over the 3 levels


def test_samples_stay_in_the_unit_cube_and_categories():
    rng = np.random.default_rng(0)
    data = np.column_stack([rng.random(20), rng.integers(0, 4, 20)]).astype(float)
    kde = MixedKDE(data, np.array([0, 4]), 1e-3)
    samples = kde.sample(rng, 500, bandwidth_factor=3.0)
    assert (samples[:, 0] >= 0).all() and (samples[:, 0] <= 1).all()
    assert set(np.unique(samples[:, 1])) <= {0.0, 1.0, 2.0, 3.0}


def test_model_needs_enough_points_per_set():
    model = KDEModel(np.array([0, 0]), ModelSettings(), seed=0)
    rng = np.random.default_rng(1)
    for i in range(5):  # d + 1 = 3 good points and 2 bad ones: bad set not larger than d
        model.observe(rng.random(2), 1.0, float(i))
    assert model.budget is None
    model.observe(rng.random(2), 1.0, 9.0)
    assert model.budget == 1.0
    for i in range(6):
        model.observe(rng.random(2), 3.0, float(i))
    assert model.budget == 3.0  # proposals use the largest budget with a model


def test_failed_results_count_as_bad():
    model = KDEModel(np.array([0]), ModelSettings(), seed=0)
    for x in (0.1, 0.11, 0.12, 0.13, 0.8, 0.9):
        model.observe(np.array([x]), 1.0, math.nan if x > 0.5 else x)
    good, bad = model.models[1.0]
    assert good.data.max() <= 0.13 and bad.data.min() >= 0.12


def sphere_space() -> ConfigurationSpace:
    space = ConfigurationSpace()
    space.add([Float(f"x{i}", (0.0, 1.0)) for i in range(6)])
    space.add(Categorical("c", ["a", "b", "c", "d"]))
    return space


def sphere(config) -> float:
    """Deterministic: minimum 0 at x = 0.25 everywhere and c = b."""
    return sum((config[f"x{i}"] - 0.25) ** 2 for i in range(6)) + (config["c"] != "b") * 0.5


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bohb_beats_random_sampling_on_a_deterministic_problem(seed):
    def best_of(method):
        optimizer = Optimizer(sphere_space(), BOHBConfig(1, 9, 3, seed=seed), method=method)
        while optimizer.stats.trials < 150:  # the same number of evaluations for both
            trial = optimizer.ask()
            optimizer.tell(trial, sphere(trial.config))
        return min(loss for _, loss in optimizer.stats.history)

    assert best_of("bohb") < best_of("random")
