"""autorl: reinforcement-learning-centric Auto-RL (LEARNA-style RNA design, PPO, BOHB).

``from autorl import design`` gives the Python API of RNA design (:func:`autorl.api.design`;
:func:`autorl.api.designability` proves targets undesignable); it is imported on first use,
so ``import autorl`` (and ``autorl --help``) stays light.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "design", "designability"]


def __getattr__(name: str) -> Any:
    if name in ("design", "designability"):
        from autorl import api

        return getattr(api, name)
    raise AttributeError(f"module 'autorl' has no attribute {name!r}")
