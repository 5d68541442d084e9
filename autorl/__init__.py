"""autorl: reinforcement-learning-centric Auto-RL (LEARNA-style RNA design, PPO, BOHB).

``from autorl import design`` gives the Python API of RNA design (:func:`autorl.api.design`);
it is imported on first use, so ``import autorl`` (and ``autorl --help``) stays light.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "design"]


def __getattr__(name: str) -> Any:
    if name == "design":
        from autorl.api import design

        return design
    raise AttributeError(f"module 'autorl' has no attribute {name!r}")
