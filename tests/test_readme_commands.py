"""Every ``autorl`` command in the README's shell blocks is one the CLI accepts.

The documents the README moved its record to (``docs/issue14-history.md``,
``docs/NOTES.md``) are checked the same way.

Parsing only (nothing runs): a renamed or removed flag, subcommand or choice fails here
instead of in a user's terminal.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from autorl.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
#: Documents whose shell blocks hold ``autorl`` commands, relative to the project's root.
DOCUMENTS = ("README.md", "docs/issue14-history.md", "docs/NOTES.md")


def readme_commands(document: Path = README) -> list[tuple[int, str]]:
    """``(line number, command)`` of every ``autorl ...`` line in a document's bash blocks.

    Lines continued with a backslash are joined; the reported line is the first one.
    """
    commands: list[tuple[int, str]] = []
    in_block, pending, first = False, "", 0
    for number, line in enumerate(document.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("```"):
            in_block = stripped in ("```bash", "```sh")
            pending = ""
            continue
        if not in_block:
            continue
        if not pending:
            first = number
        pending += stripped.removesuffix("\\") + " "
        if stripped.endswith("\\"):
            continue
        command, pending = pending.strip(), ""
        if command.startswith("autorl "):
            commands.append((first, command))
    return commands


def _arguments(command: str) -> list[str]:
    """The command's arguments after ``autorl``, without comments or a shell redirection."""
    words = shlex.split(command, comments=True)[1:]
    for index, word in enumerate(words):
        if re.fullmatch(r"\d?>>?|\||<", word):
            return words[:index]
    return words


def test_the_readme_has_commands_to_check():
    commands = readme_commands()
    assert len(commands) >= 50
    assert any(command.startswith("autorl design ") for _, command in commands)
    assert any(command.startswith("autorl nas ") for _, command in commands)


def test_the_moved_documents_have_commands_to_check():
    for name in DOCUMENTS[1:]:
        assert readme_commands(ROOT / name), name


@pytest.mark.parametrize(
    ("where", "command"),
    [
        pytest.param(f"{name}:{line}", command, id=f"{name}:{line}")
        for name in DOCUMENTS
        for line, command in readme_commands(ROOT / name)
    ],
)
def test_a_readme_command_parses(where, command, capsys):
    parser = build_parser()
    try:
        args = parser.parse_args(_arguments(command))
    except SystemExit:
        pytest.fail(f"{where}: {command}\n{capsys.readouterr().err}")
    assert callable(args.run)


def test_a_bad_flag_is_caught(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(_arguments("autorl design --target x.txt --no-such-flag 1"))
    assert "unrecognized arguments" in capsys.readouterr().err
