import json
from pathlib import Path

import pytest

import autorl.commands.data as data_command
from autorl.cli import main
from envs.dot_bracket import read_targets

SMALL = ["--count", "12", "--min-length", "50", "--max-length", "70", "--quiet"]


def generate(out: Path, *extra: str) -> int:
    return main(["data", "generate", *SMALL, "--out", str(out), *extra])


def test_generate_writes_count_targets_and_a_summary(tmp_path, capsys, shared_data):
    out = tmp_path / "train.txt"
    assert generate(out, "--seed", "1") == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "wrote 12 targets" in captured.err and "rfam-taneda" in captured.err
    targets = read_targets(out)
    assert len(targets) == 12 and all(50 <= len(t) <= 70 for t in targets)
    assert len({t.structure for t in targets}) == 12


def test_same_seed_same_file_with_one_or_two_workers(tmp_path):
    one, two, other = tmp_path / "1.txt", tmp_path / "2.txt", tmp_path / "3.txt"
    assert generate(one, "--seed", "5") == 0
    assert generate(two, "--seed", "5", "--workers", "2") == 0
    assert generate(other, "--seed", "6") == 0
    assert one.read_bytes() == two.read_bytes() != other.read_bytes()


def test_generate_refuses_benchmark_targets_and_writes_nothing(
    tmp_path, capsys, shared_data, monkeypatch
):
    taneda = read_targets(shared_data / "rfam_taneda.txt")[2].structure
    monkeypatch.setattr(
        data_command, "generate_structures", lambda *a, **k: ["((((....))))", taneda]
    )
    out = tmp_path / "train.txt"
    assert generate(out) == 2
    err = capsys.readouterr().err
    assert "must not be trained on" in err and "gen-000002 = rfam-taneda:3" in err
    assert not out.exists()


def test_check_refuses_a_file_with_a_benchmark_target(tmp_path, capsys, shared_data):
    taneda = read_targets(shared_data / "rfam_taneda.txt")[4].structure
    good, bad = tmp_path / "good.txt", tmp_path / "bad.txt"
    good.write_text("a\t((((....))))\n")
    bad.write_text(f"a\t((((....))))\nb\t{taneda}\n")
    assert main(["data", "check", str(good)]) == 0
    assert "no overlap with" in capsys.readouterr().err
    assert main(["data", "check", str(bad)]) == 2
    captured = capsys.readouterr()
    assert "1 of 2 targets" in captured.err and "b = rfam-taneda:5" in captured.err
    assert captured.out == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--count", "0"], "--count must be >= 1"),
        (["--count", "5", "--min-length", "90", "--max-length", "60"], "--min-length (90) must"),
        (["--count", "5", "--gc-min", "0.8"], "--gc-min (0.8) must be <= --gc-max (0.65)"),
        (["--count", "5", "--workers", "0"], "--workers must be >= 1"),
    ],
)
def test_bad_arguments_exit_2(tmp_path, capsys, args, message):
    out = tmp_path / "x.txt"
    assert main(["data", "generate", *args, "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_missing_output_folder_exits_2_before_generating(tmp_path, capsys):
    out = tmp_path / "no" / "x.txt"
    assert main(["data", "generate", "--count", "5", "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_generate_grammar_and_weighted_mixture(tmp_path, capsys, shared_data):
    grammar, mixed = tmp_path / "g.txt", tmp_path / "m.txt"
    assert generate(grammar, "--source", "grammar") == 0
    assert "wrote 12 targets" in capsys.readouterr().err
    text = grammar.read_text()
    assert "loop-grammar sketches" in text and text.splitlines()[2].endswith("source=grammar")
    assert all(50 <= len(t) <= 70 for t in read_targets(grammar))
    weights = ["--source", "mixture", "--mixture-weights", "grammar:1,mfe:1"]
    assert generate(mixed, *weights) == 0
    assert "mixture_weights=grammar:0.5,mfe:0.5" in mixed.read_text()


def test_designable_lists_proofs_and_summarises_each_set(tmp_path, capsys):
    targets = tmp_path / "t.txt"
    targets.write_text(
        "fine\t((((....))))\nbulged\t....(.((((((......)))))))\nlong\t(" + "." * 31 + "((....)))\n"
    )
    assert main(["data", "designable", str(targets), "--quiet"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    # one line per obstacle found (the long loop also loses to its opening)
    assert [line.split("\t")[1] for line in lines] == ["bulged", "long", "long"]
    assert "pair 5-25 cannot be an MFE pair" in lines[0] and "0.60 kcal/mol" in lines[0]
    assert "31 unpaired" in lines[1] and "pair 1-41 open" in lines[2]
    assert "3 targets, 2 proved undesignable (bulged, long), so at most 1 can be solved" in (
        captured.err
    )


def test_designable_json_has_every_report_and_the_settings(tmp_path, capsys):
    targets = tmp_path / "t.txt"
    targets.write_text("a\t((((....))))\nb\t..(....)..\n")
    code = main(["data", "designable", str(targets), "--json", "--no-lonely-pairs", "--quiet"])
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    [entry] = payload["datasets"].values()
    assert entry["targets"] == 2 and entry["undesignable"] == ["b"] and entry["ceiling"] == 1
    assert entry["reports"]["a"]["undesignable"] is False and entry["reports"]["a"]["length"] == 12
    assert entry["reports"]["b"]["obstacles"][0]["kind"] == "lonely-pair"
    assert payload["energy"]["no_lonely_pairs"] is True
    assert payload["max_assignments"] == 300000 and "viennarna" in payload["versions"]


@pytest.mark.slow  # 15 s; the tests above cover the command on small files
def test_designable_proves_rfam_taneda_ceiling(capsys, shared_data):
    assert main(["data", "designable", "rfam-taneda", "--data-dir", str(shared_data)]) == 0
    captured = capsys.readouterr()
    # 16 and 23: loops longer than 30; 20: a bulged terminal pair; 11: a two-pair helix
    ids = [line.split("\t")[1] for line in captured.out.splitlines()]
    assert ids == ["11", "16", "20", "23"]
    assert "so at most 25 can be solved" in captured.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.txt"], "unknown dataset"),
        (["x.txt", "--max-assignments", "0"], "--max-assignments"),
        (["x.txt", "--dangles", "1"], "invalid choice"),
    ],
)
def test_designable_bad_input_exits_2(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.txt").write_text("((((....))))\n")
    assert main(["data", "designable", *args, "--quiet"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and message in captured.err
