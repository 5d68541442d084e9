import io

import numpy as np
import pytest

from envs.dot_bracket import (
    InvalidStructureError,
    Target,
    pair_table,
    parse_structure,
    parse_target_lines,
    read_targets,
    resolve_targets,
)


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("((..)", 1, "never closed"),
        ("(..))", 5, "no matching '('"),
        ("..[[..]]", 3, "pseudoknot"),
        ("((..{))", 5, "pseudoknot"),
        ("((AU))", 3, "letter 'A'"),
        ("((.1))", 4, "digit"),
        ("((. .))", 4, "whitespace"),
        ("((.-.))", 4, "invalid character"),
    ],
)
def test_bad_structures_name_position_and_problem(text, position, fragment):
    with pytest.raises(InvalidStructureError) as info:
        parse_structure(text)
    assert info.value.position == position
    assert f"position {position}" in str(info.value)
    assert fragment in str(info.value)


def test_empty_structure_is_rejected():
    with pytest.raises(InvalidStructureError, match="empty"):
        parse_structure("   ")


def test_invalid_structure_error_is_a_value_error():
    assert issubclass(InvalidStructureError, ValueError)


def test_pair_table():
    assert pair_table("((.)).").tolist() == [4, 3, -1, 1, 0, -1]
    assert np.all(pair_table("....") == -1)


def test_all_formats_mixed_with_comments_blank_lines_and_crlf():
    lines = [
        "# a comment\r",
        "\r",
        "((..))\r",
        "named\t(((...)))",
        ">fasta-id",
        "..((....))..",
        "",
        "....",
    ]
    targets = parse_target_lines(lines, "t.txt")
    assert [t.id for t in targets] == ["1", "named", "fasta-id", "4"]
    assert [t.structure for t in targets] == ["((..))", "(((...)))", "..((....))..", "...."]


def test_file_errors_name_file_and_line(tmp_path):
    path = tmp_path / "targets.txt"
    path.write_text("((..))\n# ok\na\t((..)\n", encoding="utf-8")
    with pytest.raises(InvalidStructureError) as info:
        read_targets(path)
    assert f"{path}:3" in str(info.value)
    assert "position 1" in str(info.value)


def test_header_without_structure_and_duplicate_ids(tmp_path):
    with pytest.raises(InvalidStructureError, match=r"x\.txt:1.*no structure"):
        parse_target_lines([">a", ">b", "(..)"], "x.txt")
    with pytest.raises(InvalidStructureError, match=r"x\.txt:2.*duplicate"):
        parse_target_lines(["a\t(..)", "a\t(...)"], "x.txt")
    with pytest.raises(InvalidStructureError, match="no targets"):
        parse_target_lines(["# only a comment", ""], "x.txt")


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(InvalidStructureError, match="not found"):
        read_targets(tmp_path / "nope.txt")
    with pytest.raises(InvalidStructureError, match="directory"):
        read_targets(tmp_path)


def test_non_utf8_file(tmp_path):
    path = tmp_path / "bin.txt"
    path.write_bytes(b"\xff\xfe((..))")
    with pytest.raises(InvalidStructureError, match="UTF-8"):
        read_targets(path)


def test_stdin(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(">x\n((...))\n"))
    assert read_targets("-") == [Target("x", "((...))")]


def test_resolve_targets_literal_file_and_missing(tmp_path):
    assert resolve_targets("((...))") == [Target("1", "((...))")]
    path = tmp_path / "t.txt"
    path.write_text("(...)\n")
    assert resolve_targets(str(path))[0].structure == "(...)"
    with pytest.raises(InvalidStructureError, match="not found"):
        resolve_targets(str(tmp_path / "missing.txt"))
    with pytest.raises(InvalidStructureError, match="position 2"):
        resolve_targets("(x)")


def test_shared_benchmark_files_parse(shared_data):
    for name, count in [("eterna100_v1.txt", 100), ("rfam_taneda.txt", 29)]:
        targets = read_targets(shared_data / name)
        assert len(targets) == count
        assert targets[0].id == "1"


def test_loop_contents_and_lonely_pairs():
    from envs.dot_bracket import is_lonely, loop_contents

    structure = "((.((...)).(....).))..(...)"
    partners = pair_table(structure)
    assert loop_contents(partners, -1, len(structure)) == ([(0, 19), (22, 26)], 2)
    assert loop_contents(partners, 1, 18) == ([(3, 9), (11, 16)], 3)  # a multiloop
    assert loop_contents(partners, 4, 8) == ([], 3)  # a hairpin
    lonely = [(i, int(j)) for i, j in enumerate(partners) if j > i and is_lonely(partners, i, j)]
    assert lonely == [(11, 16), (22, 26)]
