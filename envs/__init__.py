"""Gymnasium environments of autorl: RNA design (LEARNA) and the target parsers it needs.

Every environment is registered here with a namespaced id.
"""

from gymnasium.envs.registration import register, registry

from envs.dot_bracket import InvalidStructureError, Target, parse_structure, read_targets
from envs.rna_design import RnaDesignConfig, RnaDesignEnv

RNA_DESIGN_ID = "AutoRL/RnaDesign-v0"
ENV_IDS = (RNA_DESIGN_ID,)

if RNA_DESIGN_ID not in registry:
    register(id=RNA_DESIGN_ID, entry_point="envs.rna_design:RnaDesignEnv")

__all__ = [
    "ENV_IDS",
    "RNA_DESIGN_ID",
    "InvalidStructureError",
    "RnaDesignConfig",
    "RnaDesignEnv",
    "Target",
    "parse_structure",
    "read_targets",
]
