"""SB3's PPO update, run through the window network's numpy mirror.

:class:`WindowPPO` and :class:`MaskableWindowPPO` are stable-baselines3's ``PPO`` and
sb3-contrib's ``MaskablePPO`` (:class:`policies.minibatches.GuardedMaskablePPO`: without a
minibatch of one step) whose ``train`` computes the same update as theirs (the
clipped surrogate, value and entropy losses, advantage normalization, gradient clipping
and Adam, minibatches drawn by the rollout buffer with numpy's global generator, SB3's
``target_kl`` and ``clip_range_vf``) with :class:`policies.numpy_window.WindowNetwork`'s
hand-written backward pass instead of torch's autograd, when the mirror supports the
policy (CPU, no LSTM; otherwise the torch update runs). The parameters and Adam's moments
live in flat numpy buffers during an update and are written back into the torch policy and
its optimizer's state afterwards, so checkpoints, ``load_weights`` and a later torch update
see exactly what a torch update would have left. ``tests/test_numpy_window.py`` compares
both updates step by step.

Why: LEARNA's network is so small that a torch minibatch costs ~12 ms of per-call overhead
on this project's machine, more than the design loop spends folding; this update is about
ten times cheaper (README, "RNA design against its peers", throughput).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.utils import explained_variance
from threadpoolctl import threadpool_limits

from policies.minibatches import GuardedMaskablePPO
from policies.numpy_window import WindowNetwork, Windows, log_softmax

#: numpy's BLAS threads while a window policy acts and learns (this module's updates, and
#: the design and meta-training loops around them). Its products are small: OpenBLAS's
#: threads cost more than they bring (an update of the shipped network took ~110 ms with
#: two, ~90 with one), and between products they spin on cores the folding processes (or
#: another job) need: with OpenBLAS's default (2 threads on the 2-core development machine)
#: the pipelined design loop spent 3.0-3.4 ms of its own CPU per episode at 100 nt, with
#: one 2.1-2.3 ms, and the throughput ratio rose from 0.84 to 0.94-1.02 (session 65).
BLAS_THREADS = 1


def blas_limit() -> threadpool_limits:
    """A context manager that holds numpy's BLAS to :data:`BLAS_THREADS` threads.

    The caller's setting comes back on leaving the ``with`` block. torch's OpenMP threads
    are not touched.
    """
    return threadpool_limits(BLAS_THREADS, user_api="blas")


def _flat(tensors: list[torch.Tensor]) -> np.ndarray:
    """The tensors' values in one new float32 array."""
    return np.concatenate([t.detach().cpu().numpy().ravel() for t in tensors])


class _FlatAdam:
    """The policy's parameters and Adam moments as flat float32 buffers, for one update."""

    def __init__(self, optimizer: torch.optim.Adam):
        self.optimizer = optimizer
        self.tensors = list(optimizer.param_groups[0]["params"])
        self.values = _flat(self.tensors)
        self.params = self._split(self.values)  # views: one per parameter, in its shape
        states = [optimizer.state.get(p) for p in self.tensors]
        if all(states):
            self.step = float(states[0]["step"])
            self.exp_avg = _flat([s["exp_avg"] for s in states])
            self.exp_avg_sq = _flat([s["exp_avg_sq"] for s in states])
        else:
            self.step = 0.0
            self.exp_avg = np.zeros_like(self.values)
            self.exp_avg_sq = np.zeros_like(self.values)
        self.gradient = np.empty_like(self.values)
        self._gradients = self._split(self.gradient)

    def _split(self, flat: np.ndarray) -> list[np.ndarray]:
        """Views of a flat buffer, one per parameter, each in its parameter's shape."""
        views, start = [], 0
        for tensor in self.tensors:
            views.append(flat[start : start + tensor.numel()].reshape(tensor.shape))
            start += tensor.numel()
        return views

    @staticmethod
    def usable(optimizer: torch.optim.Adam) -> bool:
        """Whether every parameter has Adam's state at one step count, or none has any."""
        states = [optimizer.state.get(p) for p in optimizer.param_groups[0]["params"]]
        if not any(states):
            return True
        if not all(states):
            return False
        steps = {float(s["step"]) for s in states}
        return len(steps) == 1 and all(
            s["exp_avg"].device.type == "cpu" and s["exp_avg"].dtype == torch.float32
            for s in states
        )

    def apply(self, grads: list[np.ndarray], max_grad_norm: float) -> None:
        """Clip the gradients' global norm as torch does, then take torch's Adam step."""
        for view, grad in zip(self._gradients, grads, strict=True):
            view[...] = grad
        gradient = self.gradient
        norm = float(np.sqrt(np.dot(gradient, gradient)))
        gradient *= np.float32(min(max_grad_norm / (norm + 1e-6), 1.0))
        group = self.optimizer.param_groups[0]
        beta1, beta2 = group["betas"]
        self.step += 1.0
        self.exp_avg += np.float32(1.0 - beta1) * (gradient - self.exp_avg)
        self.exp_avg_sq *= np.float32(beta2)
        self.exp_avg_sq += np.float32(1.0 - beta2) * gradient * gradient
        step_size = group["lr"] / (1.0 - beta1**self.step)
        denominator = np.sqrt(self.exp_avg_sq) / np.float32(math.sqrt(1.0 - beta2**self.step))
        denominator += np.float32(group["eps"])
        self.values -= np.float32(step_size) * (self.exp_avg / denominator)

    def write_back(self) -> None:
        """Copy the parameters and Adam's state into the torch policy and optimizer."""
        moments = zip(self._split(self.exp_avg), self._split(self.exp_avg_sq), strict=True)
        for tensor, value, (exp_avg, exp_avg_sq) in zip(
            self.tensors, self.params, moments, strict=True
        ):
            with torch.no_grad():
                tensor.copy_(torch.from_numpy(value))
            state = self.optimizer.state[tensor]
            state["step"] = torch.tensor(self.step, dtype=torch.float32)
            state["exp_avg"] = torch.from_numpy(exp_avg.copy())
            state["exp_avg_sq"] = torch.from_numpy(exp_avg_sq.copy())


def ppo_gradients(
    network: WindowNetwork,
    params: list[np.ndarray],
    windows: Windows,
    batch: dict[str, np.ndarray],
    clip_range: float,
    clip_range_vf: float | None,
    ent_coef: float,
    vf_coef: float,
    normalize: bool,
) -> tuple[list[np.ndarray], dict[str, float]]:
    """The PPO loss's gradients for one minibatch, and SB3's logged figures of it.

    Args:
        network: The mirror.
        params: Its parameters.
        windows: The rollout's distinct windows.
        batch: ``rows`` (each sample's window in ``windows``), ``actions`` (ints),
            ``old_values``, ``old_log_prob``, ``advantages``, ``returns``, optionally
            ``action_masks`` (bools) and ``subset`` (the windows to compute, None: all).
        clip_range: PPO's clip range.
        clip_range_vf: SB3's value clip range, or None.
        ent_coef: Entropy coefficient.
        vf_coef: Value loss coefficient.
        normalize: Whether the advantages are normalized (mean 0, std 1, unbiased std).

    Returns:
        One gradient per parameter, and ``policy_loss``, ``value_loss``,
        ``entropy_loss``, ``loss``, ``clip_fraction`` and ``approx_kl``.
    """
    logits, values, cache = network.forward_windows(
        params, windows, batch["rows"], batch.get("subset")
    )
    masks = batch.get("action_masks")
    log_probs = log_softmax(logits, masks)
    probs = np.exp(log_probs)
    count = len(values)
    rows = np.arange(count)
    actions = batch["actions"]
    log_prob = log_probs[rows, actions]
    p_log_p = probs * log_probs
    if masks is not None:
        p_log_p = np.where(masks, p_log_p, 0.0)
    entropy = -p_log_p.sum(axis=1)

    advantages = batch["advantages"]
    if normalize:
        advantages = (advantages - advantages.mean()) / (advantages.std(ddof=1) + 1e-8)
    log_ratio = log_prob - batch["old_log_prob"]
    ratio = np.exp(log_ratio)
    clipped = np.clip(ratio, 1.0 - clip_range, 1.0 + clip_range)
    surrogate = np.minimum(advantages * ratio, advantages * clipped)
    # d min(A r, A clip(r)) / dr = A where the unclipped term is the smaller (on a tie
    # torch splits the gradient, and both halves are A inside the clip range).
    d_ratio = np.where(advantages * ratio <= advantages * clipped, advantages, 0.0)
    d_log_prob = -(d_ratio * ratio) / count

    returns = batch["returns"]
    d_values_pred = 2.0 * vf_coef * (values - returns) / count
    values_pred = values
    if clip_range_vf is not None:
        old = batch["old_values"]
        change = values - old
        values_pred = old + np.clip(change, -clip_range_vf, clip_range_vf)
        d_values_pred = 2.0 * vf_coef * (values_pred - returns) / count
        d_values_pred = np.where(np.abs(change) <= clip_range_vf, d_values_pred, 0.0)
    value_loss = float(np.mean((returns - values_pred) ** 2))

    # log p_a = z_a - logsumexp(z); entropy H = -sum p log p: dH/dz_k = -p_k (log p_k + H)
    d_logits = -probs * d_log_prob[:, None]
    d_logits[rows, actions] += d_log_prob
    d_entropy = -ent_coef / count
    d_logits += d_entropy * (-p_log_p - probs * entropy[:, None])
    if masks is not None:
        d_logits = np.where(masks, d_logits, 0.0)
    grads = network.backward(
        params, cache, d_logits.astype(np.float32), d_values_pred.astype(np.float32)
    )
    policy_loss = -float(np.mean(surrogate))
    entropy_loss = -float(np.mean(entropy))
    figures = {
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        "entropy_loss": entropy_loss,
        "loss": policy_loss + ent_coef * entropy_loss + vf_coef * value_loss,
        "clip_fraction": float(np.mean(np.abs(ratio - 1.0) > clip_range)),
        "approx_kl": float(np.mean(ratio - 1.0 - log_ratio)),
    }
    return grads, figures


class _NumpyTrain:
    """``train`` through the numpy mirror when it supports the policy (a mixin)."""

    def numpy_update_supported(self) -> bool:
        """Whether :meth:`train` runs in numpy for this agent's policy and optimizer."""
        policy = self.policy  # type: ignore[attr-defined]
        network = WindowNetwork.build(policy)
        return network is not None and _FlatAdam.usable(policy.optimizer)

    def train(self) -> None:
        """One PPO update on the rollout buffer (numpy, or SB3's own when unsupported)."""
        policy = self.policy  # type: ignore[attr-defined]
        network = WindowNetwork.build(policy)
        if network is None or not _FlatAdam.usable(policy.optimizer):
            super().train()  # type: ignore[misc]
            return
        with blas_limit():
            self._numpy_train(network)

    def _numpy_train(self, network: WindowNetwork) -> None:
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        clip_range = self.clip_range(self._current_progress_remaining)
        clip_range_vf = None
        if self.clip_range_vf is not None:
            clip_range_vf = self.clip_range_vf(self._current_progress_remaining)
        flat = _FlatAdam(self.policy.optimizer)
        logged: dict[str, list[float]] = {}
        approx_kl_divs: list[float] = []
        figures: dict[str, float] = {}
        continue_training = True
        windows: Windows | None = None
        rows = np.empty(0, dtype=np.int64)
        for epoch in range(self.n_epochs):
            approx_kl_divs = []
            for indices in _minibatch_indices(self.rollout_buffer, self.batch_size):
                if windows is None:  # the buffer is flat from the first minibatch on
                    observations = self.rollout_buffer.observations
                    windows, rows = Windows.of(observations.reshape(len(observations), -1))
                batch = _batch(self.rollout_buffer, indices, rows)
                if len(windows.observations) > 2 * len(indices):  # many targets: only these
                    batch["subset"] = np.unique(batch["rows"])
                normalize = self.normalize_advantage and len(indices) > 1
                grads, figures = ppo_gradients(
                    network,
                    flat.params,
                    windows,
                    batch,
                    clip_range,
                    clip_range_vf,
                    self.ent_coef,
                    self.vf_coef,
                    normalize,
                )
                for key in ("policy_loss", "value_loss", "entropy_loss", "clip_fraction"):
                    logged.setdefault(key, []).append(figures[key])
                approx_kl_divs.append(figures["approx_kl"])
                if self.target_kl is not None and figures["approx_kl"] > 1.5 * self.target_kl:
                    continue_training = False
                    if self.verbose >= 1:
                        print(
                            f"Early stopping at step {epoch} due to reaching max kl: "
                            f"{figures['approx_kl']:.2f}"
                        )
                    break
                flat.apply(grads, self.max_grad_norm)
            self._n_updates += 1
            if not continue_training:
                break
        flat.write_back()
        self._log_update(logged, approx_kl_divs, figures, clip_range, clip_range_vf)

    def _log_update(
        self,
        logged: dict[str, list[float]],
        approx_kl_divs: list[float],
        figures: dict[str, float],
        clip_range: float,
        clip_range_vf: float | None,
    ) -> None:
        """SB3's ``train/*`` records of an update."""
        buffer = self.rollout_buffer
        explained = explained_variance(buffer.values.flatten(), buffer.returns.flatten())
        record = self.logger.record
        record("train/entropy_loss", np.mean(logged.get("entropy_loss", [np.nan])))
        record("train/policy_gradient_loss", np.mean(logged.get("policy_loss", [np.nan])))
        record("train/value_loss", np.mean(logged.get("value_loss", [np.nan])))
        record("train/approx_kl", np.mean(approx_kl_divs) if approx_kl_divs else np.nan)
        record("train/clip_fraction", np.mean(logged.get("clip_fraction", [np.nan])))
        record("train/loss", figures.get("loss", np.nan))
        record("train/explained_variance", explained)
        record("train/n_updates", self._n_updates, exclude="tensorboard")
        record("train/clip_range", clip_range)
        if clip_range_vf is not None:
            record("train/clip_range_vf", clip_range_vf)


def _minibatch_indices(buffer: Any, batch_size: int) -> Iterator[np.ndarray]:
    """The sample indices of the buffer's minibatches, as its own ``get`` draws them.

    ``get`` shuffles with numpy's global generator and flattens the buffer on its first
    call; its ``_get_samples`` turns indices into torch tensors, which this update does
    not need, so it is shadowed for the duration and hands the indices over instead.
    """
    buffer._get_samples = lambda indices, env=None: indices
    try:
        yield from buffer.get(batch_size)
    finally:
        del buffer._get_samples


def _batch(buffer: Any, indices: np.ndarray, rows: np.ndarray) -> dict[str, np.ndarray]:
    """One minibatch's samples from the (flattened) rollout buffer, as numpy arrays."""
    batch = {
        "rows": rows[indices],
        "actions": buffer.actions[indices].astype(np.int64).reshape(-1),
        "old_values": buffer.values[indices].reshape(-1),
        "old_log_prob": buffer.log_probs[indices].reshape(-1),
        "advantages": buffer.advantages[indices].reshape(-1),
        "returns": buffer.returns[indices].reshape(-1),
    }
    masks = getattr(buffer, "action_masks", None)
    if masks is not None:
        batch["action_masks"] = masks[indices].reshape(len(indices), -1) > 0
    return batch


def time_minibatch(model: Any, windows: np.ndarray, repeats: int) -> float:
    """Median seconds of one numpy minibatch step of ``model`` on ``windows`` (the target's).

    For estimating an update before the first one: random actions and advantages on
    ``batch_size`` of the windows, the PPO gradients and an Adam step on a flat copy of the
    parameters (the model is untouched).

    Args:
        model: A :class:`WindowPPO` or :class:`MaskableWindowPPO` whose update runs in numpy
            (:meth:`numpy_update_supported`).
        windows: The target's windows, one per decision site.
        repeats: Minibatch steps to time (the first is not counted).
    """
    policy = model.policy
    network = WindowNetwork.build(policy)
    if network is None:
        raise ValueError("the policy's update does not run in numpy")
    rng = np.random.default_rng(0)
    count = min(model.batch_size, model.n_steps * model.n_envs)
    table, rows = Windows.of(windows[rng.integers(len(windows), size=count)])
    batch = {
        "rows": rows,
        "actions": rng.integers(int(model.action_space.n), size=count),
        "old_values": np.zeros(count, np.float32),
        "old_log_prob": np.full(count, -1.0, np.float32),
        "advantages": rng.standard_normal(count).astype(np.float32),
        "returns": rng.standard_normal(count).astype(np.float32),
    }
    flat = _FlatAdam(policy.optimizer)
    times = []
    with blas_limit():
        for _ in range(max(2, repeats)):
            began = time.perf_counter()
            grads, _ = ppo_gradients(
                network, flat.params, table, batch, 0.2, None, model.ent_coef, 0.5, True
            )
            flat.apply(grads, model.max_grad_norm)
            times.append(time.perf_counter() - began)
    return float(np.median(times[1:]))


class WindowPPO(_NumpyTrain, PPO):
    """stable-baselines3's PPO with the numpy update (see the module)."""


class MaskableWindowPPO(_NumpyTrain, GuardedMaskablePPO):
    """sb3-contrib's MaskablePPO with the numpy update (see the module).

    Its rollout buffer leaves out a minibatch of one step (:mod:`policies.minibatches`),
    for the numpy update as for sb3-contrib's.
    """
