"""Policy architectures (embedding / Conv1d / LSTM / FC) as SB3 features extractors."""

from policies.config import PolicyConfig
from policies.extractors import LearnaExtractor, policy_kwargs

__all__ = ["LearnaExtractor", "PolicyConfig", "policy_kwargs"]
