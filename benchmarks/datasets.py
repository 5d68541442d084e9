"""The benchmark datasets: registry, file lookup and integrity checks.

The data files are not shipped with autorl. A registered dataset is looked up by its file
name, in order, in ``--data-dir``, in the directory named by the ``AUTORL_DATA`` environment
variable and in a per-user cache directory (:func:`user_data_dir`). The first file found
must have the registered sha256; a file that differs is refused, never silently used.

Every file has one target a line, ``id<TAB>dot-bracket`` (the 1-based ids of the LEARNA
paper). Anything that is not a registered name is read as a custom target file with the
same parser as ``autorl design``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from envs.dot_bracket import Target, read_targets
from meta.files import file_sha256

#: Environment variable naming a directory with the benchmark files.
DATA_ENV = "AUTORL_DATA"


@dataclass(frozen=True)
class DatasetSpec:
    """A registered benchmark dataset.

    Attributes:
        name: The name given to ``--dataset``.
        filename: The canonical file name looked up in the data directories.
        count: Number of targets in the file.
        sha256: Hash of the canonical file.
        source: Where the file comes from (shown when it is missing).
    """

    name: str
    filename: str
    count: int
    sha256: str
    source: str


_ETERNA = (
    "GitHub eternagame/eterna100-benchmarking, data/eterna100_puzzles.tsv "
    "(commit 8ea657ea), column 'Secondary Structure {}', id = 'Puzzle #'"
)
_RNAGENT = (
    "the LEARNA data folder data/{0} (Runge et al., ICLR 2019; automl/learna "
    "src/data/download_and_build_rfam_learn.sh); copy used: GitHub andriusbern/RNAgent "
    "rlfold/data/{0}/1..100.rna (commit 8aeb69d9), id = file number"
)

#: The registered datasets by name (hashes from shared/data/SOURCES.md).
DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            "eterna100-v1",
            "eterna100_v1.txt",
            100,
            "8192725e53f5752190f30e707d84e91cfd3612266eb6bf6a7d919f2517efdbcd",
            _ETERNA.format("V1"),
        ),
        DatasetSpec(
            "eterna100-v2",
            "eterna100_v2.txt",
            100,
            "53a997c3d9d8ddaccb0575196133aca9085870b9567c95a825e1e69ad0b353fb",
            _ETERNA.format("V2"),
        ),
        DatasetSpec(
            "rfam-taneda",
            "rfam_taneda.txt",
            29,
            "08c695d0303e835c1c53dce0681fc2088b071cd45e6ede3a0dc333a576c0056d",
            "GitHub automl/learna, data/rfam_taneda.tar.gz (commit 34b3cf9e), "
            "rfam_taneda/1.rna..29.rna, id = file number",
        ),
        DatasetSpec(
            "rfam-learn-validation",
            "rfam_learn_validation.txt",
            100,
            "74640a1739abade54cc528a0ed12f7c34664b6ece5fb4c1759fe14b9a691ff3b",
            _RNAGENT.format("rfam_learn_validation"),
        ),
        DatasetSpec(
            "rfam-learn-test",
            "rfam_learn_test.txt",
            100,
            "28336545b3886d59708b5df6667b11158b91203a8e21dc18bc07d2676073ecbb",
            _RNAGENT.format("rfam_learn_test"),
        ),
    )
}


@dataclass(frozen=True)
class Dataset:
    """A resolved dataset: its targets and where they were read from.

    Attributes:
        name: Registered name, or the file stem of a custom target file.
        path: The file read.
        targets: The targets in file order.
        registered: Whether ``name`` is a registered dataset (hash checked).
    """

    name: str
    path: Path
    targets: tuple[Target, ...]
    registered: bool


def user_data_dir() -> Path:
    """The per-user cache directory searched last for benchmark files.

    ``$XDG_CACHE_HOME/autorl/data`` (default ``~/.cache/autorl/data``) on Linux,
    ``~/Library/Caches/autorl/data`` on macOS, ``%LOCALAPPDATA%/autorl/data`` on Windows.
    """
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "autorl" / "data"


def search_dirs(data_dir: str | Path | None = None) -> list[Path]:
    """The directories searched for benchmark files, in order.

    Args:
        data_dir: The ``--data-dir`` argument, if given.

    Returns:
        ``data_dir``, then ``$AUTORL_DATA`` (when set), then :func:`user_data_dir`.
    """
    dirs = [Path(data_dir).expanduser()] if data_dir else []
    if os.environ.get(DATA_ENV):
        dirs.append(Path(os.environ[DATA_ENV]).expanduser())
    dirs.append(user_data_dir())
    return dirs


def _missing_message(spec: DatasetSpec, dirs: Sequence[Path]) -> str:
    searched = ", ".join(str(d) for d in dirs)
    return (
        f"dataset {spec.name!r}: file {spec.filename} not found (searched: {searched}). "
        f"Put the file (format 'id<TAB>dot-bracket', one target a line, {spec.count} targets, "
        f"sha256 {spec.sha256}) into one of these directories, or pass --data-dir DIR or set "
        f"{DATA_ENV}=DIR. It comes from {spec.source}."
    )


def locate(spec: DatasetSpec, data_dir: str | Path | None = None) -> Path:
    """Find and verify the file of a registered dataset.

    Args:
        spec: The dataset.
        data_dir: The ``--data-dir`` argument, if given.

    Returns:
        The path of the first file found; its hash matches ``spec.sha256``.

    Raises:
        ValueError: no file found (the message says where to put it and where it comes
            from), or the first file found has another hash.
    """
    dirs = search_dirs(data_dir)
    for directory in dirs:
        path = directory / spec.filename
        if not path.is_file():
            continue
        actual = file_sha256(path)
        if actual != spec.sha256:
            raise ValueError(
                f"dataset {spec.name!r}: {path} has sha256 {actual}, expected {spec.sha256}; "
                "the file differs from the canonical one and is refused (replace it with the "
                f"canonical file from {spec.source}, or pass it as a path to run it as a custom "
                "target file)"
            )
        return path
    raise ValueError(_missing_message(spec, dirs))


def load_dataset(spec: str, data_dir: str | Path | None = None) -> Dataset:
    """Resolve a ``--dataset`` argument: a registered name or a target file.

    Args:
        spec: A name in :data:`DATASETS` or the path of a target file.
        data_dir: The ``--data-dir`` argument, if given.

    Returns:
        The dataset with its targets.

    Raises:
        ValueError: unknown name, missing or altered registered file, or a malformed
            target file (an :class:`envs.dot_bracket.InvalidStructureError`).
    """
    if spec in DATASETS:
        registered = DATASETS[spec]
        path = locate(registered, data_dir)
        targets = tuple(read_targets(path))
        if len(targets) != registered.count:
            raise ValueError(
                f"dataset {spec!r}: {path} has {len(targets)} targets, expected {registered.count}"
            )
        return Dataset(spec, path, targets, registered=True)
    path = Path(spec).expanduser()
    if not path.is_file():
        names = ", ".join(DATASETS)
        raise ValueError(
            f"unknown dataset {spec!r}: give one of {names}, or the path of a target file"
        )
    return Dataset(path.stem, path, tuple(read_targets(path)), registered=False)


def select_targets(targets: Sequence[Target], selection: str | None) -> list[Target]:
    """Apply a ``--targets`` selection such as ``1,5,9-12``.

    Items are target ids; ``a-b`` stands for the numeric ids ``a`` to ``b``. The order of
    the file is kept.

    Args:
        targets: All targets of the dataset.
        selection: The selection, or None / empty for all targets.

    Returns:
        The selected targets.

    Raises:
        ValueError: a malformed range or an id that the dataset does not have.
    """
    if not selection:
        return list(targets)
    wanted: set[str] = set()
    for item in (part.strip() for part in selection.split(",")):
        if not item:
            continue
        low, dash, high = item.partition("-")
        if dash and low.strip().isdigit() and high.strip().isdigit():
            first, last = int(low), int(high)
            if first > last:
                raise ValueError(f"--targets: empty range {item!r} (start > end)")
            wanted.update(str(number) for number in range(first, last + 1))
        else:
            wanted.add(item)
    known = {target.id for target in targets}
    unknown = sorted(wanted - known, key=lambda x: (len(x), x))
    if unknown:
        shown = ", ".join(unknown[:10]) + (" ..." if len(unknown) > 10 else "")
        raise ValueError(f"--targets: the dataset has no target with id {shown}")
    if not wanted:
        raise ValueError(f"--targets {selection!r} selects no target")
    return [target for target in targets if target.id in wanted]
