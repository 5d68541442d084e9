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
from envs.rna_design import RnaDesignConfig, TargetEncoding
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
def _loaded(checkpoint: Checkpoint, target: Target) -> Iterator[tuple[Any, TargetEncoding]]:
    """``checkpoint``'s agent (as loaded) on ``target``, and the target's encoding."""
    config = checkpoint.config
    env = RNA_AGENT.make_env(1, 0, targets=[target], config=config)
    try:
        encoding = env.encodings[0]
        model = RNA_AGENT.build_model(config, env, 0, "cpu", n_steps=encoding.num_steps)
        load_weights(model, checkpoint, with_optimizer=False)
        yield model, encoding
    finally:
        env.close()


def checkpoint_prior(checkpoint: Checkpoint, target: Target) -> np.ndarray | None:
    """:func:`meta.design.policy_prior` of ``checkpoint``'s policy (as loaded) on ``target``.

    What the stage's letter draws follow at the start of a ``meta-learna`` run; the stage
    harness (``benchmarks.ensemble_stage --prior``) uses it to try the prior without the
    design loop.
    """
    with _loaded(checkpoint, target) as (model, encoding):
        return policy_prior(model, encoding, checkpoint.config.env)


def context_report(checkpoint: Checkpoint, targets: Sequence[Target]) -> ContextReport:
    """Measure how ``checkpoint``'s policy (as loaded) varies over ``targets``' windows.

    Raises:
        ValueError: no targets, or a recurrent policy (its action depends on its own
            earlier actions, not on the window alone).
    """
    if not targets:
        raise ValueError("context_report needs at least one target")
    config = checkpoint.config
    rows, saturated = [], []
    for target in targets:
        with _loaded(checkpoint, target) as (model, encoding):
            probabilities = policy_prior(model, encoding, config.env)
            if probabilities is None:
                raise ValueError(
                    f"{checkpoint.path}: a recurrent policy's actions depend on its earlier "
                    "actions, not on the window alone"
                )
            rows.append(probabilities)
            saturated.append(_saturated_units(model, encoding, config.env))
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


def _saturated_units(
    model: Any, encoding: TargetEncoding, env: RnaDesignConfig
) -> np.ndarray | None:
    """Per hidden tanh unit of the policy's head: saturated at every window of ``encoding``.

    None when the policy's head has no tanh layer.
    """
    policy = model.policy
    layers = list(policy.mlp_extractor.policy_net)
    if not any(isinstance(layer, torch.nn.Tanh) for layer in layers):
        return None
    with torch.no_grad():
        tensor, _ = policy.obs_to_tensor(encoding.observations(env))
        features = policy.extract_features(tensor, policy.pi_features_extractor)
        masks = []
        for layer in layers:
            features = layer(features)
            if isinstance(layer, torch.nn.Tanh):
                masks.append((features.abs() > SATURATED).all(dim=0).cpu().numpy())
    return np.concatenate(masks)
