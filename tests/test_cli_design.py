import json
import subprocess
import sys
from pathlib import Path

import pytest

from autorl.cli import main
from envs.folding import mfe_structure

REPO = Path(__file__).resolve().parents[1]
FAST = ["--time-limit", "30", "--seed", "0", "--device", "cpu", "--quiet"]


def test_design_in_process_solves_and_prints_json(capsys, tmp_path):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"n_envs": 16}))
    code = main(
        [
            "design",
            "--target",
            "((((((....))))))",
            "--format",
            "json",
            "--config",
            str(config),
            *FAST,
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    [result] = json.loads(out)
    assert result["solved"] and result["distance"] == 0
    assert mfe_structure(result["sequence"]) == "((((((....))))))"
    assert {"target_id", "structure", "seconds", "episodes", "seed", "versions"} <= set(result)
    assert result["designability"] is None  # checked for unsolved targets only


# Slow (~9 s): the default tier runs the command as a subprocess in
# test_design_reads_stdin_and_prints_text and prints FASTA in test_api.
@pytest.mark.slow
def test_design_as_subprocess_reads_a_file_and_prints_fasta(tmp_path):
    targets = tmp_path / "t.txt"
    targets.write_text("a\t((((....))))\r\n# comment\r\n>b\r\n..((((....))))..\r\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "autorl.cli",
            "design",
            "--target",
            str(targets),
            "--format",
            "fasta",
            *FAST,
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:3] == [">a", "solved", "distance=0"]
    assert lines[2].split()[:3] == [">b", "solved", "distance=0"]
    assert "probability=" in lines[0] and "ensemble_defect=" in lines[0]
    assert mfe_structure(lines[1]) == "((((....))))"
    assert mfe_structure(lines[3]) == "..((((....)))).."
    assert proc.stderr == ""  # no progress when stderr is not a terminal


def test_design_reads_stdin_and_prints_text():
    proc = subprocess.run(
        [sys.executable, "-m", "autorl.cli", "design", "--target", "-", *FAST],
        input="((((....))))\n",
        capture_output=True,
        text=True,
        timeout=240,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    sequence = next(
        line.split()[1] for line in proc.stdout.splitlines() if line.startswith("sequence")
    )
    assert mfe_structure(sequence) == "((((....))))"


def test_unsolved_target_exits_1_and_prints_the_best_design(capsys):
    code = main(
        [
            "design",
            "--target",
            "((((((((((..))))))))))",
            "--format",
            "json",
            "--time-limit",
            "2",
            "--device",
            "cpu",
            "--quiet",
        ]
    )
    captured = capsys.readouterr()
    [result] = json.loads(captured.out)
    assert code == 1 and not result["solved"] and result["sequence"]
    # an unsolved target is checked: a 2-base hairpin is never an MFE structure
    report = result["designability"]
    assert report["undesignable"] is True
    assert report["obstacles"][0]["kind"] == "hairpin-too-short"
    assert report["obstacles"][0]["pair"] == [10, 13]
    assert "target 1 cannot be designed" in captured.err and "pair 10-13" in captured.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "((..)"], "never closed"),
        (["--target", "((..]]"], "pseudoknot"),
        (["--target", "missing/targets.txt"], "not found"),
        (["--target", "((..))", "--time-limit", "0"], "--time-limit"),
        (["--target", "((..))", "--num-solutions", "0"], "--num-solutions"),
        (["--target", "((..))", "--config", "missing.json"], "config file not found"),
        (["--target", "((..))", "--method", "nonsense"], "invalid choice"),
        (["--target", "((..))", "--time-limit", "soon"], "invalid float"),
    ],
)
def test_bad_input_exits_2_with_nothing_on_stdout(capsys, args, message):
    code = main(["design", *args, "--quiet"])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert message in captured.err


def test_bad_file_line_is_named(tmp_path, capsys):
    targets = tmp_path / "t.txt"
    targets.write_text("((..))\n(((..{}))\n")
    assert main(["design", "--target", str(targets), "--quiet"]) == 2
    assert f"{targets}:2" in capsys.readouterr().err


def test_a_config_that_changes_the_pretrained_network_is_refused_with_the_way_out(tmp_path, capsys):
    """A BOHB incumbent of rna-learna has its own network: the meta methods cannot load it."""
    own = json.loads((REPO / "meta" / "models" / "meta-learna.json").read_text())["fc_units"]
    config = tmp_path / "incumbent.json"
    changed = {"fc_units": own + 1, "state_radius": 20, "learning_rate": 1e-3}
    config.write_text(json.dumps(changed))
    code = main(["design", "--target", "((((....))))", "--config", str(config), "--quiet"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert f"fc_units {own + 1} (the model's: {own})" in captured.err
    assert "state_radius 20" in captured.err and "learning_rate" not in captured.err
    assert "method 'learna'" in captured.err


def test_bad_input_subprocess_exit_code():
    proc = subprocess.run(
        [sys.executable, "-m", "autorl.cli", "design", "--target", "(((", "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert proc.returncode == 2 and proc.stdout == "" and "position" in proc.stderr
