"""Policy architectures (embedding / Conv1d / LSTM / FC) as SB3 features extractors.

``PolicyConfig`` is imported eagerly; the torch-based parts load on first use, so that
reading or validating a configuration does not import torch.
"""

from __future__ import annotations

from typing import Any

from policies.config import PolicyConfig

__all__ = ["LearnaExtractor", "PolicyConfig", "policy_kwargs"]


def __getattr__(name: str) -> Any:
    if name in ("LearnaExtractor", "policy_kwargs"):
        from policies import extractors

        return getattr(extractors, name)
    raise AttributeError(f"module 'policies' has no attribute {name!r}")
