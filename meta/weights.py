"""Loading a checkpoint's weights into an agent built from its configuration.

Light on purpose (no RNA, no torch at import): both the RNA checkpoints
(:mod:`meta.checkpoints`) and ``autorl train``'s (:mod:`meta.ppo_training`) use it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class WeightsMismatch(ValueError):
    """The weights were read but do not fit the agent (another architecture)."""


def load_policy_weights(model: Any, zip_path: str | Path, with_optimizer: bool = True) -> None:
    """Load an SB3 zip's policy (and optionally optimizer) state into ``model``, strictly.

    Args:
        model: An SB3 algorithm built from the checkpoint's configuration.
        zip_path: The checkpoint zip (``model.save``).
        with_optimizer: Also restore the optimizer state (to resume training).

    Raises:
        ValueError: the zip cannot be read or holds no policy weights.
        WeightsMismatch: the weights do not fit the agent (the first line of torch's
            message says why).
    """
    from stable_baselines3.common.save_util import load_from_zip_file

    try:
        _, params, _ = load_from_zip_file(str(zip_path), device=model.device, load_data=False)
    except Exception as error:  # torch and zipfile raise many kinds
        raise ValueError(f"{zip_path}: cannot read the weights: {error}") from None
    if not params or "policy" not in params:
        raise ValueError(f"{zip_path}: no policy weights in the checkpoint")
    try:
        model.policy.load_state_dict(params["policy"], strict=True)
        if with_optimizer and "policy.optimizer" in params:
            model.policy.optimizer.load_state_dict(params["policy.optimizer"])
    except (RuntimeError, ValueError, KeyError) as error:
        first = (str(error).strip().splitlines() or [repr(error)])[0]
        raise WeightsMismatch(first) from None
