"""Gymnasium environments of autorl, registered with namespaced ids.

* ``AutoRL/RnaDesign-v0`` (:data:`RNA_DESIGN_ID`): LEARNA's RNA design MDP
  (:mod:`envs.rna_design`; needs ViennaRNA).
* ``AutoRL/CartPoleVariants-v0`` (:data:`CARTPOLE_VARIANTS_ID`): CartPole-v1 with a
  CARL-style physics context (:mod:`envs.cartpole_variants`).
* ``AutoRL/NasMdp-v0`` (:data:`NAS_MDP_ID`): neural architecture search as a decision
  process, Zoph & Le's controller MDP, rewarded by child CNNs on MNIST-1D or digits
  (:mod:`envs.nas_mdp`; needs torch, mnist1d, scikit-learn).

Importing this package is light: the environments are registered with string entry points,
so an environment's module (and ViennaRNA, for RNA design) is imported only when it is
made or when one of its names is used. ``from envs import RnaDesignEnv`` and the other
names of :mod:`envs.rna_design` and :mod:`envs.dot_bracket` below still work; they are
imported on first access.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from gymnasium.envs.registration import register, registry

if TYPE_CHECKING:
    from envs.dot_bracket import InvalidStructureError, Target, parse_structure, read_targets
    from envs.rna_design import RnaDesignConfig, RnaDesignEnv

RNA_DESIGN_ID = "AutoRL/RnaDesign-v0"
CARTPOLE_VARIANTS_ID = "AutoRL/CartPoleVariants-v0"
NAS_MDP_ID = "AutoRL/NasMdp-v0"
ENV_IDS = (RNA_DESIGN_ID, CARTPOLE_VARIANTS_ID, NAS_MDP_ID)
"""Every environment id this package registers."""

if RNA_DESIGN_ID not in registry:
    register(id=RNA_DESIGN_ID, entry_point="envs.rna_design:RnaDesignEnv")
if CARTPOLE_VARIANTS_ID not in registry:
    # The time limit and reward threshold of CartPole-v1.
    register(
        id=CARTPOLE_VARIANTS_ID,
        entry_point="envs.cartpole_variants:CartPoleVariantsEnv",
        max_episode_steps=500,
        reward_threshold=475.0,
    )
if NAS_MDP_ID not in registry:
    register(id=NAS_MDP_ID, entry_point="envs.nas_mdp:NasMdpEnv")

# Names re-exported from submodules, imported on first access (module __getattr__).
_LAZY = {
    "InvalidStructureError": "envs.dot_bracket",
    "Target": "envs.dot_bracket",
    "parse_structure": "envs.dot_bracket",
    "read_targets": "envs.dot_bracket",
    "RnaDesignConfig": "envs.rna_design",
    "RnaDesignEnv": "envs.rna_design",
}


def __getattr__(name: str) -> Any:
    """Import the re-exported ``name`` from its submodule on first access."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The module's names, the lazily imported ones included."""
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "CARTPOLE_VARIANTS_ID",
    "ENV_IDS",
    "RNA_DESIGN_ID",
    "InvalidStructureError",
    "RnaDesignConfig",
    "RnaDesignEnv",
    "Target",
    "parse_structure",
    "read_targets",
]
