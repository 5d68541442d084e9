"""The architecture family that BOHB searches: one frozen dataclass, validated on creation."""

from __future__ import annotations

from dataclasses import dataclass

ACTIVATIONS = ("tanh", "relu")

#: Where the LSTM runs: ``window`` over the positions of one observation window (no memory
#: across steps), ``episode`` across the steps of an episode (LEARNA's tensorforce
#: ``internal_lstm``; sb3-contrib's RecurrentPPO, see :mod:`policies.recurrent`).
LSTM_MODES = ("window", "episode")


@dataclass(frozen=True)
class PolicyConfig:
    """Architecture of the policy and value network.

    ``lstm_mode="window"``: embedding (optional) -> Conv1d (0-2 layers) -> LSTM (0-2
    layers, over the positions of the window) -> fully connected (1-2 layers) -> policy and
    value heads. Every step is decided from its own window alone.

    ``lstm_mode="episode"`` (LEARNA's form): embedding -> Conv1d -> flatten (the features
    of the window) -> LSTM (1-2 layers) whose state is carried across the steps of an
    episode and reset when one starts -> fully connected layers -> heads. The LSTM reads
    the features of the windows seen so far in the episode (the observations, not the
    actions), so a step is decided with the target context already passed in memory.
    Trained with sb3-contrib's RecurrentPPO (:mod:`policies.recurrent`).

    Attributes:
        embedding_size: Size of the token embedding; 0 means the binary encoding is used.
        conv_kernel_1: Kernel size of the first Conv1d layer (odd, 2r+1); 0 = no layer.
        conv_channels_1: Output channels of the first Conv1d layer.
        conv_kernel_2: Kernel size of the second Conv1d layer; 0 = no layer.
        conv_channels_2: Output channels of the second Conv1d layer.
        lstm_layers: Number of stacked LSTM layers (0-2; at least 1 for ``episode``).
        lstm_units: Hidden units of each LSTM layer.
        fc_layers: Number of fully connected layers (1-2), shared by policy and value heads.
        fc_units: Units of each fully connected layer.
        activation: Activation of the fully connected layers.
        shared_extractor: Whether the value head reads the policy's features extractor
            (embedding, convolutions, LSTM), so that the value loss trains them too (SB3's
            ``share_features_extractor``; LEARNA had no value head, it used no baseline).
            False gives the value head its own copy of the extractor. With
            ``lstm_mode="episode"`` the episode LSTM counts as part of the extractor: True
            is one LSTM read by both heads and trained by both losses, False gives the
            value head its own extractor and its own LSTM (see :mod:`policies.recurrent`).
        lstm_mode: ``window`` (default; the form of existing checkpoints and the shipped
            model) or ``episode`` (see above); one of :data:`LSTM_MODES`.
    """

    embedding_size: int = 3
    conv_kernel_1: int = 17
    conv_channels_1: int = 7
    conv_kernel_2: int = 5
    conv_channels_2: int = 18
    lstm_layers: int = 1
    lstm_units: int = 28
    fc_layers: int = 1
    fc_units: int = 57
    activation: str = "tanh"
    shared_extractor: bool = True
    lstm_mode: str = "window"

    def __post_init__(self) -> None:
        _check_range("embedding_size", self.embedding_size, 0, 64)
        for index in (1, 2):
            kernel = getattr(self, f"conv_kernel_{index}")
            channels = getattr(self, f"conv_channels_{index}")
            _check_range(f"conv_kernel_{index}", kernel, 0, 65)
            if kernel and kernel % 2 == 0:
                raise ValueError(f"conv_kernel_{index} must be odd (2r+1) or 0, got {kernel}")
            if kernel:
                _check_range(f"conv_channels_{index}", channels, 1, 256)
        _check_range("lstm_layers", self.lstm_layers, 0, 2)
        if self.lstm_layers:
            _check_range("lstm_units", self.lstm_units, 1, 512)
        _check_range("fc_layers", self.fc_layers, 1, 2)
        _check_range("fc_units", self.fc_units, 1, 1024)
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {self.activation!r}")
        if not isinstance(self.shared_extractor, bool):
            raise ValueError(
                f"shared_extractor must be true or false, got {self.shared_extractor!r}"
            )
        if self.lstm_mode not in LSTM_MODES:
            raise ValueError(f"lstm_mode must be one of {LSTM_MODES}, got {self.lstm_mode!r}")
        if self.lstm_mode == "episode" and not self.lstm_layers:
            raise ValueError(
                "lstm_mode 'episode' needs lstm_layers >= 1 (the LSTM that carries its state "
                "across the steps of an episode); without an LSTM use lstm_mode 'window'"
            )

    @property
    def recurrent(self) -> bool:
        """Whether the LSTM carries state across steps (``episode``: RecurrentPPO)."""
        return self.lstm_mode == "episode"

    @property
    def conv_layers(self) -> list[tuple[int, int]]:
        """The (kernel, channels) of each Conv1d layer that exists, in order."""
        layers = [
            (self.conv_kernel_1, self.conv_channels_1),
            (self.conv_kernel_2, self.conv_channels_2),
        ]
        return [(kernel, channels) for kernel, channels in layers if kernel > 0]

    @property
    def receptive_field(self) -> int:
        """Window width the convolutions consume (the window must be at least this wide)."""
        return 1 + sum(kernel - 1 for kernel, _ in self.conv_layers)


def _check_range(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {value}")
