"""The token space of neural architecture search as a decision process (Zoph & Le 2017).

A child CNN of ``L`` layers is described token by token. Per layer ``i`` (0-based), in this
order (Zoph & Le's order: filter height, filter width, number of filters, stride, then the
anchor point):

- ``kernel_h`` (2-D data only) and ``kernel_w``: the filter's height and width, one of
  :attr:`NasSpace.kernels` (default ``{1, 3, 5, 7}``). 1-D data (MNIST-1D) has a width only.
- ``filters``: the number of filters, one of :attr:`NasSpace.filters` (``{24, 36, 48, 64}``).
- ``stride``: one of :attr:`NasSpace.strides`; a decision only when there is more than one
  (default ``(1,)``, Zoph & Le's first experiment; ``(1, 2, 3)`` is their stride option).
- ``skip`` decisions, one yes/no per earlier layer ``j < i`` (Zoph & Le's anchor points):
  whether layer ``j``'s output is an input of layer ``i``. Layer 0 has none.

A layer with no chosen input reads the data (as in Zoph & Le: "if one layer has no input
layer then the image is used as the input layer"); every layer output that no later layer
reads goes to the classifier. With ``skips=False`` the child is a plain chain (layer ``i``
reads layer ``i - 1``) and there are no skip decisions.

Every decision is an index into its choices: :class:`NasSpace` lists the decisions, and
:meth:`NasSpace.decode` turns a complete list of indices into an :class:`Architecture`.
This module imports neither torch nor gymnasium.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: Zoph & Le's filter sizes and numbers of filters.
KERNELS = (1, 3, 5, 7)
FILTERS = (24, 36, 48, 64)
#: Zoph & Le's stride option.
STRIDE_OPTION = (1, 2, 3)
#: Default number of layers: see the README (MNIST-1D signals have 40 samples; the
#: published hand-designed CNN has 3 convolutions).
DEFAULT_LAYERS = 6
#: Decision kinds.
KINDS = ("kernel_h", "kernel_w", "filters", "stride", "skip")


@dataclass(frozen=True)
class Decision:
    """One token of the architecture.

    Attributes:
        layer: The layer it belongs to (0-based).
        kind: One of :data:`KINDS`.
        choices: The values its index selects (``(False, True)`` for a skip).
        source: For a skip, the earlier layer whose output it connects (else -1).
    """

    layer: int
    kind: str
    choices: tuple[Any, ...]
    source: int = -1

    @property
    def arity(self) -> int:
        """Number of choices."""
        return len(self.choices)


@dataclass(frozen=True)
class Layer:
    """One convolution of a child network.

    Attributes:
        kernel: Filter size per spatial dimension (``(width,)`` or ``(height, width)``).
        filters: Output channels.
        stride: Stride in every spatial dimension.
        inputs: Earlier layers whose outputs are its input, concatenated along channels;
            empty: the data.
    """

    kernel: tuple[int, ...]
    filters: int
    stride: int = 1
    inputs: tuple[int, ...] = ()


@dataclass(frozen=True)
class Architecture:
    """A complete child architecture: its layers, in order.

    Attributes:
        layers: The convolutions.
    """

    layers: tuple[Layer, ...]

    def outputs(self) -> tuple[int, ...]:
        """Layers whose output no later layer reads: they feed the classifier."""
        read = {j for layer in self.layers for j in layer.inputs}
        return tuple(i for i in range(len(self.layers)) if i not in read)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (:meth:`from_dict` reads it back)."""
        return {
            "layers": [
                {
                    "kernel": list(layer.kernel),
                    "filters": layer.filters,
                    "stride": layer.stride,
                    "inputs": list(layer.inputs),
                }
                for layer in self.layers
            ]
        }

    def key(self) -> str:
        """A canonical string naming this architecture (equal architectures, equal keys)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Architecture:
        """The architecture :meth:`to_dict` described.

        Raises:
            ValueError: a malformed description (the message names the layer and field).
        """
        if not isinstance(data, Mapping) or not isinstance(data.get("layers"), list):
            raise ValueError("an architecture is an object with a list of 'layers'")
        if not data["layers"]:
            raise ValueError("an architecture needs at least one layer")
        layers = []
        for index, entry in enumerate(data["layers"]):
            layers.append(_layer_from_dict(index, entry))
        return cls(tuple(layers))

    def describe(self) -> str:
        """One line per layer, e.g. ``0: 5 x 36, stride 1 <- data``."""
        lines = []
        for index, layer in enumerate(self.layers):
            kernel = "x".join(str(k) for k in layer.kernel)
            source = ", ".join(str(j) for j in layer.inputs) if layer.inputs else "data"
            lines.append(
                f"{index}: kernel {kernel}, {layer.filters} filters, stride {layer.stride} "
                f"<- {source}"
            )
        lines.append(f"classifier <- {', '.join(str(i) for i in self.outputs())}")
        return "\n".join(lines)


def _layer_from_dict(index: int, entry: Any) -> Layer:
    where = f"layer {index}"
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where}: expected an object, got {entry!r}")
    try:
        kernel = tuple(int(k) for k in entry["kernel"])
        filters = int(entry["filters"])
        stride = int(entry.get("stride", 1))
        inputs = tuple(int(j) for j in entry.get("inputs", ()))
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{where}: {error!r} (needs kernel, filters, stride, inputs)") from None
    if not kernel or any(k < 1 for k in kernel) or filters < 1 or stride < 1:
        raise ValueError(f"{where}: kernel, filters and stride must be positive")
    if any(not 0 <= j < index for j in inputs) or len(set(inputs)) != len(inputs):
        raise ValueError(f"{where}: inputs must be distinct earlier layers, got {list(inputs)}")
    return Layer(kernel, filters, stride, tuple(sorted(inputs)))


@dataclass(frozen=True)
class NasSpace:
    """The decisions that describe a child network.

    Attributes:
        layers: Number of convolutions ``L`` (>= 1).
        dims: Spatial dimensions of the data: 1 (a width token) or 2 (height and width).
        kernels: Filter sizes.
        filters: Numbers of filters.
        strides: Strides; a stride decision per layer only when there are several.
        skips: Zoph & Le's skip connections (anchor points); False: a plain chain.

    Raises:
        ValueError: ``layers < 1``, ``dims`` not 1 or 2, or an empty or non-positive choice.
    """

    layers: int = DEFAULT_LAYERS
    dims: int = 1
    kernels: tuple[int, ...] = KERNELS
    filters: tuple[int, ...] = FILTERS
    strides: tuple[int, ...] = (1,)
    skips: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.layers, bool) or not isinstance(self.layers, int) or self.layers < 1:
            raise ValueError(f"the number of layers must be an integer >= 1, got {self.layers!r}")
        if self.dims not in (1, 2):
            raise ValueError(f"dims must be 1 or 2, got {self.dims!r}")
        for name in ("kernels", "filters", "strides"):
            values = getattr(self, name)
            if not values or any(int(v) != v or v < 1 for v in values):
                raise ValueError(f"{name} must be positive integers, got {values!r}")
            if len(set(values)) != len(values):
                raise ValueError(f"{name} must be distinct, got {values!r}")
            object.__setattr__(self, name, tuple(int(v) for v in values))

    def decisions(self) -> tuple[Decision, ...]:
        """Every token, in the order the controller emits them."""
        return _decisions(self)

    @property
    def max_arity(self) -> int:
        """The largest number of choices of any decision (the action space's size)."""
        return max(decision.arity for decision in self.decisions())

    def decode(self, actions: Sequence[int]) -> Architecture:
        """The architecture a complete list of decision indices describes.

        Raises:
            ValueError: the wrong number of indices, or an index outside its decision's
                choices (the message names the position and the decision).
        """
        decisions = self.decisions()
        if len(actions) != len(decisions):
            raise ValueError(f"expected {len(decisions)} decisions, got {len(actions)}")
        values: list[dict[str, Any]] = [{"inputs": []} for _ in range(self.layers)]
        for position, (decision, action) in enumerate(zip(decisions, actions)):
            if not 0 <= int(action) < decision.arity:
                raise ValueError(
                    f"position {position} ({decision.kind} of layer {decision.layer}): "
                    f"index {action} is not one of 0..{decision.arity - 1}"
                )
            value = decision.choices[int(action)]
            if decision.kind == "skip":
                if value:
                    values[decision.layer]["inputs"].append(decision.source)
            else:
                values[decision.layer][decision.kind] = value
        layers = []
        for index, value in enumerate(values):
            kernel = (
                (value["kernel_w"],) if self.dims == 1 else (value["kernel_h"], value["kernel_w"])
            )
            inputs = tuple(value["inputs"]) if self.skips else ((index - 1,) if index else ())
            layers.append(
                Layer(kernel, value["filters"], value.get("stride", self.strides[0]), inputs)
            )
        return Architecture(tuple(layers))

    def encode(self, architecture: Architecture) -> list[int]:
        """The decision indices of an architecture of this space (inverse of :meth:`decode`).

        Raises:
            ValueError: the architecture is not in this space.
        """
        if len(architecture.layers) != self.layers:
            raise ValueError(f"expected {self.layers} layers, got {len(architecture.layers)}")
        actions = []
        for decision in self.decisions():
            layer = architecture.layers[decision.layer]
            if decision.kind == "skip":
                value: Any = decision.source in layer.inputs
            elif decision.kind == "kernel_h":
                value = layer.kernel[0]
            elif decision.kind == "kernel_w":
                value = layer.kernel[-1]
            else:
                value = getattr(layer, decision.kind)
            if value not in decision.choices:
                raise ValueError(
                    f"layer {decision.layer}: {decision.kind} {value!r} is not one of "
                    f"{list(decision.choices)}"
                )
            actions.append(decision.choices.index(value))
        if self.decode(actions) != architecture:
            raise ValueError("the architecture's connections are not in this space")
        return actions

    def size(self) -> int:
        """The number of distinct architectures in the space."""
        total = 1
        for decision in self.decisions():
            total *= decision.arity
        return total

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description."""
        return {
            "layers": self.layers,
            "dims": self.dims,
            "kernels": list(self.kernels),
            "filters": list(self.filters),
            "strides": list(self.strides),
            "skips": self.skips,
        }


@functools.lru_cache(maxsize=64)
def _decisions(space: NasSpace) -> tuple[Decision, ...]:
    out: list[Decision] = []
    for layer in range(space.layers):
        if space.dims == 2:
            out.append(Decision(layer, "kernel_h", space.kernels))
        out.append(Decision(layer, "kernel_w", space.kernels))
        out.append(Decision(layer, "filters", space.filters))
        if len(space.strides) > 1:
            out.append(Decision(layer, "stride", space.strides))
        if space.skips:
            out.extend(Decision(layer, "skip", (False, True), source) for source in range(layer))
    return tuple(out)


__all__ = [
    "DEFAULT_LAYERS",
    "FILTERS",
    "KERNELS",
    "KINDS",
    "STRIDE_OPTION",
    "Architecture",
    "Decision",
    "Layer",
    "NasSpace",
]
