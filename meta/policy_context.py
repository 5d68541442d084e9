"""Whether an RNA design policy's actions depend on the structure it sees.

LEARNA's policy (:mod:`envs.rna_design`) sees a window of the target structure around the
decision site and nothing else, so a windowed policy is a table from windows to action
probabilities. :func:`context_report` reads that table on a set of targets (one forward
pass per target, :func:`meta.design.policy_prior`) and measures how much the rows differ:
a policy whose rows are all the same writes the same letters whatever the structure, and
no amount of sampling or adapting its last layer makes it design.

The report also gives the share of the policy's hidden tanh units that are saturated
(``|activation| > 0.99``) at every window: a saturated unit passes no gradient, so PPO on
a target cannot teach it anything.

A policy that also sees the letters it has written (``observe_letters``, session 60) is
read along an episode it samples on each target, since its rows depend on its own earlier
letters as well.

Used by ``scripts/policy_context.py`` (every shipped model in the repository's history is
measured in README, session 59).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from envs.dot_bracket import Target
from envs.vector import RnaDesignVecEnv
from meta.checkpoints import Checkpoint, load_weights
from meta.design import policy_prior
from meta.rna_agent import RNA_AGENT

#: A tanh unit beyond this magnitude at a window is saturated there.
SATURATED = 0.99


@dataclass(frozen=True)
class ContextReport:
    """How an RNA policy's action probabilities vary over the windows of some targets.

    Attributes:
        targets: Targets read.
        steps: Decision steps (windows) read.
        mean: The mean action probabilities (LEARNA's actions: ``GAUC`` at loops, ``GC CG
            AU UA`` at pairs).
        spread: The largest absolute difference between any step's probability of any
            action and that action's mean (0: the policy ignores the structure).
        entropy: The mean entropy of the steps' distributions (nats; ln 4 = 1.386 is
            uniform).
        argmax: How many steps each action is the most probable at.
        saturated: The share of the policy's hidden tanh units saturated at every window
            read (None: the policy has no tanh layer).
    """

    targets: int
    steps: int
    mean: list[float]
    spread: float
    entropy: float
    argmax: list[int]
    saturated: float | None

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready values."""
        return asdict(self)


@contextmanager
def _loaded(checkpoint: Checkpoint, target: Target) -> Iterator[tuple[Any, RnaDesignVecEnv]]:
    """``checkpoint``'s agent (as loaded) on ``target``, and its one-episode environment."""
    config = checkpoint.config
    env = RNA_AGENT.make_env(1, 0, targets=[target], config=config)
    try:
        model = RNA_AGENT.build_model(config, env, 0, "cpu", n_steps=env.encodings[0].num_steps)
        load_weights(model, checkpoint, with_optimizer=False)
        yield model, env
    finally:
        env.close()


def checkpoint_prior(checkpoint: Checkpoint, target: Target) -> np.ndarray | None:
    """:func:`meta.design.policy_prior` of ``checkpoint``'s policy (as loaded) on ``target``.

    What the stage's letter draws follow at the start of a ``meta-learna`` run; the stage
    harness (``benchmarks.ensemble_stage --prior``) uses it to try the prior without the
    design loop.
    """
    with _loaded(checkpoint, target) as (model, env):
        return policy_prior(model, env.encodings[0], checkpoint.config.env)


def context_report(
    checkpoint: Checkpoint, targets: Sequence[Target], seed: int = 0
) -> ContextReport:
    """Measure how ``checkpoint``'s policy (as loaded) varies over ``targets``' windows.

    A policy that sees the letters it has written (``observe_letters``) is read along one
    episode per target that it samples itself (``seed``): its rows then vary with the
    structure and with its own earlier letters.

    Raises:
        ValueError: no targets, or a recurrent policy (its action depends on its own
            earlier actions through a state this report does not follow).
    """
    if not targets:
        raise ValueError("context_report needs at least one target")
    config = checkpoint.config
    rows, saturated = [], []
    for number, target in enumerate(targets):
        with _loaded(checkpoint, target) as (model, env):
            if config.env.observe_letters:
                probabilities, windows = _sampled_episode(model, env, seed + number)
            else:
                windows = env.encodings[0].observations(config.env)
                probabilities = policy_prior(model, env.encodings[0], config.env)
            if probabilities is None:
                raise ValueError(
                    f"{checkpoint.path}: a recurrent policy's actions depend on its earlier "
                    "actions, not on the window alone"
                )
            rows.append(probabilities)
            saturated.append(_saturated_units(model, windows))
    table = np.concatenate(rows)
    mean = table.mean(axis=0)
    entropy = -(table * np.log(np.clip(table, 1e-12, None))).sum(axis=1).mean()
    units = None if saturated[0] is None else np.logical_and.reduce(saturated)
    return ContextReport(
        targets=len(targets),
        steps=len(table),
        mean=[round(float(p), 6) for p in mean],
        spread=float(np.abs(table - mean).max()),
        entropy=float(entropy),
        argmax=np.bincount(table.argmax(axis=1), minlength=table.shape[1]).tolist(),
        saturated=None if units is None else float(units.mean()),
    )


def _sampled_episode(model: Any, env: RnaDesignVecEnv, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The policy's probabilities at every step of one episode it samples, and the windows.

    The actions are drawn from the probabilities with numpy's generator (``seed``); the
    episode's design is folded at its end, as every episode's is.
    """
    rng = np.random.default_rng(seed)
    observations = env.reset()
    rows, windows = [], []
    for _ in range(env.encodings[0].num_steps):
        with torch.no_grad():
            tensor, _ = model.policy.obs_to_tensor(observations)
            probabilities = model.policy.get_distribution(tensor).distribution.probs
        row = probabilities.cpu().numpy()[0].astype(np.float64)
        rows.append(row)
        if env.masked:  # as the agent samples: a masked action is never taken
            row = row * env.action_masks()[0]
        windows.append(observations[0])
        env.step_async(np.array([rng.choice(len(row), p=row / row.sum())]))
        observations = env.step_wait()[0]
    return np.array(rows), np.array(windows)


def _saturated_units(model: Any, windows: np.ndarray) -> np.ndarray | None:
    """Per hidden tanh unit of the policy's head: saturated at every one of ``windows``.

    None when the policy's head has no tanh layer.
    """
    policy = model.policy
    layers = list(policy.mlp_extractor.policy_net)
    if not any(isinstance(layer, torch.nn.Tanh) for layer in layers):
        return None
    with torch.no_grad():
        tensor, _ = policy.obs_to_tensor(windows)
        features = policy.extract_features(tensor, policy.pi_features_extractor)
        masks = []
        for layer in layers:
            features = layer(features)
            if isinstance(layer, torch.nn.Tanh):
                masks.append((features.abs() > SATURATED).all(dim=0).cpu().numpy())
    return np.concatenate(masks)
