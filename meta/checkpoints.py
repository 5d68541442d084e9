"""Policy checkpoints: an SB3 zip with its configuration as JSON beside it.

A checkpoint is two files with one stem, ``NAME.zip`` (``PPO.save``: policy and optimizer
weights) and ``NAME.json`` (the flat configuration of its domain -- for RNA the flat
:class:`meta.config.LearnaConfig` -- plus a ``_meta`` object: the agent spec that wrote it,
timesteps, seeds, training data, package versions). Weights are always loaded into an
agent built from the JSON configuration (strict ``load_state_dict``), so a zip whose
shapes do not fit its configuration is refused with a clear error instead of half-loading.
The configuration also decides the algorithm: a policy with ``lstm_mode="episode"`` (LEARNA's
recurrent form) is a ``RecurrentPPO`` save and loads into a ``RecurrentPPO`` agent (whose
LSTM state is not saved: every design starts its episodes from zeros); a window-form
checkpoint (all older ones, and the shipped model: the JSON key is missing, so ``window``)
loads into PPO or MaskablePPO. A zip of one form under a JSON of the other is refused.

Which agent spec (:func:`meta.agents.domain_spec`) a checkpoint belongs to is
``_meta.agent`` (``rna``, ``cartpole`` ...); it lives in ``_meta`` so the flat keys stay
exactly the configuration's, and a reader that ignores ``_meta`` still reads the file.
Checkpoints written before the key existed have none: ``_meta.task`` (``autorl train``'s
record) names their agent when present, otherwise they are RNA checkpoints, as the
shipped model is. :func:`load_checkpoint` refuses a checkpoint of another agent than the
one asked for (RNA unless told otherwise).

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

from meta.agents import RNA, domain_spec
from meta.config import META_LEARNA
from meta.files import write_json_atomic
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
        config: The agent configuration it was trained with (a
            :class:`meta.config.LearnaConfig` for RNA; the ``config_type`` of its agent
            spec otherwise).
        meta: The ``_meta`` record of its JSON (agent, timesteps, seeds, versions, ...).
    """

    path: Path
    config: Any
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def timesteps(self) -> int:
        """Environment steps the policy was trained for."""
        return int(self.meta.get("timesteps", 0))

    @property
    def agent(self) -> str:
        """The name of the agent spec that wrote it (see :func:`checkpoint_agent`)."""
        return checkpoint_agent(self.meta)


def checkpoint_agent(meta: dict[str, Any]) -> str:
    """The agent spec a checkpoint's ``_meta`` names: ``agent``, else ``task``, else RNA.

    Raises:
        ValueError: a recorded name that is not a string.
    """
    agent = meta.get("agent", meta.get("task", RNA))
    if not isinstance(agent, str):
        raise ValueError(f"the checkpoint's agent must be a name, got {agent!r}")
    return agent


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


def load_checkpoint(path: str | Path | None = None, agent: str | None = RNA) -> Checkpoint:
    """Read and check a checkpoint (default: the shipped model).

    The JSON is applied over the agent spec's default configuration (for RNA over
    Meta-LEARNA's, as checkpoints come from meta-training).

    Args:
        path: The zip (or its stem without ``.zip``); None for the shipped model.
        agent: The agent spec the checkpoint must belong to (default: RNA); None accepts
            any registered one (:data:`meta.agents.DOMAINS`).

    Returns:
        The checkpoint with its configuration.

    Raises:
        CheckpointError: missing files, a zip that is not an SB3 save, a bad JSON, or a
            checkpoint of another (or an unknown) agent.
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
        meta = meta if isinstance(meta, dict) else {}
        recorded = checkpoint_agent(meta)
        if agent is not None and recorded != agent:
            raise CheckpointError(
                f"{json_path}: a checkpoint of the {recorded!r} agent, not of {agent!r}"
            )
        spec = domain_spec(recorded)
        base = META_LEARNA if recorded == RNA else spec.default
        config = spec.config_type.load(json_path, base=base)
    except CheckpointError:
        raise
    except (ValueError, AttributeError) as error:
        raise CheckpointError(f"{json_path}: bad checkpoint configuration: {error}") from None
    return Checkpoint(zip_path, config, meta)


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


def save_checkpoint(
    model: Any, config: Any, path: Path, meta: dict[str, Any], agent: str = RNA
) -> None:
    """Write ``path`` (zip) and its JSON atomically: a reader never sees half a checkpoint.

    The JSON is the flat configuration plus ``_meta`` (``agent`` first, then ``meta``); it
    is replaced last, so a zip is never paired with a newer configuration.

    Args:
        model: The SB3 agent.
        config: Its configuration, of the agent spec's ``config_type``.
        path: The zip to write.
        meta: The record (timesteps, seeds, ...).
        agent: The agent spec that built ``model`` (:data:`meta.agents.DOMAINS`).

    Raises:
        ValueError: an unknown agent, a configuration of another type, or a ``meta``
            naming another agent.
    """
    spec = domain_spec(agent)
    if not isinstance(config, spec.config_type):
        raise ValueError(
            f"agent {agent!r} saves a {spec.config_type.__name__}, got {type(config).__name__}"
        )
    if meta.get("agent", agent) != agent:
        raise ValueError(f"meta names agent {meta['agent']!r}, but agent is {agent!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary(path)
    try:
        model.save(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    write_json_atomic({**config.to_flat(), "_meta": {"agent": agent, **meta}}, config_path(path))


def copy_checkpoint(source: Path, destination: Path) -> None:
    """Copy a checkpoint (zip and JSON) atomically, e.g. to ``best`` or ``latest``."""
    for src, dst in ((source, destination), (config_path(source), config_path(destination))):
        temporary = _temporary(dst)
        try:
            shutil.copyfile(src, temporary)
            os.replace(temporary, dst)
        finally:
            temporary.unlink(missing_ok=True)
