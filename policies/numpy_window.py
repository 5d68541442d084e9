"""The window policy's network in numpy: rollouts and PPO updates without torch's overhead.

LEARNA's network (embedding -> Conv1d layers -> fully connected layers -> action and value
heads, :func:`policies.extractors.window_policy_kwargs` without an LSTM) is tiny: a PPO
minibatch of 123 windows costs ~12 ms in torch on this project's 2-core machine, almost all
of it fixed per-call overhead (autograd, convolution dispatch, Adam's per-tensor steps), and
one sampling step of 64 parallel episodes ~2.5 ms. The design loop spends more CPU on that
than on folding the designs (issue 14's throughput figure). :class:`WindowNetwork` computes
the same functions with a handful of numpy matrix products and writes out the backward pass
by hand, about ten times cheaper on such shapes.

The convolutions of a set of windows that overlap (every step's window of one target: a
design run's rollouts and updates) run once per distinct receptive field, not once per
window position (:class:`_Fields`): the same outputs and gradients, a fraction of the work.
For the shipped network (two convolutions of 22 and 25 channels) this halved the design
loop's learning CPU per episode (issue 14's throughput benchmark: 5.2 to 2.4 ms).

It is a mirror, not a second model: the torch policy stays the model (saving, loading,
GPUs). Its arrays are views of the torch parameters (CPU only), or of a flat buffer that
:mod:`meta.numpy_ppo` copies back into them after an update. ``tests/test_numpy_window.py``
proves it against torch's autograd and SB3's own update.

:class:`WindowPolicy` and :class:`MaskableWindowPolicy` are SB3's actor-critic policies
whose sampling (``forward`` under ``torch.no_grad``, as in SB3's rollouts, and
``_predict``) uses the mirror when :func:`WindowNetwork.build` supports the policy, and
torch otherwise. Actions are still drawn by ``torch.multinomial`` from the seeded torch
generator, as SB3's categorical distribution draws them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from numpy.lib.stride_tricks import sliding_window_view
from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
from stable_baselines3.common.policies import ActorCriticPolicy
from torch import nn

from policies.extractors import NUM_TOKENS, LearnaExtractor

#: Whether supported policies sample and update in numpy; False runs SB3's torch code
#: throughout (for comparisons, e.g. ``scripts/time_policy_update.py --update torch``).
ENABLED = True

#: The logit of a masked action (sb3-contrib's ``MaskableCategorical``).
MASKED_LOGIT = np.float32(-1e8)

#: A tower computes each distinct receptive field of its last convolution once
#: (:class:`_Fields`) when the distinct fields are at most this share of the output
#: positions of the windows; otherwise it computes every window on its own.
SHARED_FIELDS = 0.5


@dataclass(frozen=True)
class _Conv:
    weight: int  # index of the (out, in, kernel) weight in the parameter list
    bias: int
    kernel: int


@dataclass(frozen=True)
class _Tower:
    """One features extractor: optional embedding, then Conv1d + ReLU layers."""

    embedding: int | None  # index of the (tokens, size) embedding, or None (binary input)
    convs: tuple[_Conv, ...]


@dataclass(frozen=True)
class _Dense:
    """Linear layers, each followed by its activation (None: none, the heads)."""

    layers: tuple[tuple[int, int, str | None], ...]  # (weight index, bias index, activation)


class WindowNetwork:
    """The numpy form of a window policy's actor and critic.

    Build it with :meth:`build`. ``params`` (see :meth:`parameters_of`) are the arrays in
    the order of the policy optimizer's parameter list; every method takes them, so the
    same network runs on the torch parameters' own memory or on a flat copy.
    """

    def __init__(
        self,
        pi_tower: _Tower,
        vf_tower: _Tower | None,
        pi_net: _Dense,
        vf_net: _Dense,
        shapes: Sequence[tuple[int, ...]],
        num_actions: int,
    ):
        self.pi_tower = pi_tower
        self.vf_tower = vf_tower  # None: the critic reads the actor's features
        self.pi_net = pi_net
        self.vf_net = vf_net
        self.shapes = tuple(shapes)
        self.num_actions = num_actions

    @classmethod
    def build(cls, policy: ActorCriticPolicy) -> WindowNetwork | None:
        """The mirror of ``policy``, or None when it has anything this module does not do.

        Supported: a discrete action space, float32 parameters on the CPU,
        :class:`policies.extractors.LearnaExtractor` without LSTM (shared or separate for
        the critic), fully connected layers with tanh or ReLU, linear heads and an Adam
        optimizer without weight decay, AMSGrad or ``maximize``.
        """
        if not ENABLED:
            return None
        try:
            return cls._build(policy)
        except _Unsupported:
            return None

    @classmethod
    def _build(cls, policy: ActorCriticPolicy) -> WindowNetwork:
        if not isinstance(policy.action_space, spaces.Discrete):
            raise _Unsupported
        optimizer = getattr(policy, "optimizer", None)
        if not isinstance(optimizer, torch.optim.Adam) or len(optimizer.param_groups) != 1:
            raise _Unsupported
        group = optimizer.param_groups[0]
        if group.get("weight_decay") or group.get("amsgrad") or group.get("maximize"):
            raise _Unsupported
        params = list(group["params"])
        for param in params:
            if param.device.type != "cpu" or param.dtype != torch.float32:
                raise _Unsupported
        if {id(p) for p in params} != {id(p) for p in policy.parameters()}:
            raise _Unsupported
        index = {id(p): i for i, p in enumerate(params)}
        pi_tower = _tower(policy.pi_features_extractor, index)
        vf_tower = None
        if policy.vf_features_extractor is not policy.pi_features_extractor:
            vf_tower = _tower(policy.vf_features_extractor, index)
        pi_net = _dense(list(policy.mlp_extractor.policy_net) + [policy.action_net], index)
        vf_net = _dense(list(policy.mlp_extractor.value_net) + [policy.value_net], index)
        shapes = [tuple(p.shape) for p in params]
        return cls(pi_tower, vf_tower, pi_net, vf_net, shapes, int(policy.action_space.n))

    @staticmethod
    def parameters_of(policy: ActorCriticPolicy) -> list[np.ndarray]:
        """Views (numpy) of ``policy``'s parameters, in its optimizer's order (no copy)."""
        return [p.detach().cpu().numpy() for p in policy.optimizer.param_groups[0]["params"]]

    def forward_windows(
        self,
        params: Sequence[np.ndarray],
        windows: Windows,
        rows: np.ndarray,
        subset: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, Any]:
        """Logits and values of ``windows.observations[rows]``, and the backward cache.

        Args:
            params: The parameters.
            windows: Distinct windows (:meth:`Windows.of`).
            rows: Per sample, the index of its window.
            subset: The windows to compute (every one of ``rows`` must be among them);
                None: all of them.
        """
        if subset is not None:
            position = np.full(len(windows.observations), -1)
            position[subset] = np.arange(len(subset))
            rows = position[rows]
        pi_features, pi_cache = _tower_forward(self.pi_tower, params, windows, subset)
        vf_features, vf_cache = pi_features, None
        if self.vf_tower is not None:
            vf_features, vf_cache = _tower_forward(self.vf_tower, params, windows, subset)
        logits, pi_dense = _dense_forward(self.pi_net, params, pi_features)
        values, vf_dense = _dense_forward(self.vf_net, params, vf_features)
        cache = (rows, len(pi_features), pi_cache, vf_cache, pi_dense, vf_dense)
        return logits[rows], values[rows, 0], cache

    def backward(
        self,
        params: Sequence[np.ndarray],
        cache: Any,
        d_logits: np.ndarray,
        d_values: np.ndarray,
    ) -> list[np.ndarray]:
        """Gradients of a loss for every parameter, from its gradients for the outputs.

        Args:
            params: The parameters :meth:`forward_windows` ran with.
            cache: :meth:`forward_windows`' cache.
            d_logits: d loss / d logits, (N, actions).
            d_values: d loss / d values, (N,).

        Returns:
            One gradient per parameter, each of its parameter's shape.
        """
        rows, count, pi_cache, vf_cache, pi_dense, vf_dense = cache
        grads = [np.zeros(shape, np.float32) for shape in self.shapes]
        windows = _Segments.of(rows, count)  # the adjoint of gathering the windows' outputs
        d_logits_u = windows.sum(d_logits)
        d_values_u = windows.sum(d_values[:, None])
        d_pi = _dense_backward(self.pi_net, params, pi_dense, d_logits_u, grads)
        d_vf = _dense_backward(self.vf_net, params, vf_dense, d_values_u, grads)
        if self.vf_tower is None:
            _tower_backward(self.pi_tower, params, pi_cache, d_pi + d_vf, grads)
        else:
            _tower_backward(self.pi_tower, params, pi_cache, d_pi, grads)
            _tower_backward(self.vf_tower, params, vf_cache, d_vf, grads)
        return grads


class Windows:
    """Distinct observation windows, with what the first layer needs of them precomputed.

    The embedding and the first convolution are linear in the one-hot tokens, so they are
    computed as one convolution of the one-hot windows, whose im2col matrix does not
    depend on the parameters: it is built once per set of windows (a PPO update reuses it
    for every minibatch).
    """

    def __init__(self, observations: np.ndarray):
        self.observations = observations
        self._columns: dict[tuple[bool, int], np.ndarray] = {}
        self._fields: dict[tuple[bool, tuple[int, ...]], _Fields | None] = {}

    @classmethod
    def of(cls, observations: np.ndarray) -> tuple[Windows, np.ndarray]:
        """The distinct rows of ``observations`` and, per row, the index of its window."""
        unique, inverse = _unique_rows(observations)
        return cls(unique), inverse

    def columns(self, tokens: bool, kernel: int) -> np.ndarray:
        """im2col of the windows for a first convolution of ``kernel``, (D, W', X, K).

        With ``tokens`` the input is one-hot (X = 4 tokens); otherwise the binary
        encoding (X = 1). ``kernel`` 0: the input itself, (D, W, X).
        """
        key = (tokens, kernel)
        if key not in self._columns:
            if tokens:
                values = self.observations.astype(np.int64)[:, :, None] == np.arange(NUM_TOKENS)
                values = values.astype(np.float32)
            else:
                values = self.observations.astype(np.float32)[:, :, None]
            if kernel:
                values = np.ascontiguousarray(sliding_window_view(values, kernel, axis=1))
            self._columns[key] = values
        return self._columns[key]

    def fields(self, tokens: bool, kernels: tuple[int, ...]) -> _Fields | None:
        """The distinct receptive fields of convolutions of ``kernels`` over the windows.

        None when they repeat too little to be worth it (see :data:`SHARED_FIELDS`), or
        for a single window. Built once per set of windows and tower form.
        """
        key = (tokens, kernels)
        if key not in self._fields:
            self._fields[key] = _Fields.of(self, tokens, kernels)
        return self._fields[key]


@dataclass(frozen=True)
class _Segments:
    """The adjoint of a row gather ``x[index]``: gathered rows' gradients summed per row of x."""

    order: np.ndarray  # index sorted (argsort)
    starts: np.ndarray  # where each row's run begins in the sorted index
    rows: np.ndarray  # the row of each run
    count: int  # rows of x

    @classmethod
    def of(cls, index: np.ndarray, count: int) -> _Segments:
        """The adjoint of gathering the rows ``index`` (any shape) of an array of ``count`` rows."""
        flat = index.reshape(-1)
        order = np.argsort(flat, kind="stable")
        ordered = flat[order]
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        return cls(order, starts, ordered[starts], count)

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Rows of ``values`` (one per gathered row, in the index's order) summed per row of x."""
        out = np.zeros((self.count, *values.shape[1:]), values.dtype)
        out[self.rows] = np.add.reduceat(values[self.order], self.starts, axis=0)
        return out


@dataclass(frozen=True)
class _Fields:
    """A tower's convolutions computed once per distinct receptive field.

    The windows of one target are overlapping slices of its padded structure, and valid
    convolutions are translation-equivariant: an output position depends only on the
    tokens of its receptive field (``K_1`` tokens for the first convolution, ``K_1 + K_2
    - 1`` for the second, ...). So the windows of a rollout on one target (a design run's
    PPO update, ~100 windows of 65 tokens) share most of their fields, and computing each
    distinct field once instead of every window position gives the same outputs for a
    fraction of the work (the shipped network's convolutions: ~150 fields per layer
    instead of ~100 x 45 positions). Only the fully connected layers, which read whole
    windows, stay per window.
    """

    columns: np.ndarray  # (U_1, X K_1): the first convolution's im2col of its distinct fields
    children: tuple[np.ndarray, ...]  # convolution l >= 2: (U_l, K_l) its inputs' fields
    child_sums: tuple[_Segments, ...]  # the adjoints of those gathers
    last: np.ndarray  # (D, W_L): each window's output positions as fields of the last layer
    last_sum: _Segments

    @classmethod
    def of(cls, windows: Windows, tokens: bool, kernels: tuple[int, ...]) -> _Fields | None:
        """The plan for ``windows``, or None when too few fields repeat (or one window)."""
        observations = np.ascontiguousarray(windows.observations)
        count, width = observations.shape
        span = _receptive_field(kernels)  # the last convolution's
        if count < 2 or not kernels or span > width:
            return None
        last_first, last_ids = _distinct_rows(_slices(observations, span))
        if len(last_first) > SHARED_FIELDS * count * (width - span + 1):
            return None
        first_positions, ids = last_first, last_ids
        if kernels[0] != span:
            first_positions, ids = _distinct_rows(_slices(observations, kernels[0]))
        distinct = len(first_positions)
        columns = windows.columns(tokens, kernels[0])
        columns = columns.reshape(-1, columns.shape[2] * columns.shape[3])[first_positions]
        children, child_sums = [], []
        field = kernels[0]
        for kernel in kernels[1:]:
            field += kernel - 1
            if field == span:
                positions, next_ids = last_first, last_ids
            else:
                positions, next_ids = _distinct_rows(_slices(observations, field))
            ids = ids.reshape(count, -1)
            window, start = np.divmod(positions, width - field + 1)
            inputs = ids[window[:, None], start[:, None] + np.arange(kernel)]
            children.append(inputs)
            child_sums.append(_Segments.of(inputs, distinct))
            ids, distinct = next_ids, len(positions)
        last = ids.reshape(count, -1)
        return cls(
            np.ascontiguousarray(columns),
            tuple(children),
            tuple(child_sums),
            last,
            _Segments.of(last, len(last_first)),
        )


def _receptive_field(kernels: Sequence[int]) -> int:
    """Tokens one output position of valid convolutions of ``kernels``, stacked, reads."""
    return sum(kernels) - len(kernels) + 1


def _slices(observations: np.ndarray, width: int) -> np.ndarray:
    """Every slice of ``width`` consecutive tokens of every window, one per row."""
    slices = sliding_window_view(observations, width, axis=1)
    return np.ascontiguousarray(slices).reshape(-1, width)


def _distinct_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first occurrence of each distinct row of a 2-D array, and each row's distinct row."""
    rows = np.ascontiguousarray(rows)
    keys = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return first, inverse.ravel()


class _Unsupported(Exception):
    """The policy has a part :class:`WindowNetwork` does not compute."""


def _tower(extractor: nn.Module, index: dict[int, int]) -> _Tower:
    if type(extractor) is not LearnaExtractor or extractor.lstm is not None:
        raise _Unsupported
    embedding = None
    if extractor.embedding is not None:
        embedding = index[id(extractor.embedding.weight)]
        if extractor.embedding.weight.shape[0] != NUM_TOKENS:
            raise _Unsupported
    convs = []
    modules = list(extractor.convs)
    if len(modules) % 2:  # every convolution is followed by its ReLU
        raise _Unsupported
    for conv, relu in zip(modules[::2], modules[1::2], strict=True):
        if not (isinstance(conv, nn.Conv1d) and isinstance(relu, nn.ReLU)):
            raise _Unsupported
        if conv.stride != (1,) or conv.padding != (0,) or conv.dilation != (1,):
            raise _Unsupported
        if conv.groups != 1 or conv.bias is None or conv.padding_mode != "zeros":
            raise _Unsupported
        convs.append(_Conv(index[id(conv.weight)], index[id(conv.bias)], conv.kernel_size[0]))
    return _Tower(embedding, tuple(convs))


def _dense(modules: list[nn.Module], index: dict[int, int]) -> _Dense:
    layers: list[tuple[int, int, str | None]] = []
    for module in modules:
        if isinstance(module, nn.Linear) and module.bias is not None:
            layers.append((index[id(module.weight)], index[id(module.bias)], None))
        elif type(module) in (nn.Tanh, nn.ReLU) and layers and layers[-1][2] is None:
            name = "tanh" if isinstance(module, nn.Tanh) else "relu"
            layers[-1] = (*layers[-1][:2], name)
        else:
            raise _Unsupported
    if not layers or layers[-1][2] is not None:
        raise _Unsupported
    return _Dense(tuple(layers))


def _unique_rows(observations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of a 2-D array and, per row, the index of its distinct row."""
    rows = np.ascontiguousarray(observations)
    if len(rows) <= 1 or (rows == rows[0]).all():  # e.g. parallel episodes in step
        return rows[:1], np.zeros(len(rows), dtype=np.int64)
    first, inverse = _distinct_rows(rows)
    return rows[first], inverse


def _tower_forward(
    tower: _Tower, params: Sequence[np.ndarray], windows: Windows, subset: np.ndarray | None
) -> tuple[np.ndarray, Any]:
    tokens = tower.embedding is not None
    first = tower.convs[0] if tower.convs else None
    if first is not None and subset is None:
        fields = windows.fields(tokens, tuple(conv.kernel for conv in tower.convs))
        if fields is not None:
            return _fields_forward(tower, params, fields)
    columns = windows.columns(tokens, first.kernel if first else 0)
    if subset is not None:
        columns = columns[subset]
    count = len(columns)
    if first is None:  # no convolution: the (embedded) windows are the features
        hidden = columns @ params[tower.embedding] if tokens else columns
        features = hidden.transpose(0, 2, 1).reshape(count, -1)
        return features, (columns, [], hidden.shape)
    out_width = columns.shape[1]
    columns = columns.reshape(count * out_width, -1)
    hidden = columns @ _first_weight(tower, params).T
    hidden += params[first.bias]
    np.maximum(hidden, 0.0, out=hidden)
    layers = [(columns, hidden, 0)]
    hidden = hidden.reshape(count, out_width, -1)
    for conv in tower.convs[1:]:
        # All kernel taps in one product, P[n, t, o, k] = sum_c h[n, t, c] W[o, c, k]; then
        # out[n, t, o] = sum_k P[n, t + k, o, k] (cheaper here than an im2col copy).
        width, channels = hidden.shape[1:]
        out_width = width - conv.kernel + 1
        inputs = hidden.reshape(count * width, channels)
        taps = inputs @ _taps(params[conv.weight])
        taps = taps.reshape(count, width, -1, conv.kernel)
        out = taps[:, :out_width, :, 0].copy()
        for shift in range(1, conv.kernel):
            out += taps[:, shift : shift + out_width, :, shift]
        out += params[conv.bias]
        np.maximum(out, 0.0, out=out)
        layers.append((inputs, out, width))
        hidden = out
    # torch flattens (N, C, W'): channel-major
    features = hidden.transpose(0, 2, 1).reshape(count, -1)
    return features, (None, layers, hidden.shape)


def _taps(weight: np.ndarray) -> np.ndarray:
    """A (C_out, C_in, K) convolution weight as (C_in, C_out K): every tap in one product."""
    return weight.transpose(1, 0, 2).reshape(weight.shape[1], -1)


def _first_weight(tower: _Tower, params: Sequence[np.ndarray]) -> np.ndarray:
    """The first convolution's weight over its im2col columns, (C_out, X K).

    With an embedding: the embedding folded into the convolution over one-hot tokens,
    ``W'[o, t, k] = sum_c W[o, c, k] E[t, c]``.
    """
    weight = params[tower.convs[0].weight]  # (C_out, C_in, K)
    if tower.embedding is None:
        return weight.reshape(len(weight), -1)
    return np.einsum("ock,tc->otk", weight, params[tower.embedding]).reshape(len(weight), -1)


def _tower_backward(
    tower: _Tower,
    params: Sequence[np.ndarray],
    cache: Any,
    d_features: np.ndarray,
    grads: list[np.ndarray],
) -> None:
    if isinstance(cache[0], _Fields):
        _fields_backward(tower, params, cache, d_features, grads)
        return
    inputs, layers, shape = cache
    count, out_width, channels = shape
    d_hidden = d_features.reshape(count, channels, out_width).transpose(0, 2, 1)
    if not tower.convs:
        if tower.embedding is not None:
            size = d_hidden.shape[2]
            flat = inputs.reshape(-1, NUM_TOKENS)
            grads[tower.embedding] += flat.T @ d_hidden.reshape(-1, size)
        return
    for position in range(len(tower.convs) - 1, 0, -1):
        conv = tower.convs[position]
        inputs, out, width = layers[position]
        d_out = d_hidden * (out > 0)  # (N, W', C_out)
        grads[conv.bias] += d_out.sum(axis=(0, 1))
        d_taps = np.zeros((count, width, d_out.shape[2], conv.kernel), np.float32)
        for shift in range(conv.kernel):
            d_taps[:, shift : shift + out_width, :, shift] = d_out
        d_taps = d_taps.reshape(count * width, -1)
        weight = params[conv.weight]
        d_stack = (inputs.T @ d_taps).reshape(weight.shape[1], *weight.shape[::2])
        grads[conv.weight] += d_stack.transpose(1, 0, 2)  # (C_in, C_out, K) -> (C_out, C_in, K)
        d_hidden = (d_taps @ _taps(weight).T).reshape(count, width, -1)
        out_width = width
    columns, out, _ = layers[0]
    _first_backward(tower, params, columns, d_hidden.reshape(out.shape) * (out > 0), grads)


def _first_backward(
    tower: _Tower,
    params: Sequence[np.ndarray],
    columns: np.ndarray,
    d_out: np.ndarray,
    grads: list[np.ndarray],
) -> None:
    """Gradients of the first convolution (and embedding) from its pre-ReLU gradients."""
    first = tower.convs[0]
    grads[first.bias] += d_out.sum(axis=0)
    d_first = d_out.T @ columns  # (C_out, X K)
    if tower.embedding is None:
        grads[first.weight] += d_first.reshape(grads[first.weight].shape)
        return
    weight = params[first.weight]
    d_first = d_first.reshape(len(weight), NUM_TOKENS, -1)  # (C_out, tokens, K)
    grads[first.weight] += np.einsum("otk,tc->ock", d_first, params[tower.embedding])
    grads[tower.embedding] += np.einsum("otk,ock->tc", d_first, weight)


def _fields_forward(
    tower: _Tower, params: Sequence[np.ndarray], fields: _Fields
) -> tuple[np.ndarray, Any]:
    """:func:`_tower_forward` over the distinct receptive fields (see :class:`_Fields`)."""
    first = tower.convs[0]
    hidden = fields.columns @ _first_weight(tower, params).T
    hidden += params[first.bias]
    np.maximum(hidden, 0.0, out=hidden)
    layers = [(fields.columns, hidden)]
    for conv, children in zip(tower.convs[1:], fields.children, strict=True):
        inputs = hidden[children].reshape(len(children), -1)  # (U_l, K C_in), tap-major
        out = inputs @ _stacked(params[conv.weight])
        out += params[conv.bias]
        np.maximum(out, 0.0, out=out)
        layers.append((inputs, out))
        hidden = out
    count, width = fields.last.shape
    features = hidden[fields.last].transpose(0, 2, 1).reshape(count, -1)  # channel-major
    return features, (fields, layers, (count, width, hidden.shape[1]))


def _fields_backward(
    tower: _Tower,
    params: Sequence[np.ndarray],
    cache: Any,
    d_features: np.ndarray,
    grads: list[np.ndarray],
) -> None:
    """:func:`_tower_backward` for :func:`_fields_forward`'s cache."""
    fields, layers, (count, width, channels) = cache
    d_windows = d_features.reshape(count, channels, width).transpose(0, 2, 1)
    d_hidden = fields.last_sum.sum(d_windows.reshape(-1, channels))  # (U_L, C)
    for position in range(len(tower.convs) - 1, 0, -1):
        conv = tower.convs[position]
        inputs, out = layers[position]
        d_out = d_hidden * (out > 0)
        grads[conv.bias] += d_out.sum(axis=0)
        weight = params[conv.weight]  # (C_out, C_in, K)
        d_stacked = inputs.T @ d_out  # (K C_in, C_out)
        grads[conv.weight] += d_stacked.reshape(weight.shape[2], weight.shape[1], -1).transpose(
            2, 1, 0
        )
        d_inputs = d_out @ _stacked(weight).T  # (U_l, K C_in)
        d_hidden = fields.child_sums[position - 1].sum(d_inputs.reshape(-1, weight.shape[1]))
    columns, out = layers[0]
    _first_backward(tower, params, columns, d_hidden * (out > 0), grads)


def _stacked(weight: np.ndarray) -> np.ndarray:
    """A (C_out, C_in, K) convolution weight as (K C_in, C_out), for tap-major inputs."""
    return weight.transpose(2, 1, 0).reshape(-1, weight.shape[0])


def _dense_forward(
    dense: _Dense, params: Sequence[np.ndarray], inputs: np.ndarray
) -> tuple[np.ndarray, list[np.ndarray]]:
    activations = [inputs]
    hidden = inputs
    for weight, bias, activation in dense.layers:
        hidden = hidden @ params[weight].T
        hidden += params[bias]
        if activation == "tanh":
            np.tanh(hidden, out=hidden)
        elif activation == "relu":
            np.maximum(hidden, 0.0, out=hidden)
        activations.append(hidden)
    return hidden, activations


def _dense_backward(
    dense: _Dense,
    params: Sequence[np.ndarray],
    activations: list[np.ndarray],
    d_output: np.ndarray,
    grads: list[np.ndarray],
) -> np.ndarray:
    d_hidden = d_output
    for position in range(len(dense.layers) - 1, -1, -1):
        weight, bias, activation = dense.layers[position]
        out = activations[position + 1]
        if activation == "tanh":
            d_hidden = d_hidden * (1.0 - out * out)
        elif activation == "relu":
            d_hidden = d_hidden * (out > 0)
        grads[weight] += d_hidden.T @ activations[position]
        grads[bias] += d_hidden.sum(axis=0)
        d_hidden = d_hidden @ params[weight]
    return d_hidden


def _pointers(tensors: Sequence[torch.Tensor]) -> tuple[int, ...]:
    return tuple(tensor.data_ptr() for tensor in tensors)


def log_softmax(logits: np.ndarray, masks: np.ndarray | None) -> np.ndarray:
    """Normalized log-probabilities, masked actions at sb3-contrib's -1e8 logit."""
    if masks is not None:
        logits = np.where(masks, logits, MASKED_LOGIT)
    top = logits.max(axis=1, keepdims=True)
    shifted = logits - top
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


class _NumpySampling:
    """Sampling through :class:`WindowNetwork` for SB3's actor-critic policies (a mixin)."""

    _window_cache: tuple[Any, tuple[Any, bool], WindowNetwork | None, list[np.ndarray]]
    _window_table: _WindowTable | None = None

    def window_network(self) -> tuple[WindowNetwork, list[np.ndarray]] | None:
        """The mirror and the parameters' views, or None (torch samples: see the module)."""
        if torch.is_grad_enabled():
            return None
        tensors = self.optimizer.param_groups[0]["params"]  # type: ignore[attr-defined]
        cached = getattr(self, "_window_cache", None)
        key = (_pointers(tensors), ENABLED)
        if cached is None or cached[0] is not tensors or cached[1] != key:
            network = WindowNetwork.build(self)  # type: ignore[arg-type]
            views = WindowNetwork.parameters_of(self) if network else []  # type: ignore[arg-type]
            cached = (tensors, key, network, views)
            self._window_cache = cached
        if cached[2] is None:
            return None
        return cached[2], cached[3]

    def _numpy_act(
        self, obs: torch.Tensor, deterministic: bool, action_masks: Any
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
        mirror = self.window_network()
        if mirror is None or not isinstance(obs, torch.Tensor):
            return None
        network, params = mirror
        observations = obs.detach().reshape(len(obs), -1).cpu().numpy()
        tensors = self.optimizer.param_groups[0]["params"]  # type: ignore[attr-defined]
        version = tuple(tensor._version for tensor in tensors)
        if self._window_table is None or self._window_table.version != version:
            self._window_table = _WindowTable(network, params, version, self._window_table)
        logits, values = self._window_table.lookup(observations)
        masks = None
        if action_masks is not None:
            masks = np.asarray(action_masks, dtype=bool).reshape(logits.shape)
        log_probs = log_softmax(logits, masks)
        if deterministic:
            actions = torch.from_numpy(log_probs.argmax(axis=1))
        else:
            probs = torch.from_numpy(np.exp(log_probs))
            actions = torch.multinomial(probs, 1, True).reshape(-1)
        chosen = log_probs[np.arange(len(log_probs)), actions.cpu().numpy()]
        return actions, torch.from_numpy(values[:, None]), torch.from_numpy(chosen)


class _WindowTable:
    """Logits and values of the windows met, for one version of the parameters.

    Sampling meets one new window per step (all parallel episodes on a target are at the
    same site), so computing them one at a time costs a forward pass per step. A new
    table (after an update) computes the previous table's windows in one batch first: on
    one target those are the windows the next rollout meets. ``version`` is the
    parameters' torch version counters, which every in-place change (an optimizer step,
    ``load_state_dict``, this module's update) advances.
    """

    #: Windows carried over to a new table at most (meta-training meets many targets).
    CARRY = 1024

    def __init__(
        self,
        network: WindowNetwork,
        params: list[np.ndarray],
        version: tuple[int, ...],
        previous: _WindowTable | None,
    ):
        self.network, self.params, self.version = network, params, version
        self.rows: dict[bytes, int] = {}
        self.logits = np.empty((0, network.num_actions), np.float32)
        self.values = np.empty(0, np.float32)
        self.windows: np.ndarray | None = None  # the rows of ``logits``, in order
        #: The towers' outputs per receptive field (None: the network has no such form).
        self.fields = _FieldTable.of(network, params)
        carried = previous.windows if previous is not None else None
        if carried is not None and len(carried) <= self.CARRY:
            self._add(carried)

    def lookup(self, observations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Logits (N, actions) and values (N,) of ``observations``' windows."""
        unique, inverse = _unique_rows(observations)
        keys = [row.tobytes() for row in unique]
        missing = [i for i, key in enumerate(keys) if key not in self.rows]
        if missing:
            self._add(unique[missing])
        index = np.array([self.rows[key] for key in keys])[inverse]
        return self.logits[index], self.values[index]

    def _add(self, windows: np.ndarray) -> None:
        """Compute distinct windows, none of them in the table yet."""
        if self.fields is not None:
            logits, values = self.fields.forward(windows)
        else:
            everyone = np.arange(len(windows))
            logits, values, _ = self.network.forward_windows(
                self.params, Windows(windows), everyone
            )
        base = len(self.logits)
        for offset, row in enumerate(windows):
            self.rows[row.tobytes()] = base + offset
        self.logits = np.concatenate([self.logits, logits])
        self.values = np.concatenate([self.values, values])
        self.windows = windows if self.windows is None else np.concatenate([self.windows, windows])


#: ``4 ** k``: a receptive field of tokens (each < 4) is one base-4 number, exact in int64
#: up to 31 tokens.
_POWERS = NUM_TOKENS ** np.arange(31, dtype=np.int64)


def _towers(network: WindowNetwork) -> list[_Tower]:
    """The actor's tower, then the critic's if it has its own."""
    return [network.pi_tower] if network.vf_tower is None else [network.pi_tower, network.vf_tower]


class _FieldTable:
    """Each tower's last-layer outputs per receptive field, for one version of the parameters.

    In meta-training the parallel episodes are on different targets, so a sampling step
    meets as many new windows as episodes and they share few receptive fields
    (:meth:`Windows.fields` then computes every position of every window). But the window
    of an episode's next step shares all but one or two fields with its window of this
    step: this table keeps every field's output (a field of ``span`` tokens is one int64,
    its base-4 number) and computes only the fields it has not met. The outputs are those
    of :func:`_tower_forward` on each field as a window of its own (valid convolutions:
    one output position), up to float rounding.
    """

    def __init__(
        self,
        network: WindowNetwork,
        params: Sequence[np.ndarray],
        towers: list[tuple[_Tower, int]],
    ):
        self.network, self.params = network, params
        self.towers = towers  # each tower with its receptive field's width in tokens
        self.keys = [np.empty(0, np.int64) for _ in towers]  # sorted field numbers
        self.outputs: list[np.ndarray | None] = [None for _ in towers]

    @classmethod
    def of(cls, network: WindowNetwork, params: Sequence[np.ndarray]) -> _FieldTable | None:
        """The table, or None when a tower has no embedding or convolution, or too wide a field."""
        towers = []
        for tower in _towers(network):
            if tower.embedding is None or not tower.convs:
                return None
            span = _receptive_field([conv.kernel for conv in tower.convs])
            if span > len(_POWERS):
                return None
            towers.append((tower, span))
        return cls(network, params, towers)

    def forward(self, observations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Logits (N, actions) and values (N,) of token windows (N, W)."""
        tokens = np.asarray(observations).astype(np.int64)
        features = [self._features(index, tokens) for index in range(len(self.towers))]
        logits, _ = _dense_forward(self.network.pi_net, self.params, features[0])
        values, _ = _dense_forward(self.network.vf_net, self.params, features[-1])
        return logits, values[:, 0]

    def _features(self, index: int, tokens: np.ndarray) -> np.ndarray:
        """The tower's features (N, C W'), channel-major as torch flattens them."""
        tower, span = self.towers[index]
        count, width = tokens.shape
        if width < span:  # no output position: let the window path say what is wrong
            features, _ = _tower_forward(tower, self.params, Windows(tokens), None)
            return features
        numbers = sliding_window_view(tokens, span, axis=1) @ _POWERS[:span]  # (N, W')
        unique, inverse = np.unique(numbers, return_inverse=True)
        keys = self.keys[index]
        where = np.searchsorted(keys, unique)
        known = where < len(keys)
        known[known] = keys[where[known]] == unique[known]
        if not known.all():
            missing = unique[~known]
            fields = (missing[:, None] // _POWERS[:span]) % NUM_TOKENS
            computed, _ = _tower_forward(tower, self.params, Windows(fields), None)
            stored = self.outputs[index]
            outputs = computed if stored is None else np.concatenate([stored, computed])
            keys = np.concatenate([keys, missing])
            order = np.argsort(keys, kind="stable")
            self.keys[index], self.outputs[index] = keys[order], outputs[order]
            keys = self.keys[index]
            where = np.searchsorted(keys, unique)
        outputs = self.outputs[index]
        assert outputs is not None
        per_field = outputs[where][inverse.reshape(numbers.shape)]  # (N, W', C)
        return per_field.transpose(0, 2, 1).reshape(count, -1)


class WindowPolicy(_NumpySampling, ActorCriticPolicy):
    """SB3's ``ActorCriticPolicy`` that samples through :class:`WindowNetwork`."""

    def forward(
        self, obs: torch.Tensor, deterministic: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Actions, values and log-probabilities (numpy under ``torch.no_grad``)."""
        outputs = self._numpy_act(obs, deterministic, None)
        return outputs if outputs is not None else super().forward(obs, deterministic)

    def _predict(self, observation: Any, deterministic: bool = False) -> torch.Tensor:
        outputs = self._numpy_act(observation, deterministic, None)
        if outputs is None:
            return super()._predict(observation, deterministic)
        return outputs[0]


class MaskableWindowPolicy(_NumpySampling, MaskableActorCriticPolicy):
    """sb3-contrib's ``MaskableActorCriticPolicy`` that samples through :class:`WindowNetwork`."""

    def forward(
        self,
        obs: torch.Tensor,
        deterministic: bool = False,
        action_masks: np.ndarray | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Actions, values and log-probabilities (numpy under ``torch.no_grad``)."""
        outputs = self._numpy_act(obs, deterministic, action_masks)
        if outputs is None:
            return super().forward(obs, deterministic, action_masks)
        return outputs

    def _predict(  # type: ignore[override]
        self,
        observation: Any,
        deterministic: bool = False,
        action_masks: np.ndarray | None = None,
    ) -> torch.Tensor:
        outputs = self._numpy_act(observation, deterministic, action_masks)
        if outputs is None:
            return super()._predict(observation, deterministic, action_masks)
        return outputs[0]
