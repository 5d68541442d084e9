"""The child networks of neural architecture search as a decision process (Zoph & Le 2017).

An :class:`envs.nas_space.Architecture` becomes a CNN (:func:`build_child`): layer ``i`` is a
convolution (``Conv1d`` for 1-D data, ``Conv2d`` for 2-D) with the layer's kernel, filters
and stride, followed by BatchNorm and ReLU. A layer reads the data when it has no inputs;
otherwise it reads its input layers' outputs, each zero-padded at the end of every spatial
dimension to the largest size among them (Zoph & Le pad to a common size) and concatenated
along channels. The classifier reads the layers no later layer reads
(:meth:`Architecture.outputs`), padded and concatenated the same way, flattened, through one
linear layer. An architecture that cannot be built (a kernel with the wrong number of
entries, a spatial size that shrinks below 1, too many parameters) raises
:class:`InvalidArchitecture`, whose message is the reason.

:func:`train_child` trains a child with a :class:`ChildRecipe` (Adam, cross-entropy,
``epochs`` passes: the fidelity) and reports its validation accuracy; it never raises for an
unbuildable architecture (it reports the reason instead). :class:`ChildEvaluator` is the
picklable evaluator of :class:`envs.deferred.DeferredRewardVecEnv`: reward = validation
accuracy ** ``power``.

Datasets (:data:`DATASETS`; :func:`load_dataset`), generated or shipped locally, never
downloaded:

- ``mnist1d``: MNIST-1D (Greydanus 2020) from ``mnist1d.data.make_dataset`` with its default
  arguments (seed 42; 4000 training and 1000 test signals of 40 samples); 20 % of the training
  signals (800) form the validation split. Shape ``(N, 1, 40)``.
- ``digits``: scikit-learn's 1797 8x8 digits scaled to [0, 1]; 20 % (360) form the test
  split, 20 % of the rest (288) the validation split. Shape ``(N, 1, 8, 8)``.

Splits come from fixed permutations (``numpy.random.default_rng(0)``); a split of ``n``
samples takes ``ceil(0.2 n)``. The search sees validation accuracies only: the test split is
for the final report (``train_child(..., test=True)``) and is evaluated only then.

Training is deterministic for a given seed on the CPU (the seed fixes the initial weights and
the minibatch order; the caller's torch random state is left as it was). On CUDA it may not
be bit-exact.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import random
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from envs.nas_space import Architecture, Layer

#: The datasets children train on.
DATASETS: tuple[str, ...] = ("mnist1d", "digits")
_DIMS = {"mnist1d": 1, "digits": 2}
#: Paddings of the convolutions: ``same`` (``kernel // 2``) or ``valid`` (none).
#: Learning-rate schedules of :class:`ChildRecipe`.
SCHEDULES = ("constant", "cosine")
PADDINGS = ("same", "valid")
#: The share of a set that becomes a held-out split (validation or test).
_HELD_OUT = 0.2
_EVAL_BATCH = 1024
_DEVICE = re.compile(r"^(auto|cpu|cuda)(?::(\d+))?$")


def dataset_dims(name: str) -> int:
    """The number of spatial dimensions of a dataset (1 or 2), without loading it.

    Raises:
        ValueError: an unknown dataset (the message lists :data:`DATASETS`).
    """
    if not isinstance(name, str) or name not in _DIMS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {list(DATASETS)}")
    return _DIMS[name]


@dataclass(frozen=True)
class Splits:
    """A dataset's training, validation and test splits (read-only arrays).

    Attributes:
        name: The dataset (one of :data:`DATASETS`).
        x_train: Training inputs, float32 ``(N, channels, *spatial)``.
        y_train: Training labels, int64 ``(N,)``.
        x_val: Validation inputs (what the search sees).
        y_val: Validation labels.
        x_test: Test inputs (for the final report only).
        y_test: Test labels.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def input_shape(self) -> tuple[int, ...]:
        """``(channels, *spatial)`` of one sample, e.g. ``(1, 40)`` or ``(1, 8, 8)``."""
        return tuple(int(n) for n in self.x_train.shape[1:])

    @property
    def n_classes(self) -> int:
        """The number of classes (labels are ``0 .. n_classes - 1``)."""
        return int(max(self.y_train.max(), self.y_val.max(), self.y_test.max())) + 1


@functools.lru_cache(maxsize=len(DATASETS))
def load_dataset(name: str) -> Splits:
    """The splits of a dataset, made once per process (see the module docstring).

    Raises:
        ValueError: an unknown dataset.
    """
    dataset_dims(name)
    if name == "mnist1d":
        x, y, x_test, y_test = _mnist1d()
        val, train = _split(len(y), np.random.default_rng(0))
    else:
        x_all, y_all = _digits()
        test, rest = _split(len(y_all), np.random.default_rng(0))
        x_test, y_test, x, y = x_all[test], y_all[test], x_all[rest], y_all[rest]
        val, train = _split(len(y), np.random.default_rng(0))
    arrays = (x[train], y[train], x[val], y[val], x_test, y_test)
    for array in arrays:
        array.flags.writeable = False
    return Splits(name, *arrays)


def _split(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a held-out ``ceil(0.2 n)`` samples and of the rest, from a permutation."""
    order = rng.permutation(n)
    held_out = math.ceil(_HELD_OUT * n)
    return order[:held_out], order[held_out:]


def _mnist1d() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MNIST-1D's default train and test sets, generated locally; global RNGs restored."""
    from mnist1d.data import get_dataset_args, make_dataset

    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        data = make_dataset(get_dataset_args())  # seeds the global RNGs itself
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)

    def inputs(x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float32)[:, None, :].copy()

    def labels(y: np.ndarray) -> np.ndarray:
        return np.asarray(y, dtype=np.int64)

    return inputs(data["x"]), labels(data["y"]), inputs(data["x_test"]), labels(data["y_test"])


def _digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits (shipped with it), scaled from 0..16 to [0, 1]."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    return x, digits.target.astype(np.int64)


class InvalidArchitecture(ValueError):
    """An architecture that cannot be built; the message is the reason (naming the layer).

    Attributes:
        parameters: The parameter count when it is known (too many parameters), else 0.
    """

    def __init__(self, reason: str, parameters: int = 0) -> None:
        super().__init__(reason)
        self.parameters = parameters

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (str(self), self.parameters)


def _pad_concat(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """Zero-pad each tensor at the end of every spatial dim to the largest size; concat."""
    if len(tensors) == 1:
        return tensors[0]
    spatial = tensors[0].dim() - 2
    target = [max(t.shape[2 + d] for t in tensors) for d in range(spatial)]
    padded = []
    for tensor in tensors:
        pad: list[int] = []
        for d in reversed(range(spatial)):  # F.pad lists the last dimension first
            pad += [0, target[d] - tensor.shape[2 + d]]
        padded.append(F.pad(tensor, pad) if any(pad) else tensor)
    return torch.cat(padded, dim=1)


class ChildNetwork(nn.Module):
    """A child CNN (see the module docstring); made by :func:`build_child`.

    Attributes:
        layers: One ``Sequential(conv, BatchNorm, ReLU)`` per architecture layer.
        sources: Per layer, the layers it reads (empty: the data).
        outputs: The layers the classifier reads.
        classifier: The final linear layer.
    """

    def __init__(
        self,
        architecture: Architecture,
        input_shape: tuple[int, ...],
        n_classes: int,
        in_channels: Sequence[int],
        padding: str,
    ) -> None:
        super().__init__()
        one_d = len(input_shape) == 2
        conv, norm = (nn.Conv1d, nn.BatchNorm1d) if one_d else (nn.Conv2d, nn.BatchNorm2d)
        self.layers = nn.ModuleList()
        for layer, channels in zip(architecture.layers, in_channels):
            pad = tuple(k // 2 for k in layer.kernel) if padding == "same" else 0
            self.layers.append(
                nn.Sequential(
                    conv(channels, layer.filters, layer.kernel, stride=layer.stride, padding=pad),
                    norm(layer.filters),
                    nn.ReLU(),
                )
            )
        self.sources = tuple(layer.inputs for layer in architecture.layers)
        self.outputs = architecture.outputs()
        with torch.no_grad():  # the classifier's width from one forward pass
            self.eval()
            features = self.features(torch.zeros(1, *input_shape)).flatten(1).shape[1]
            self.train()
        self.classifier = nn.Linear(features, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The padded, concatenated outputs the classifier reads (not flattened)."""
        outs: list[torch.Tensor] = []
        for layer, sources in zip(self.layers, self.sources):
            outs.append(layer(_pad_concat([outs[j] for j in sources]) if sources else x))
        return _pad_concat([outs[i] for i in self.outputs])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``(batch, n_classes)`` of a batch ``(batch, channels, *spatial)``."""
        return self.classifier(self.features(x).flatten(1))


def _size(sizes: Sequence[int]) -> str:
    return "x".join(str(int(s)) for s in sizes)


def _check_layer(index: int, layer: Layer, dims: int) -> None:
    """Refuse a malformed layer or a kernel with the wrong number of entries."""
    where = f"layer {index}"
    if min(layer.kernel, default=0) < 1 or layer.filters < 1 or layer.stride < 1:
        raise InvalidArchitecture(f"{where}: kernel, filters and stride must be positive")
    if any(not 0 <= j < index for j in layer.inputs):
        raise InvalidArchitecture(f"{where}: inputs {list(layer.inputs)} are not all earlier")
    if len(layer.kernel) != dims:
        raise InvalidArchitecture(
            f"{where}: kernel {_size(layer.kernel)} has {len(layer.kernel)} entries but the "
            f"data has {dims} spatial dimension(s)"
        )


def _plan(architecture: Architecture, input_shape: tuple[int, ...], padding: str) -> list[int]:
    """Each layer's input channels; checks kernels and spatial sizes by hand.

    Raises:
        InvalidArchitecture: a malformed layer, a kernel with the wrong number of entries,
            or a spatial size below 1.
    """
    if not architecture.layers:
        raise InvalidArchitecture("the architecture has no layers")
    dims = len(input_shape) - 1
    channels: list[int] = []  # output channels per layer
    shapes: list[tuple[int, ...]] = []  # output spatial sizes per layer
    in_channels: list[int] = []
    for index, layer in enumerate(architecture.layers):
        _check_layer(index, layer, dims)
        if layer.inputs:
            size = tuple(max(shapes[j][d] for j in layer.inputs) for d in range(dims))
            in_channels.append(sum(channels[j] for j in layer.inputs))
        else:
            size = tuple(input_shape[1:])
            in_channels.append(input_shape[0])
        kernel = layer.kernel
        pads = [k // 2 if padding == "same" else 0 for k in kernel]
        out = tuple(
            max(0, (n + 2 * p - k) // layer.stride + 1) for n, p, k in zip(size, pads, kernel)
        )
        if min(out) < 1:
            raise InvalidArchitecture(
                f"layer {index}: spatial size {_size(out)} after kernel {_size(layer.kernel)}, "
                f"stride {layer.stride} (input {_size(size)})"
            )
        channels.append(layer.filters)
        shapes.append(out)
    return in_channels


def build_child(
    architecture: Architecture,
    input_shape: tuple[int, ...],
    n_classes: int,
    *,
    padding: str = "same",
    max_params: int | None = None,
) -> ChildNetwork:
    """The child CNN of an architecture (see the module docstring), in training mode.

    Args:
        architecture: The layers.
        input_shape: ``(channels, *spatial)`` with one or two spatial dimensions.
        n_classes: The classifier's outputs (>= 1).
        padding: ``same`` (``kernel // 2`` per dimension) or ``valid`` (none).
        max_params: The most parameters a child may have; None: no limit.

    Raises:
        InvalidArchitecture: the architecture cannot be built (the message says why).
        ValueError: a bad ``input_shape``, ``n_classes``, ``padding`` or ``max_params``.
    """
    shape = tuple(input_shape)
    if len(shape) not in (2, 3) or any(int(n) != n or n < 1 for n in shape):
        raise ValueError(
            f"input_shape must be (channels, width) or (channels, height, width) of positive "
            f"integers, got {input_shape!r}"
        )
    if n_classes < 1:
        raise ValueError(f"n_classes must be >= 1, got {n_classes!r}")
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {list(PADDINGS)}, got {padding!r}")
    if max_params is not None and max_params < 1:
        raise ValueError(f"max_params must be None or >= 1, got {max_params!r}")
    shape = tuple(int(n) for n in shape)
    in_channels = _plan(architecture, shape, padding)
    model = ChildNetwork(architecture, shape, int(n_classes), in_channels, padding)
    count = sum(p.numel() for p in model.parameters())
    if max_params is not None and count > max_params:
        raise InvalidArchitecture(
            f"architecture: {count} parameters exceed max_params {max_params}", parameters=count
        )
    return model


def _real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


@dataclass(frozen=True)
class ChildRecipe:
    """How a child is trained.

    Attributes:
        epochs: Passes over the training split (the fidelity). The default, 3, is the
            search's: ~3 s per child of the default space on one core of the development
            machine, so 300 evaluations on 2 workers take about 8 minutes.
        batch_size: Minibatch size.
        learning_rate: Adam's learning rate (3e-3: after 3 epochs it ranks children
            closer to their 5-epoch accuracy at 1e-3 than 1e-3 does; see the README).
        weight_decay: Adam's weight decay (L2).
        seed: Seeds the initial weights and the minibatch order.
        padding: ``same`` or ``valid`` convolutions.
        max_params: Children with more parameters are invalid; None: no limit.
        device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (CUDA when torch sees it).
        threads: Torch CPU threads while training.
        schedule: The learning rate over the training: ``constant`` (the search's) or
            ``cosine`` (annealed to 0 over all minibatches: the final retraining's, which
            with a constant 3e-3 diverged for 1 of 10 best children over 50 epochs).

    Raises:
        ValueError: a value out of range or a misspelled device (the message names it).
    """

    epochs: int = 3
    batch_size: int = 128
    learning_rate: float = 3e-3
    weight_decay: float = 0.0
    seed: int = 0
    padding: str = "same"
    max_params: int | None = None
    device: str = "cpu"
    threads: int = 1
    schedule: str = "constant"

    def __post_init__(self) -> None:
        _check_int("epochs", self.epochs, 1)
        _check_int("batch_size", self.batch_size, 1)
        _check_int("seed", self.seed, 0)
        _check_int("threads", self.threads, 1)
        if self.max_params is not None:
            _check_int("max_params", self.max_params, 1)
        if not (_real(self.learning_rate) and 0 < self.learning_rate < math.inf):
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        if not (_real(self.weight_decay) and 0 <= self.weight_decay < math.inf):
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {list(SCHEDULES)}, got {self.schedule!r}")
        if self.padding not in PADDINGS:
            raise ValueError(f"padding must be one of {list(PADDINGS)}, got {self.padding!r}")
        device = str(self.device).strip().lower()
        match = _DEVICE.match(device)
        if match is None or (match.group(2) is not None and match.group(1) != "cuda"):
            raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        object.__setattr__(self, "device", device)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (``ChildRecipe(**recipe.to_dict())`` gives it back)."""
        return dataclasses.asdict(self)

    def identity(self) -> dict[str, Any]:
        """The fields that decide a child's result: not the device or threads.

        A constant schedule (the default) is left out, so identities recorded before the
        field existed (cache keys, resumed runs) stay the same.
        """
        fields = {k: v for k, v in self.to_dict().items() if k not in ("device", "threads")}
        if fields["schedule"] == "constant":
            del fields["schedule"]
        return fields


def _resolve_device(spec: str) -> torch.device:
    """``auto`` -> ``cuda`` when available else ``cpu``; refuses CUDA where there is none."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(spec)
    if device.type == "cuda":
        available = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (device.index or 0) >= available:
            raise ValueError(f"device {spec!r}: torch sees {available} CUDA device(s) here")
    return device


def fit_child(model: nn.Module, x: torch.Tensor, y: torch.Tensor, recipe: ChildRecipe) -> None:
    """Train a child in place: ``recipe.epochs`` passes of Adam over shuffled minibatches.

    The minibatch order comes from a generator seeded with ``recipe.seed``. A last minibatch
    of a single sample is skipped (BatchNorm cannot train on one value per channel).

    Args:
        model: The child (on the device of ``x``).
        x: Inputs ``(N, channels, *spatial)``.
        y: Integer labels ``(N,)``.
        recipe: Epochs, batch size, learning rate, weight decay and seed.
    """
    generator = torch.Generator().manual_seed(recipe.seed)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=recipe.learning_rate, weight_decay=recipe.weight_decay
    )
    steps = recipe.epochs * math.ceil(len(x) / recipe.batch_size)
    scheduler = None
    if recipe.schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    model.train()
    for _ in range(recipe.epochs):
        order = torch.randperm(len(x), generator=generator).to(x.device)
        for start in range(0, len(x), recipe.batch_size):
            batch = order[start : start + recipe.batch_size]
            if len(batch) == 1 and start > 0:
                continue
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(x[batch]), y[batch]).backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()


def child_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """The share of ``x`` a child classifies right, in eval mode (BatchNorm running stats)."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(x), _EVAL_BATCH):
            logits = model(x[start : start + _EVAL_BATCH])
            correct += int((logits.argmax(1) == y[start : start + _EVAL_BATCH]).sum())
    return correct / len(x)


def train_child(
    architecture: Architecture, dataset: str, recipe: ChildRecipe, *, test: bool = False
) -> dict[str, Any]:
    """Build a child, train it on a dataset's training split and measure it.

    Args:
        architecture: The child's layers.
        dataset: One of :data:`DATASETS`.
        recipe: How to train.
        test: Also measure the test split (for the final report only, never in the search).

    Returns:
        ``val_accuracy``, ``parameters``, ``seconds`` (wall time), ``epochs`` (the recipe's),
        ``device`` (the resolved one), ``invalid`` (None, or why the architecture cannot be
        built: then ``val_accuracy`` is 0.0 and nothing is trained) and, with ``test``,
        ``test_accuracy``.

    Raises:
        ValueError: an unknown dataset, or a CUDA device this machine does not have.
    """
    splits = load_dataset(dataset)
    device = _resolve_device(recipe.device)
    start = time.perf_counter()
    result: dict[str, Any] = {"epochs": recipe.epochs, "device": str(device), "invalid": None}
    threads = torch.get_num_threads()
    torch.set_num_threads(recipe.threads)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(recipe.seed)
            model = build_child(
                architecture,
                splits.input_shape,
                splits.n_classes,
                padding=recipe.padding,
                max_params=recipe.max_params,
            )
        result.update(_fit_and_measure(model, splits, recipe, device, test))
    except InvalidArchitecture as error:
        result.update(val_accuracy=0.0, parameters=error.parameters, invalid=str(error))
        if test:
            result["test_accuracy"] = 0.0
    finally:
        torch.set_num_threads(threads)
    result["seconds"] = time.perf_counter() - start
    return result


def _fit_and_measure(
    model: nn.Module, splits: Splits, recipe: ChildRecipe, device: torch.device, test: bool
) -> dict[str, Any]:
    """Train a built child on the device; its parameters and accuracies."""

    def tensors(x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.tensor(x, device=device), torch.tensor(y, device=device)

    measured: dict[str, Any] = {"parameters": sum(p.numel() for p in model.parameters())}
    model.to(device)
    fit_child(model, *tensors(splits.x_train, splits.y_train), recipe)
    measured["val_accuracy"] = child_accuracy(model, *tensors(splits.x_val, splits.y_val))
    if test:
        measured["test_accuracy"] = child_accuracy(model, *tensors(splits.x_test, splits.y_test))
    return measured


class ChildEvaluator:
    """Picklable evaluator of :class:`envs.deferred.DeferredRewardVecEnv`: trains the child.

    ``evaluator(artifact, info) -> (reward, info)``.

    The artifact is an :meth:`Architecture.to_dict`; the reward is the child's validation
    accuracy to the power ``power`` (Zoph & Le used 3), 0.0 for an invalid architecture. The
    returned info is :func:`train_child`'s result plus ``architecture`` (the artifact).

    Args:
        dataset: One of :data:`DATASETS`.
        recipe: How children are trained.
        power: The exponent of the reward (> 0).

    Raises:
        ValueError: an unknown dataset, a recipe that is not a :class:`ChildRecipe`, or
            ``power <= 0``.
    """

    def __init__(self, dataset: str, recipe: ChildRecipe, power: float = 1.0) -> None:
        dataset_dims(dataset)
        if not isinstance(recipe, ChildRecipe):
            raise ValueError(f"recipe must be a ChildRecipe, got {type(recipe).__name__}")
        if not (_real(power) and 0 < power < math.inf):
            raise ValueError(f"power must be > 0, got {power!r}")
        self.dataset = dataset
        self.recipe = recipe
        self.power = float(power)

    def __call__(
        self, artifact: Mapping[str, Any], info: Mapping[str, Any]
    ) -> tuple[float, dict[str, Any]]:
        """Train the artifact's child; ``(val_accuracy ** power, result)``.

        Raises:
            ValueError: a malformed artifact (see :meth:`Architecture.from_dict`).
        """
        architecture = Architecture.from_dict(artifact)
        result = train_child(architecture, self.dataset, self.recipe)
        reward = 0.0 if result["invalid"] else float(result["val_accuracy"]) ** self.power
        return reward, {**result, "architecture": artifact}

    def __repr__(self) -> str:
        return f"ChildEvaluator({self.dataset!r}, {self.recipe!r}, power={self.power:g})"


__all__ = [
    "SCHEDULES",
    "DATASETS",
    "PADDINGS",
    "ChildEvaluator",
    "ChildNetwork",
    "ChildRecipe",
    "InvalidArchitecture",
    "Splits",
    "build_child",
    "child_accuracy",
    "dataset_dims",
    "fit_child",
    "load_dataset",
    "train_child",
]
