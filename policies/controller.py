"""The NAS controller's network: an LSTM over the tokens emitted so far (Zoph & Le 2017).

Zoph & Le's controller is an RNN that reads the previous token and emits the next one.
SB3's PPO gives the policy one observation per step, so the observation carries the whole
token sequence (:class:`envs.nas_mdp.NasMdpEnv`: entry ``t`` is 0 while decision ``t`` is
pending, ``1 + index`` once taken; the last entry is the current position).
:class:`TokenLstmExtractor` embeds every slot (its token plus an embedding of the slot,
i.e. of which decision it is), runs an LSTM over the slots in order and returns the LSTM's
output at the current position: a causal LSTM, so that output has read exactly the tokens
emitted so far and knows which decision comes next, as Zoph & Le's controller does. The
actor and critic heads (linear by default) sit on top; sb3-contrib's ``MaskablePPO`` masks
the actions a decision does not have.
"""

from __future__ import annotations

import gymnasium as gym
import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn


class TokenLstmExtractor(BaseFeaturesExtractor):
    """Embedding of (token, slot) -> LSTM over the slots -> the output at the current position.

    Args:
        observation_space: ``Box(0, high, (T + 1,))``: T token slots and the position.
        n_codes: Token codes per slot (the action space's size + 1 for "pending").
        embedding_size: Size of the token and slot embeddings (>= 1).
        lstm_units: The LSTM's hidden size (>= 1), the features' size.
        lstm_layers: Stacked LSTM layers (>= 1).

    Raises:
        ValueError: a non-1-D observation space or sizes below 1.
    """

    def __init__(
        self,
        observation_space: gym.spaces.Box,
        n_codes: int,
        embedding_size: int = 16,
        lstm_units: int = 64,
        lstm_layers: int = 1,
    ):
        if len(observation_space.shape) != 1 or observation_space.shape[0] < 2:
            raise ValueError(
                f"expected a 1-D observation of T token slots and the position, "
                f"got shape {observation_space.shape}"
            )
        for name, value in (
            ("n_codes", n_codes),
            ("embedding_size", embedding_size),
            ("lstm_units", lstm_units),
            ("lstm_layers", lstm_layers),
        ):
            if int(value) < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        super().__init__(observation_space, features_dim=int(lstm_units))
        self.slots = int(observation_space.shape[0]) - 1
        self.tokens = nn.Embedding(int(n_codes), int(embedding_size))
        self.slot_embedding = nn.Embedding(self.slots, int(embedding_size))
        self.lstm = nn.LSTM(
            int(embedding_size), int(lstm_units), int(lstm_layers), batch_first=True
        )

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        """Features ``(B, lstm_units)`` of a batch of observations ``(B, T + 1)``."""
        codes = observations[:, : self.slots].long()
        position = observations[:, self.slots].long().clamp(0, self.slots - 1)
        slots = torch.arange(self.slots, device=observations.device)
        x = self.tokens(codes) + self.slot_embedding(slots)[None]
        outputs, _ = self.lstm(x)  # (B, T, H), causal
        index = position.view(-1, 1, 1).expand(-1, 1, outputs.shape[2])
        return outputs.gather(1, index).squeeze(1)


__all__ = ["TokenLstmExtractor"]
