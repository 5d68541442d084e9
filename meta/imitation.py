"""Imitation of solved designs: the distillation step of expert iteration for the RNA policy.

Meta-training's PPO alone drives the policy to one constant design (A in loops, C-G at
pairs; README, "What meta-training learns"). Expert iteration gives it a teacher: a search
around the policy (``autorl design``'s stages, or the policy with its stages) solves the
training targets, and the policy is trained to take the actions that write those solutions
before PPO goes on from there (``autorl meta-train --imitate``).

The teacher's file is what ``autorl design --format json`` (a list) or ``--format jsonl``
(one result a line) prints: results, each with its ``target`` structure and its
``solutions``. Every solution becomes
one demonstration: the actions that write it (:func:`envs.rna_design.sequence_to_actions`)
and the observations the environment shows along the way, with ``observe_letters`` the
letters written so far included (the window the policy sees when it takes the action).

Cloning minimizes the negative log-likelihood of the demonstrated actions under the policy
(its value head is left to PPO), with Adam and minibatches drawn from the run's seed. A
share of the designs is held out: its loss and accuracy (the policy's most probable action
is the demonstrated one) say whether the policy learned more than the designs it saw.

Before the first epoch the action head's bias is set to the log of the demonstrated actions'
frequencies (:func:`prior_bias`). Without it the cheapest way to the frequencies is to drive
the tanh layer into saturation through its biases, after which no window changes the output
and the gradient is gone: on 300 of session 61's teacher designs, three epochs at the
default step left every observation with the same probabilities (loss 0.61, held-out
accuracy 72 %, the frequencies' own); with the bias set, four epochs reached loss 0.37 and
78 % with probabilities that follow the window.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm

from envs.dot_bracket import Target
from envs.rna_design import (
    PAIRS,
    RnaDesignConfig,
    TargetEncoding,
    observation_space,
    sequence_to_actions,
    write_letters,
)

#: Decisions per minibatch of cloning.
BATCH_SIZE = 256
#: Why a design is left out: it pairs G with U and the action space has no GU pair.
GU_OFF = "GU pair without gu_pairs"


@dataclass(frozen=True)
class Demonstration:
    """One solved design of one training target.

    Attributes:
        target: The training target.
        sequence: A sequence whose MFE structure is the target (the teacher's solution).
        record: The 1-based index of the teacher's result it comes from.
    """

    target: Target
    sequence: str
    record: int


@dataclass
class Demonstrations:
    """The decisions of a set of demonstrations, one row per decision.

    Attributes:
        observations: ``(rows, window)`` the observation at each decision.
        actions: ``(rows,)`` the demonstrated action.
        masks: ``(rows, num_actions)`` the allowed actions, or None where none is masked.
        designs: ``(rows,)`` the index of the design each row belongs to.
        used: Designs turned into rows.
        skipped: Designs left out, by reason (e.g. a GU pair without ``gu_pairs``).
    """

    observations: np.ndarray
    actions: np.ndarray
    masks: np.ndarray | None
    designs: np.ndarray
    used: int
    skipped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.actions)

    def summary(self) -> dict[str, Any]:
        """Counts for run records: designs used and skipped, decisions."""
        return {"designs": self.used, "decisions": len(self), "skipped": dict(self.skipped)}


@dataclass(frozen=True)
class CloneEpoch:
    """One pass of cloning over the demonstrations.

    Attributes:
        epoch: 1-based.
        loss: Mean negative log-likelihood of the demonstrated actions, training rows.
        accuracy: Share of training rows whose most probable action is the demonstrated one.
        holdout_loss: The same on the held-out designs' rows (NaN without any).
        holdout_accuracy: The same (NaN without held-out designs).
        seconds: Wall time of the epoch.
    """

    epoch: int
    loss: float
    accuracy: float
    holdout_loss: float
    holdout_accuracy: float
    seconds: float


def read_designs(path: Path, targets: Sequence[Target]) -> tuple[list[Demonstration], int]:
    """Read a teacher's solutions (``autorl design --format json`` or ``jsonl``).

    Args:
        path: A JSON list of design results, or one result object a line (JSON Lines),
            each with ``target`` (dot-bracket) and ``solutions`` (sequences), as ``autorl
            design --format json`` and ``--format jsonl`` print them.
        targets: The training targets; every result's target must be one of them (so the
            teacher never saw a benchmark's target: the training file's overlap check
            covers it).

    Returns:
        The demonstrations, and the number of results without any solution.

    Raises:
        ValueError: the file is missing or not such JSON, or a result's target is not a
            training target (the message names the file and the 1-based result, or the
            line of JSON Lines that does not parse).
    """
    records = _records(Path(path))
    by_structure = {t.structure: t for t in targets}
    demonstrations: list[Demonstration] = []
    unsolved = 0
    for number, record in enumerate(records, start=1):
        where = f"{path}: result {number}"
        if not isinstance(record, dict) or not isinstance(record.get("target"), str):
            raise ValueError(f"{where}: expected an object with a 'target' structure")
        solutions = record.get("solutions")
        if not isinstance(solutions, list) or not all(isinstance(s, str) for s in solutions):
            raise ValueError(f"{where}: expected 'solutions', a list of sequences")
        target = by_structure.get(record["target"])
        if target is None:
            name = record.get("target_id", "?")
            raise ValueError(
                f"{where} (target {name}): its structure is not one of the training targets"
            )
        unsolved += not solutions
        demonstrations.extend(Demonstration(target, s, number) for s in solutions)
    return demonstrations, unsolved


def _records(path: Path) -> list[Any]:
    """The results of a JSON list, one JSON object, or JSON Lines."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise ValueError(f"{path}: no such file of designs") from error
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not JSON ({error})") from error
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        records = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number}: not JSON ({error.msg})") from error
        return records
    if isinstance(whole, dict):
        return [whole]
    if not isinstance(whole, list):
        raise ValueError(f"{path}: expected design results (autorl design --format json or jsonl)")
    return whole


def demonstrate(demonstrations: Sequence[Demonstration], config: RnaDesignConfig) -> Demonstrations:
    """The decisions of each demonstration under the environment's settings.

    A design with a GU pair at a target pair is skipped when the action space has no GU
    pair (``gu_pairs`` off), and counted under :data:`GU_OFF`.

    Args:
        demonstrations: The solved designs.
        config: The MDP settings of the policy to train (window, letters, GU pairs).

    Returns:
        One row per decision of every usable design, in order.

    Raises:
        ValueError: a design that does not fit its target (its length, a letter other
            than ACGU, letters that cannot pair at a target pair); the message names the
            teacher's result.
    """
    dtype = observation_space(config).dtype
    observations: list[np.ndarray] = []
    actions: list[np.ndarray] = []
    masks: list[np.ndarray] = []
    designs: list[np.ndarray] = []
    skipped: dict[str, int] = {}
    for demonstration in demonstrations:
        encoding = TargetEncoding.build(demonstration.target, config)
        try:  # in the whole action space: a GU pair is action 4 or 5
            chosen = sequence_to_actions(encoding, demonstration.sequence, len(PAIRS))
        except ValueError as error:
            raise ValueError(f"result {demonstration.record}: {error}") from error
        if chosen.max(initial=0) >= config.num_actions:
            skipped[GU_OFF] = skipped.get(GU_OFF, 0) + 1
            continue
        observations.append(_observations(encoding, chosen, config).astype(dtype))
        actions.append(chosen)
        masks.append(encoding.masks)
        designs.append(np.full(len(chosen), len(designs), dtype=np.int64))
    width = config.window
    stacked = np.concatenate(masks) if masks else np.ones((0, config.num_actions), dtype=bool)
    return Demonstrations(
        observations=np.concatenate(observations) if observations else np.zeros((0, width)),
        actions=np.concatenate(actions) if actions else np.zeros(0, dtype=np.int64),
        masks=None if stacked.all() else stacked,
        designs=np.concatenate(designs) if designs else np.zeros(0, dtype=np.int64),
        used=len(designs),
        skipped=skipped,
    )


def _observations(
    encoding: TargetEncoding, actions: np.ndarray, config: RnaDesignConfig
) -> np.ndarray:
    """The environment's observation before each action (the letters written so far)."""
    if not config.observe_letters:
        return encoding.observations(config)
    letters = encoding.blank_letters()
    rows = []
    for step in range(len(actions)):
        rows.append(encoding.window(step, config.window, letters))
        write_letters(
            letters[None],
            encoding.sites[step : step + 1],
            encoding.partners[step : step + 1],
            actions[step : step + 1],
            config.state_radius,
        )
    return np.stack(rows)


def split(data: Demonstrations, holdout: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the training and held-out designs.

    Args:
        data: The decisions.
        holdout: Share of the designs held out (0 to < 1); at least one design is
            held out when the share is positive and there are two designs or more.
        seed: Seed of the draw.

    Returns:
        (training rows, held-out rows).
    """
    if not 0 <= holdout < 1:
        raise ValueError(f"holdout must be in [0, 1), got {holdout}")
    count = 0 if holdout == 0 or data.used < 2 else max(1, round(holdout * data.used))
    held = np.random.default_rng(seed).choice(data.used, size=count, replace=False)
    out = np.isin(data.designs, held)
    return np.flatnonzero(~out), np.flatnonzero(out)


def clone(
    model: BaseAlgorithm,
    data: Demonstrations,
    *,
    epochs: int,
    learning_rate: float,
    seed: int,
    first_epoch: int = 1,
    holdout: float = 0.1,
    should_stop: Callable[[], bool] | None = None,
    on_epoch: Callable[[CloneEpoch], None] | None = None,
) -> list[CloneEpoch]:
    """Train ``model``'s policy to take the demonstrated actions.

    Args:
        model: A window policy's PPO or MaskablePPO (not RecurrentPPO: its likelihood needs
            whole episodes).
        data: The decisions (:func:`demonstrate`).
        epochs: Passes over the training rows (at most: see ``should_stop``).
        learning_rate: Adam's step size (a fresh optimizer; PPO's is left as it was).
        seed: Seed of the held-out draw and of each epoch's minibatch order.
        first_epoch: The number of the first epoch (a resumed imitation goes on with the
            next one, and the order it would have drawn). The first epoch of all starts
            with :func:`prior_bias`.
        holdout: Share of the designs held out to measure generalization.
        should_stop: Checked after every epoch; True ends cloning early.
        on_epoch: Called after every epoch.

    Returns:
        One record per epoch done.

    Raises:
        ValueError: no decisions, epochs or first_epoch below 1, a learning rate that is
            not a positive number, or a recurrent policy.
    """
    if len(data) == 0:
        raise ValueError("no demonstrated decision to imitate")
    for name, value in (("epochs", epochs), ("first_epoch", first_epoch)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if not (math.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"learning_rate must be > 0, got {learning_rate}")
    policy = model.policy
    if getattr(policy, "lstm_actor", None) is not None:
        raise ValueError(
            "imitation needs a window policy: a recurrent policy (lstm_mode 'episode') "
            "reads whole episodes"
        )
    train_rows, held_rows = split(data, holdout, seed)
    if first_epoch == 1:
        prior_bias(policy, data.actions[train_rows])
    optimizer = torch.optim.Adam(policy.parameters(), lr=learning_rate)
    history: list[CloneEpoch] = []
    for epoch in range(first_epoch, first_epoch + epochs):
        start = time.monotonic()
        policy.set_training_mode(True)
        order = np.random.default_rng([seed, epoch]).permutation(train_rows)
        for begin in range(0, len(order), BATCH_SIZE):
            rows = order[begin : begin + BATCH_SIZE]
            loss = -_log_likelihood(policy, data, rows).mean()
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), model.max_grad_norm)
            optimizer.step()
        policy.set_training_mode(False)
        loss, accuracy = evaluate(policy, data, train_rows)
        held_loss, held_accuracy = evaluate(policy, data, held_rows)
        record = CloneEpoch(
            epoch, loss, accuracy, held_loss, held_accuracy, time.monotonic() - start
        )
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
        if should_stop is not None and should_stop():
            break
    return history


def prior_bias(policy: Any, actions: np.ndarray) -> None:
    """Set the action head's bias to the log-frequencies of ``actions`` (add-one smoothed).

    Args:
        policy: An SB3 actor-critic policy (its ``action_net``).
        actions: The demonstrated actions of the training rows.
    """
    layer = policy.action_net
    counts = np.bincount(actions, minlength=layer.out_features)[: layer.out_features] + 1.0
    with torch.no_grad():
        layer.bias.copy_(torch.as_tensor(np.log(counts / counts.sum()), dtype=layer.bias.dtype))


def _log_likelihood(policy: Any, data: Demonstrations, rows: np.ndarray) -> torch.Tensor:
    """Log-probabilities of the demonstrated actions at ``rows`` (with gradients)."""
    device = policy.device
    observations = torch.as_tensor(data.observations[rows], dtype=torch.float32, device=device)
    actions = torch.as_tensor(data.actions[rows], device=device)
    if data.masks is None:
        _, log_prob, _ = policy.evaluate_actions(observations, actions)
    else:
        _, log_prob, _ = policy.evaluate_actions(
            observations, actions, action_masks=data.masks[rows]
        )
    return log_prob


def evaluate(policy: Any, data: Demonstrations, rows: np.ndarray) -> tuple[float, float]:
    """Mean negative log-likelihood and accuracy of the policy on ``rows`` (NaN if none).

    Accuracy counts rows whose most probable allowed action is the demonstrated one.
    """
    if len(rows) == 0:
        return math.nan, math.nan
    losses, hits = [], 0
    for begin in range(0, len(rows), 4096):
        chunk = rows[begin : begin + 4096]
        log_probs = _log_probabilities(policy, data, chunk)
        chosen = data.actions[chunk]
        losses.append(-log_probs[np.arange(len(chunk)), chosen])
        hits += int((log_probs.argmax(axis=1) == chosen).sum())
    return float(np.concatenate(losses).mean()), hits / len(rows)


def _log_probabilities(policy: Any, data: Demonstrations, rows: np.ndarray) -> np.ndarray:
    """Every action's log-probability at ``rows`` (masked actions at -inf), one forward."""
    observations = torch.as_tensor(data.observations[rows], dtype=torch.float32)
    with torch.no_grad():
        distribution = policy.get_distribution(observations.to(policy.device))
    logits = distribution.distribution.logits.cpu().numpy().astype(np.float64)
    if data.masks is not None:
        logits = np.where(data.masks[rows], logits, -np.inf)
    top = logits.max(axis=1, keepdims=True)
    return logits - top - np.log(np.exp(logits - top).sum(axis=1, keepdims=True))


__all__ = [
    "BATCH_SIZE",
    "GU_OFF",
    "CloneEpoch",
    "Demonstration",
    "Demonstrations",
    "clone",
    "demonstrate",
    "evaluate",
    "prior_bias",
    "read_designs",
    "split",
]
