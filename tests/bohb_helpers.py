"""Objectives and spaces shared by the BOHB tests (module-level: worker processes import them)."""

from __future__ import annotations

import math
import os
import time
from typing import Any

from ConfigSpace import ConfigurationSpace, Float, Integer

from autorl.bohb import TrialResult


def small_space(seed: int | None = None) -> ConfigurationSpace:
    space = ConfigurationSpace(seed=seed)
    space.add([Float("x", (0.0, 1.0)), Float("y", (0.0, 1.0)), Integer("k", (1, 8))])
    return space


def quadratic(config: dict[str, Any], budget: float, seed: int) -> float:
    """Deterministic; the budget only shifts the loss (smaller budget, larger loss)."""
    return (config["x"] - 0.3) ** 2 + (config["y"] - 0.7) ** 2 + 0.01 * config["k"] + 1 / budget


def flaky(config: dict[str, Any], budget: float, seed: int) -> Any:
    """Raises for x < 0.2, returns NaN for 0.2 <= x < 0.4, a result object otherwise."""
    if config["x"] < 0.2:
        raise RuntimeError(f"boom at x={config['x']:.3f}")
    if config["x"] < 0.4:
        return math.nan
    return TrialResult(quadratic(config, budget, seed), {"note": "fine"})


def sleepy(config: dict[str, Any], budget: float, seed: int) -> float:
    """Hangs (sleeps 30 s) for x < 0.3; otherwise quick."""
    if config["x"] < 0.3:
        time.sleep(30)
    return quadratic(config, budget, seed)


def recording(config: dict[str, Any], budget: float, seed: int) -> float:
    """Sleeps a little and appends one line per call to $BOHB_CALLS (for the resume test)."""
    time.sleep(0.03)
    with open(os.environ["BOHB_CALLS"], "a", encoding="utf-8") as calls:
        calls.write(f"{seed} {budget:g}\n")
    return quadratic(config, budget, seed)


def slow(config: dict[str, Any], budget: float, seed: int) -> float:
    """Takes 0.4 s per trial (for the run's wall-clock limit)."""
    time.sleep(0.4)
    return quadratic(config, budget, seed)


def slowest(config: dict[str, Any], budget: float, seed: int) -> float:
    """Takes 2 s per trial: 2 iterations outlast a 10 s limit even on 2 workers."""
    time.sleep(2.0)
    return quadratic(config, budget, seed)
