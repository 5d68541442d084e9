"""LEARNA's recurrent policy form (``lstm_mode="episode"``): an LSTM across an episode's steps.

LEARNA (Runge et al. 2019) built its tensorforce network as embedding -> Conv1d -> flatten
-> ``internal_lstm`` x ``num_lstm_layers`` -> dense x ``num_fc_layers``; tensorforce's
internal LSTM carries its hidden and cell state from one step of an episode to the next
and starts every episode from zeros. Here that form is sb3-contrib's ``RecurrentPPO`` with
:class:`LearnaRecurrentPolicy` (a ``RecurrentActorCriticPolicy``):

- features extractor: :class:`policies.extractors.LearnaExtractor` without its window LSTM
  (embedding -> Conv1d -> flatten);
- ``lstm_hidden_size = lstm_units``, ``n_lstm_layers = lstm_layers``;
- then the fully connected layers (``net_arch=dict(pi=..., vf=...)``) and the heads.

The LSTM reads the features of the observations, which are windows of the *target*
around the current site; it does not see the actions taken (nor did LEARNA's). What it
remembers is the target context the episode has passed through.

``shared_extractor`` maps onto sb3-contrib's critic options so that it means what it
means for the window form (the value head reads the policy's extractor, and the value
loss trains it):

- True: ``share_features_extractor=True, shared_lstm=True, enable_critic_lstm=False``:
  one extractor and one LSTM, read by both heads. sb3-contrib detaches the critic from
  a shared LSTM (only the actor's loss would train it); :class:`LearnaRecurrentPolicy`
  does not, so the value loss trains the shared LSTM and extractor, as in the window form.
- False: ``share_features_extractor=False, enable_critic_lstm=True``: the value head has
  its own extractor and its own LSTM (sb3-contrib's default for the LSTM).

Action masks (GU pairs, IUPAC sequence constraints) are not supported: sb3-contrib has no
masked recurrent PPO, and sampling with masks while updating without them would make the
likelihood ratios those of another policy. :meth:`meta.rna_agent.RnaAgentSpec.build_model`
refuses the combination with a ``ValueError``.

Training (sb3-contrib, nothing to configure here): the rollout buffer stores the LSTM state
of every step and cuts each minibatch of ``batch_size`` consecutive steps of one
environment's rollout into sequences split at episode starts, each replayed from the
stored state of its first step. :meth:`LearnaRecurrentPolicy._process_sequence` runs such
sequences through the LSTM in one call when episodes start only at their first step
(always so with the buffer's sequences), instead of sb3-contrib's step-by-step loop.

Sampling outside ``learn`` (the design loop, validation) keeps the state of every running
episode in an :class:`EpisodeMemory`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sb3_contrib.common.recurrent.buffers import RecurrentRolloutBuffer
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from sb3_contrib.common.recurrent.type_aliases import RecurrentRolloutBufferSamples, RNNStates
from stable_baselines3.common.distributions import Distribution
from torch import nn

from policies.config import PolicyConfig
from policies.extractors import window_policy_kwargs


class LearnaRecurrentPolicy(RecurrentActorCriticPolicy):
    """sb3-contrib's recurrent actor-critic with two changes (see the module docstring).

    - With a shared LSTM (``shared_lstm=True``) the value loss trains it as well.
    - Sequences whose episodes start only at their first step run through the LSTM in one
      call (the same result as sb3-contrib's step-by-step loop, faster).
    """

    @staticmethod
    def _process_sequence(
        features: torch.Tensor,
        lstm_states: tuple[torch.Tensor, torch.Tensor],
        episode_starts: torch.Tensor,
        lstm: nn.LSTM,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """The LSTM over a batch of sequences, reset where an episode starts.

        Args:
            features: ``(n_seq * length, features_dim)``, sequence after sequence.
            lstm_states: Hidden and cell state before each sequence, ``(layers, n_seq, units)``.
            episode_starts: ``(n_seq * length,)``: 1 where an episode starts.
            lstm: The LSTM.

        Returns:
            The LSTM output ``(n_seq * length, units)`` and the states after the sequences.
        """
        n_seq = lstm_states[0].shape[1]
        starts = episode_starts.reshape((n_seq, -1)).swapaxes(0, 1)  # (length, n_seq)
        if starts.shape[0] > 1 and bool(starts[1:].any()):
            return RecurrentActorCriticPolicy._process_sequence(
                features, lstm_states, episode_starts, lstm
            )
        sequence = features.reshape((n_seq, -1, lstm.input_size)).swapaxes(0, 1)
        keep = (1.0 - starts[0]).view(1, n_seq, 1)
        output, states = lstm(sequence, (keep * lstm_states[0], keep * lstm_states[1]))
        return torch.flatten(output.transpose(0, 1), start_dim=0, end_dim=1), states

    def evaluate_actions(
        self,
        obs: torch.Tensor,
        actions: torch.Tensor,
        lstm_states: RNNStates,
        episode_starts: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Values, log-likelihoods and entropies (the PPO update); gradients reach every part.

        As sb3-contrib's, except that with a shared LSTM the value head reads its output
        without detaching it.
        """
        if not self.shared_lstm:
            return super().evaluate_actions(obs, actions, lstm_states, episode_starts)
        features = self.extract_features(obs)  # shared_lstm implies a shared extractor
        latent, _ = self._process_sequence(
            features, lstm_states.pi, episode_starts, self.lstm_actor
        )
        latent_pi = self.mlp_extractor.forward_actor(latent)
        latent_vf = self.mlp_extractor.forward_critic(latent)
        distribution = self._get_action_dist_from_latent(latent_pi)
        return self.value_net(latent_vf), distribution.log_prob(actions), distribution.entropy()


def recurrent_policy_kwargs(config: PolicyConfig) -> dict[str, Any]:
    """``policy_kwargs`` of :class:`LearnaRecurrentPolicy` for an ``episode`` architecture.

    Args:
        config: The architecture (``lstm_mode="episode"``, at least one LSTM layer).

    Returns:
        Keyword arguments for ``RecurrentPPO(LearnaRecurrentPolicy, ..., policy_kwargs=...)``.

    Raises:
        ValueError: a ``window`` architecture.
    """
    if not config.recurrent:
        raise ValueError(f"a recurrent policy needs lstm_mode 'episode', got {config.lstm_mode!r}")
    shared = config.shared_extractor
    return {
        **window_policy_kwargs(config),
        "lstm_hidden_size": config.lstm_units,
        "n_lstm_layers": config.lstm_layers,
        "shared_lstm": shared,
        "enable_critic_lstm": not shared,
    }


def is_recurrent(policy: Any) -> bool:
    """Whether an SB3 policy carries LSTM state across steps (a recurrent actor-critic)."""
    return isinstance(policy, RecurrentActorCriticPolicy)


class EpisodeMemory:
    """The actor LSTM's state of ``n_envs`` running episodes, for sampling outside ``learn``.

    Call :meth:`act` (or :meth:`distribution`) with the observations of every environment,
    step the environment, then :meth:`episodes_ended` with its ``dones``: the state of an
    environment whose episode ended is zeroed, as is every state at the start.

    Args:
        policy: A recurrent actor-critic (``RecurrentPPO``'s ``model.policy``).
        n_envs: Environments stepped together.
    """

    def __init__(self, policy: RecurrentActorCriticPolicy, n_envs: int):
        self.policy = policy
        lstm = policy.lstm_actor
        shape = (lstm.num_layers, n_envs, lstm.hidden_size)
        self.states = (
            torch.zeros(shape, device=policy.device),
            torch.zeros(shape, device=policy.device),
        )
        self.starts = torch.ones(n_envs, device=policy.device)

    def distribution(self, observations: np.ndarray) -> Distribution:
        """The action distribution of every environment at this step; the state advances."""
        self.policy.set_training_mode(False)
        with torch.no_grad():
            obs, _ = self.policy.obs_to_tensor(observations)
            distribution, states = self.policy.get_distribution(obs, self.states, self.starts)
        self.states = (states[0], states[1])
        self.starts = torch.zeros_like(self.starts)
        return distribution

    def act(self, observations: np.ndarray, deterministic: bool = False) -> np.ndarray:
        """Actions of every environment at this step (sampled unless ``deterministic``)."""
        with torch.no_grad():
            actions = self.distribution(observations).get_actions(deterministic=deterministic)
        return actions.cpu().numpy().reshape(-1)

    def episodes_ended(self, dones: np.ndarray) -> None:
        """Zero the state of the environments whose episode ended (``dones``)."""
        ended = torch.as_tensor(np.asarray(dones, dtype=np.float32), device=self.policy.device)
        keep = (1.0 - ended).view(1, -1, 1)
        self.states = (self.states[0] * keep, self.states[1] * keep)
        self.starts = ended


def update_minibatch(
    policy: RecurrentActorCriticPolicy,
    windows: np.ndarray,
    n_steps: int,
    n_envs: int,
    batch_size: int,
    seed: int = 0,
) -> RecurrentRolloutBufferSamples:
    """A minibatch shaped as ``RecurrentPPO.train`` gets it, for timing an update.

    A rollout of ``n_envs`` environments x ``n_steps`` steps whose episodes walk through
    ``windows`` (one row per step of an episode, in order) goes through sb3-contrib's
    rollout buffer, which cuts it into sequences at episode starts; the first minibatch of
    ``batch_size`` steps is returned. Actions and advantages are random. NumPy's global
    random state (which the buffer draws from) is left as it was.

    Args:
        policy: The recurrent policy (its spaces, LSTM sizes and device).
        windows: Observations of the steps of one episode, ``(steps, width)``.
        n_steps: Steps per environment per rollout.
        n_envs: Environments.
        batch_size: Steps per minibatch.
        seed: Seed of the random parts.

    Returns:
        The padded minibatch (observations, actions, LSTM states, episode starts, mask ...).
    """
    lstm = policy.lstm_actor
    buffer = RecurrentRolloutBuffer(
        n_steps,
        policy.observation_space,
        policy.action_space,
        (n_steps, lstm.num_layers, n_envs, lstm.hidden_size),
        policy.device,
        gae_lambda=1.0,
        gamma=1.0,
        n_envs=n_envs,
    )
    rng = np.random.default_rng(seed)
    steps = np.arange(n_steps) % len(windows)
    buffer.observations[:] = windows[steps][:, None, :]
    buffer.episode_starts[:] = (steps == 0)[:, None]
    buffer.actions[:] = rng.integers(int(policy.action_space.n), size=buffer.actions.shape)
    buffer.advantages[:] = rng.standard_normal(buffer.advantages.shape)
    buffer.returns[:] = rng.standard_normal(buffer.returns.shape)
    buffer.pos, buffer.full = n_steps, True
    numpy_state = np.random.get_state()
    try:
        np.random.seed(seed)
        return next(buffer.get(batch_size))
    finally:
        np.random.set_state(numpy_state)


__all__ = [
    "EpisodeMemory",
    "LearnaRecurrentPolicy",
    "is_recurrent",
    "recurrent_policy_kwargs",
    "update_minibatch",
]
