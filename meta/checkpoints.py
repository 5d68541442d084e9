"""Policy checkpoints: an SB3 zip with its configuration as JSON beside it.

A checkpoint is two files with one stem, ``NAME.zip`` (``PPO.save``: policy and optimizer
weights) and ``NAME.json`` (the flat :class:`meta.config.LearnaConfig` plus a ``_meta``
object: timesteps, seeds, training data, package versions). Weights are always loaded into
an agent built from the JSON configuration (strict ``load_state_dict``), so a zip whose
shapes do not fit its configuration is refused with a clear error instead of half-loading.

The shipped Meta-LEARNA model lives in ``meta/models/`` and is found with
:mod:`importlib.resources`, so it works from an installed wheel too.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from meta.config import META_LEARNA, LearnaConfig
from meta.weights import WeightsMismatch, load_policy_weights

#: File stem of the shipped model in the ``meta.models`` package data.
SHIPPED_MODEL = "meta-learna"


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, or does not match its configuration."""


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint on disk.

    Attributes:
        path: The SB3 zip.
        config: The agent configuration it was trained with.
        meta: The ``_meta`` record of its JSON (timesteps, seeds, versions, ...).
    """

    path: Path
    config: LearnaConfig
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def timesteps(self) -> int:
        """Environment steps the policy was trained for."""
        return int(self.meta.get("timesteps", 0))


def config_path(model_path: str | Path) -> Path:
    """The JSON configuration file that belongs to a checkpoint zip."""
    return Path(model_path).with_suffix(".json")


def shipped_model_path() -> Path:
    """The zip of the pretrained model shipped inside the package.

    Raises:
        CheckpointError: the package was installed without its model.
    """
    resource = resources.files("meta") / "models" / f"{SHIPPED_MODEL}.zip"
    path = Path(str(resource))
    if not path.is_file():
        raise CheckpointError(
            f"the shipped model {SHIPPED_MODEL}.zip is missing from the installed package "
            f"({path}); reinstall autorl or pass --model PATH"
        )
    return path


def load_checkpoint(path: str | Path | None = None) -> Checkpoint:
    """Read and check a checkpoint (default: the shipped model).

    Args:
        path: The zip (or its stem without ``.zip``); None for the shipped model.

    Returns:
        The checkpoint with its configuration.

    Raises:
        CheckpointError: missing files, a zip that is not an SB3 save, or a bad JSON.
    """
    zip_path = shipped_model_path() if path is None else Path(path).expanduser()
    if zip_path.suffix != ".zip" and not zip_path.is_file():
        zip_path = zip_path.with_name(zip_path.name + ".zip")
    if not zip_path.is_file():
        raise CheckpointError(f"model not found: {zip_path}")
    try:
        with zipfile.ZipFile(zip_path) as archive:
            names = set(archive.namelist())
            broken = archive.testzip()
    except (zipfile.BadZipFile, OSError) as error:
        raise CheckpointError(f"{zip_path}: not a model checkpoint (bad zip: {error})") from None
    if broken is not None or "policy.pth" not in names:
        problem = f"corrupt member {broken}" if broken else "no policy.pth in it"
        raise CheckpointError(f"{zip_path}: not a stable-baselines3 checkpoint ({problem})")
    json_path = config_path(zip_path)
    if not json_path.is_file():
        raise CheckpointError(
            f"{zip_path}: its configuration {json_path.name} is missing; a checkpoint is the "
            "zip plus the JSON written beside it"
        )
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8")).get("_meta", {})
        config = LearnaConfig.load(json_path, base=META_LEARNA)
    except (ValueError, AttributeError) as error:
        raise CheckpointError(f"{json_path}: bad checkpoint configuration: {error}") from None
    return Checkpoint(zip_path, config, meta if isinstance(meta, dict) else {})


def load_weights(model: Any, checkpoint: Checkpoint, with_optimizer: bool = True) -> None:
    """Load a checkpoint's weights into an SB3 agent built from ``checkpoint.config``.

    The tensors are mapped onto the agent's device (``model.device``), whatever device the
    checkpoint was saved from: a policy trained on a GPU loads on a CPU-only machine.

    Args:
        model: The agent (``meta.design.build_ppo``).
        checkpoint: The checkpoint.
        with_optimizer: Also restore the Adam state (resume); False starts a fresh optimizer
            (adapting to a new target).

    Raises:
        CheckpointError: the weights do not fit the agent (another architecture or window).
    """
    try:
        load_policy_weights(model, checkpoint.path, with_optimizer)
    except WeightsMismatch as error:
        raise CheckpointError(
            f"{checkpoint.path}: the weights do not match the configuration in "
            f"{config_path(checkpoint.path).name} ({error})"
        ) from None
    except ValueError as error:
        raise CheckpointError(str(error)) from None


def _temporary(path: Path) -> Path:
    """A temporary name beside ``path`` (same folder, so the rename is atomic)."""
    return path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")


def save_checkpoint(model: Any, config: LearnaConfig, path: Path, meta: dict[str, Any]) -> None:
    """Write ``path`` (zip) and its JSON atomically: a reader never sees half a checkpoint.

    The JSON is replaced last, so a zip is never paired with a newer configuration.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary(path)
    try:
        model.save(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    config.save(config_path(path), extra=meta)


def copy_checkpoint(source: Path, destination: Path) -> None:
    """Copy a checkpoint (zip and JSON) atomically, e.g. to ``best`` or ``latest``."""
    for src, dst in ((source, destination), (config_path(source), config_path(destination))):
        temporary = _temporary(dst)
        try:
            shutil.copyfile(src, temporary)
            os.replace(temporary, dst)
        finally:
            temporary.unlink(missing_ok=True)
