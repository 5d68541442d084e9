"""Dot-bracket secondary structures: validation, pair tables and target files.

A target is a pseudoknot-free secondary structure written with ``.`` (unpaired),
``(`` and ``)`` (the two sides of a base pair). Everything that reads targets goes
through :func:`parse_structure` and :func:`read_targets`, so a bad structure is
always reported the same way: with the 1-based position (and, for files, the
file and line) of the problem.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ALLOWED = frozenset(".()")
_PSEUDOKNOT = frozenset("[]{}<>")


class InvalidStructureError(ValueError):
    """A dot-bracket structure or a target file is malformed.

    Attributes:
        position: 1-based position in the structure, or None.
        source: ``file:line`` (or another location) where the structure came from, or None.
    """

    def __init__(self, message: str, position: int | None = None, source: str | None = None):
        self.position = position
        self.source = source
        self.detail = message
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{message}")


def _describe(char: str) -> str:
    if char in _PSEUDOKNOT:
        return f"pseudoknot bracket {char!r} (only '.', '(' and ')' are supported)"
    if char.isspace():
        return "whitespace inside the structure"
    if char.isalpha():
        return f"letter {char!r} (a sequence? targets are dot-bracket structures)"
    if char.isdigit():
        return f"digit {char!r}"
    return f"invalid character {char!r}"


def parse_structure(text: str, source: str | None = None) -> str:
    """Validate a dot-bracket structure and return it unchanged.

    Args:
        text: The structure; surrounding whitespace is ignored.
        source: Where it came from (``file:line``), used in error messages.

    Returns:
        The stripped structure.

    Raises:
        InvalidStructureError: empty, a character other than ``.()``, or unbalanced brackets.
    """
    structure = text.strip()
    if not structure:
        raise InvalidStructureError("empty structure", source=source)
    stack: list[int] = []
    for index, char in enumerate(structure):
        if char == "(":
            stack.append(index)
        elif char == ")":
            if not stack:
                raise InvalidStructureError(
                    f"position {index + 1}: ')' has no matching '('", index + 1, source
                )
            stack.pop()
        elif char != ".":
            raise InvalidStructureError(
                f"position {index + 1}: {_describe(char)}", index + 1, source
            )
    if stack:
        raise InvalidStructureError(
            f"position {stack[-1] + 1}: '(' is never closed ({len(stack)} unclosed)",
            stack[-1] + 1,
            source,
        )
    return structure


def pair_table(structure: str) -> np.ndarray:
    """Return the partner of every site (-1 for unpaired sites).

    Args:
        structure: A valid dot-bracket structure.

    Returns:
        An int64 array ``p`` with ``p[i] = j`` when i and j pair, else -1.
    """
    pairs = np.full(len(structure), -1, dtype=np.int64)
    stack: list[int] = []
    for index, char in enumerate(structure):
        if char == "(":
            stack.append(index)
        elif char == ")":
            opening = stack.pop()
            pairs[opening] = index
            pairs[index] = opening
    return pairs


def loop_contents(partners: Sequence[int], i: int, j: int) -> tuple[list[tuple[int, int]], int]:
    """The branches and the unpaired count of the loop a pair closes.

    Args:
        partners: A pair table (:func:`pair_table`, or a list of the same values).
        i: The closing pair's 5' site, or -1 for the exterior loop.
        j: Its 3' site, or the structure's length for the exterior loop.

    Returns:
        ``(branches, unpaired)``: the pairs ``(k, l)`` directly inside, 5' to 3', and the
        number of unpaired sites of the loop.
    """
    branches: list[tuple[int, int]] = []
    unpaired = 0
    k = i + 1
    while k < j:
        if partners[k] > k:
            branches.append((k, int(partners[k])))
            k = int(partners[k]) + 1
        else:
            unpaired += 1
            k += 1
    return branches, unpaired


def is_lonely(partners: Sequence[int], i: int, j: int) -> bool:
    """Whether the pair (i, j) has no stacked neighbour pair, (i-1, j+1) or (i+1, j-1)."""
    outer = i > 0 and j + 1 < len(partners) and partners[i - 1] == j + 1
    inner = partners[i + 1] == j - 1
    return not (outer or inner)


@dataclass(frozen=True)
class Target:
    """One design target.

    Attributes:
        id: Identifier (from the file, or the 1-based index of the target).
        structure: The validated dot-bracket structure.
        constraint: IUPAC sequence constraint, one code per site (None: unconstrained).
    """

    id: str
    structure: str
    constraint: str | None = None

    def __post_init__(self) -> None:
        parse_structure(self.structure, source=f"target {self.id}")
        if self.constraint is not None:
            from envs.constraints import parse_iupac

            code = parse_iupac(self.constraint, source=f"target {self.id}")
            if len(code) != len(self.structure):
                raise InvalidStructureError(
                    f"target {self.id}: the sequence constraint has {len(code)} codes, the "
                    f"structure {len(self.structure)} sites"
                )
            object.__setattr__(self, "constraint", code)

    def __len__(self) -> int:
        return len(self.structure)


def _open_lines(path: str | Path) -> tuple[str, list[str]]:
    if str(path) == "-":
        return "<stdin>", sys.stdin.read().splitlines()
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidStructureError(f"target file not found: {file}") from None
    except IsADirectoryError:
        raise InvalidStructureError(f"target path is a directory: {file}") from None
    except UnicodeDecodeError as error:
        raise InvalidStructureError(f"{file}: not UTF-8 text ({error.reason})") from None
    return str(file), text.splitlines()


def _is_constraint_line(line: str) -> bool:
    """A line of letters only: an IUPAC sequence constraint (validated by Target)."""
    return line.isalpha()


def parse_target_lines(lines: Iterable[str], name: str = "<input>") -> list[Target]:
    r"""Parse target lines in any of the accepted formats.

    Accepted, mixed freely: a bare structure per line; ``id<TAB>structure`` (optionally
    ``<TAB>constraint``); FASTA-style ``>id`` header lines each followed by its structure.
    A line of letters right after a structure is that target's IUPAC sequence constraint.
    Blank lines and lines starting with ``#`` are ignored; trailing ``\r`` (CRLF files) is
    tolerated.

    Args:
        lines: The lines of the file.
        name: The file name used in error messages.

    Returns:
        The targets in file order; unnamed targets get their 1-based index as id.

    Raises:
        InvalidStructureError: with ``name:line`` for the first malformed line.
    """
    targets: list[Target] = []
    pending_id: str | None = None
    pending_line = 0
    seen: set[str] = set()
    constrainable = False  # the previous line was a structure without a constraint
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n").strip()
        where = f"{name}:{number}"
        if not line or line.startswith("#"):
            continue
        if line.startswith(">"):
            if pending_id is not None:
                raise InvalidStructureError(
                    f"header '>{pending_id}' has no structure (another header follows on line "
                    f"{number})",
                    source=f"{name}:{pending_line}",
                )
            pending_id = line[1:].strip() or str(len(targets) + 1)
            pending_line = number
            constrainable = False
            continue
        if pending_id is None and constrainable and _is_constraint_line(line):
            previous = targets[-1]
            targets[-1] = _target(previous.id, previous.structure, line, where)
            constrainable = False
            continue
        constraint = None
        if "\t" in line:
            target_id, _, rest = line.partition("\t")
            target_id = target_id.strip()
            structure, _, constraint = rest.partition("\t")
            constraint = constraint.strip() or None
        else:
            target_id, structure = (pending_id or str(len(targets) + 1)), line
        pending_id = None
        structure = parse_structure(structure, source=where)
        if target_id in seen:
            raise InvalidStructureError(f"duplicate target id {target_id!r}", source=where)
        seen.add(target_id)
        targets.append(_target(target_id, structure, constraint, where))
        constrainable = constraint is None
    if pending_id is not None:
        raise InvalidStructureError(
            f"header '>{pending_id}' has no structure", source=f"{name}:{pending_line}"
        )
    if not targets:
        raise InvalidStructureError(f"{name}: no targets found")
    return targets


def _target(target_id: str, structure: str, constraint: str | None, where: str) -> Target:
    """A Target, with a constraint error reported at ``where``."""
    try:
        return Target(target_id, structure, constraint)
    except ValueError as error:
        detail = str(error).removeprefix(f"target {target_id}: ")
        raise InvalidStructureError(f"target {target_id}: {detail}", source=where) from None


def read_targets(path: str | Path) -> list[Target]:
    """Read a target file (``-`` for stdin); see :func:`parse_target_lines` for the format.

    Args:
        path: File path or ``-``.

    Returns:
        The targets.

    Raises:
        InvalidStructureError: the file is missing, unreadable or malformed.
    """
    name, lines = _open_lines(path)
    return parse_target_lines(lines, name)


def resolve_targets(spec: str) -> list[Target]:
    """Interpret a ``--target`` argument: ``-`` (stdin), a file path, or a literal structure.

    Args:
        spec: The argument.

    Returns:
        The targets.

    Raises:
        InvalidStructureError: the file or the literal structure is malformed.
    """
    if spec == "-" or Path(spec).is_file():
        return read_targets(spec)
    if set(spec.strip()) <= ALLOWED and spec.strip():
        return [Target("1", parse_structure(spec, source="--target"))]
    if any(sep in spec for sep in ("/", "\\")) or spec.endswith((".txt", ".dbn", ".fa")):
        raise InvalidStructureError(f"target file not found: {spec}")
    return [Target("1", parse_structure(spec, source="--target"))]
