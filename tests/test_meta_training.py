"""Meta-training: checkpoints, resume, deferred rewards, validation, and the meta design modes."""

from __future__ import annotations

import csv
import json
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from autorl.cli import main
from envs.dot_bracket import Target
from envs.folding import mfe_structure
from envs.rna_design import RnaDesignConfig
from envs.vector import RnaDesignVecEnv
from meta.checkpoints import CheckpointError, load_checkpoint
from meta.config import META_LEARNA
from meta.design import design
from meta.training import MetaTrainer, MetaTrainSettings

REPO = Path(__file__).resolve().parents[1]

#: Short training targets (MFE structures of random sequences, 24-40 nt).
TRAIN = [
    "((((((....))))))........",
    "..((((((.....))))))...((((....))))",
    "(((((.....)))))..(((....)))",
    ".((((((((....)))).))))......",
    "((((....))))...((((((....))))))..",
    "...(((((((.......)))))))....",
    "((((((.((....)).))))))..........",
    "..(((((....)))))..(((((....)))))......",
]
VALIDATION = ["((((((....))))))..((((....))))", "....(((((......)))))...."]
FAST = ["--n-steps", "16", "--seed", "3", "--device", "cpu", "--quiet"]


def _write(path: Path, structures: list[str], prefix: str) -> Path:
    path.write_text("".join(f"{prefix}{i}\t{s}\n" for i, s in enumerate(structures)))
    return path


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


@pytest.fixture
def data(tmp_path: Path) -> tuple[Path, Path]:
    return _write(tmp_path / "train.txt", TRAIN, "t"), _write(tmp_path / "val.txt", VALIDATION, "v")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A run directory after 2,048 steps with validation (shared by the tests below)."""
    root = tmp_path_factory.mktemp("meta")
    train = _write(root / "train.txt", TRAIN, "t")
    val = _write(root / "val.txt", VALIDATION, "v")
    out = root / "run"
    code = main(
        [
            "meta-train",
            "--train-data",
            str(train),
            "--timesteps",
            "2048",
            "--validation-data",
            str(val),
            "--validation-time",
            "1",
            "--out",
            str(out),
            *FAST,
        ]
    )
    assert code == 0
    return out


def test_meta_train_writes_checkpoints_logs_and_validation(trained: Path):
    for name in ("latest.zip", "latest.json", "best.zip", "best.json", "run.json"):
        assert (trained / name).is_file(), name
    checkpoint = load_checkpoint(trained / "latest.zip")
    assert checkpoint.timesteps >= 2048
    assert checkpoint.config == META_LEARNA
    assert checkpoint.meta["seed"] == 3 and "viennarna" in checkpoint.meta["versions"]
    assert list((trained / "logs" / "session-1").glob("events.out.tfevents.*")), "no events"
    rows = _csv(trained / "logs" / "session-1" / "progress.csv")
    assert rows and "meta/solved_fraction" in rows[-1]
    validation = _csv(trained / "validation.csv")
    assert validation and int(validation[-1]["total"]) == len(VALIDATION)
    best = load_checkpoint(trained / "best.zip")
    assert 0.0 <= best.meta["validation_fraction"] <= 1.0
    run = json.loads((trained / "run.json").read_text())
    assert run["train_targets"] == len(TRAIN) and len(run["train_data_sha256"]) == 64


@pytest.mark.parametrize("method", ["meta-learna", "meta-learna-adapt"])
def test_design_with_a_trained_checkpoint(trained: Path, method: str, capsys):
    code = main(
        [
            "design",
            "--target",
            "((((((....))))))..((((....))))",
            "--method",
            method,
            "--model",
            str(trained / "latest.zip"),
            "--time-limit",
            "30",
            "--format",
            "json",
            "--quiet",
        ]
    )
    [result] = json.loads(capsys.readouterr().out)
    assert code == 0 and result["solved"] and result["method"] == method
    assert mfe_structure(result["sequence"]) == "((((((....))))))..((((....))))"


def test_resume_continues_the_step_count(trained: Path, tmp_path: Path):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    before = load_checkpoint(run / "latest.zip").timesteps
    train = json.loads((run / "run.json").read_text())["settings"]["train_data"]
    code = main(
        [
            "meta-train",
            "--train-data",
            train,
            "--timesteps",
            "4096",
            "--out",
            str(run),
            "--resume",
            *FAST,
        ]
    )
    assert code == 0
    after = load_checkpoint(run / "latest.zip").timesteps
    assert before >= 2048 and after >= 4096
    assert _csv(run / "logs" / "session-1" / "progress.csv"), "the first session's log is kept"
    steps = [
        int(r["time/total_timesteps"]) for r in _csv(run / "logs" / "session-2" / "progress.csv")
    ]
    resumed = [s for s in steps if s > before]
    assert resumed and min(resumed) > before, "the resumed run started counting from 0"
    # Spent budget: a resume of a finished run trains no further.
    assert (
        main(
            [
                "meta-train",
                "--train-data",
                train,
                "--timesteps",
                "4096",
                "--out",
                str(run),
                "--resume",
                *FAST,
            ]
        )
        == 0
    )
    assert load_checkpoint(run / "latest.zip").timesteps == after


def test_init_continues_a_checkpoint_in_a_new_run(trained: Path, data, tmp_path: Path, capsys):
    """--init: the checkpoint's weights and configuration start a new run, recorded in it."""
    train, _ = data
    source = load_checkpoint(trained / "latest.zip")
    out = tmp_path / "continued"
    args = ["meta-train", "--train-data", str(train), "--init", str(trained / "latest.zip")]
    assert main([*args, "--timesteps", "64", "--out", str(out), *FAST]) == 0
    continued = load_checkpoint(out / "latest.zip")
    assert continued.config == source.config
    assert 64 <= continued.timesteps < source.timesteps, "a new run counts its own steps"
    lineage = continued.meta["init"]
    assert lineage["timesteps"] == source.timesteps and len(lineage["sha256"]) == 64
    assert json.loads((out / "run.json").read_text())["init"]["path"] == lineage["path"]

    # Training moved the weights away from the checkpoint's, but started from them: the
    # continued policy is far closer to its start than one initialized with another seed.
    def weights(path: Path) -> dict[str, torch.Tensor]:
        with zipfile.ZipFile(path) as archive, archive.open("policy.pth") as file:
            return torch.load(file, map_location="cpu")

    start, after = weights(trained / "latest.zip"), weights(out / "latest.zip")
    assert any(not torch.equal(start[k], after[k]) for k in start)
    fresh = tmp_path / "fresh"
    assert (
        main(
            [
                "meta-train",
                "--train-data",
                str(train),
                "--timesteps",
                "64",
                "--out",
                str(fresh),
                *FAST,
                "--seed",
                "9",
            ]
        )
        == 0
    )
    scratch = weights(fresh / "latest.zip")
    drift = sum(float((start[k] - after[k]).abs().sum()) for k in start)
    distance = sum(float((start[k] - scratch[k]).abs().sum()) for k in start)
    assert drift < 0.1 * distance
    # --init with --resume, a missing checkpoint and another configuration are refused.
    assert main([*args, "--timesteps", "64", "--out", str(out), "--resume", *FAST]) == 2
    assert "cannot be combined with --resume" in capsys.readouterr().err
    missing = ["meta-train", "--train-data", str(train), "--init", str(tmp_path / "no.zip")]
    assert main([*missing, "--timesteps", "64", "--out", str(tmp_path / "x"), *FAST]) == 2
    assert "model not found" in capsys.readouterr().err
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"fc_units": 8}))
    other = [*args, "--config", str(config), "--timesteps", "64", "--out", str(tmp_path / "y")]
    assert main([*other, *FAST]) == 2
    assert "--config differs" in capsys.readouterr().err
    assert not (tmp_path / "y").exists(), "nothing is written for a refused run"


def test_run_directory_and_resume_are_checked(trained: Path, data, tmp_path: Path, capsys):
    train, _ = data
    args = ["meta-train", "--train-data", str(train), "--timesteps", "64", *FAST]
    assert main([*args, "--out", str(trained)]) == 2
    assert "already holds a meta-training run" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "empty"), "--resume"]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    other = _write(tmp_path / "other.txt", TRAIN[:3], "o")
    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    assert (
        main(
            [
                "meta-train",
                "--train-data",
                str(other),
                "--timesteps",
                "4096",
                "--out",
                str(copy),
                "--resume",
                *FAST,
            ]
        )
        == 2
    )
    assert "not the training file this run started with" in capsys.readouterr().err


def test_training_on_benchmark_targets_is_refused(shared_data: Path, tmp_path: Path, capsys):
    benchmark = (shared_data / "rfam_taneda.txt").read_text().splitlines()[4].split("\t")[1]
    train = _write(tmp_path / "train.txt", [*TRAIN, benchmark], "t")
    code = main(
        [
            "meta-train",
            "--train-data",
            str(train),
            "--timesteps",
            "64",
            "--out",
            str(tmp_path / "run"),
            *FAST,
        ]
    )
    assert code == 2
    assert "rfam-taneda:5" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--timesteps", "0"], "--timesteps must be >= 1"),
        (["--time-limit", "-1"], "--time-limit must be > 0"),
        (["--timesteps", "64", "--workers", "0"], "--workers must be >= 1"),
    ],
)
def test_bad_arguments_exit_2(data, tmp_path: Path, capsys, args, message):
    train, _ = data
    code = main(
        ["meta-train", "--train-data", str(train), "--out", str(tmp_path / "r"), *args, *FAST]
    )
    assert code == 2 and message in capsys.readouterr().err


def _design_with(method: str, model: Path) -> int:
    return main(
        ["design", "--target", "((((....))))", "--method", method, "--model", str(model), "--quiet"]
    )


def test_corrupt_and_mismatched_checkpoints_are_refused(trained: Path, tmp_path: Path, capsys):
    corrupt = tmp_path / "corrupt.zip"
    corrupt.write_bytes((trained / "latest.zip").read_bytes()[:500])
    shutil.copy(trained / "latest.json", tmp_path / "corrupt.json")
    assert _design_with("meta-learna", corrupt) == 2
    assert "corrupt.zip" in capsys.readouterr().err

    lonely = tmp_path / "lonely.zip"
    shutil.copy(trained / "latest.zip", lonely)
    assert _design_with("meta-learna", lonely) == 2
    err = capsys.readouterr().err
    assert "lonely.json" in err and "missing" in err

    mismatched = tmp_path / "mismatched.zip"
    shutil.copy(trained / "latest.zip", mismatched)
    config = json.loads((trained / "latest.json").read_text())
    config["fc_units"] = 17
    (tmp_path / "mismatched.json").write_text(json.dumps(config))
    assert _design_with("meta-learna-adapt", mismatched) == 2
    err = capsys.readouterr().err
    assert "do not match the configuration" in err and "mismatched.json" in err

    with pytest.raises(CheckpointError, match="model not found"):
        load_checkpoint(tmp_path / "nothing.zip")
    assert _design_with("learna", trained / "latest.zip") == 2


def test_deferred_folding_gives_the_same_rewards_as_synchronous(data):
    train, _ = data
    targets = TRAIN[:5]
    config = RnaDesignConfig(local_improvement=3)
    sync = RnaDesignVecEnv(targets, config, n_envs=6, seed=11)
    deferred = RnaDesignVecEnv(targets, config, n_envs=6, seed=11, deferred=True)
    rng = np.random.default_rng(0)
    expected, got = {}, {}
    tickets: dict[int, tuple[int, int]] = {}
    try:
        sync.reset(), deferred.reset()
        for step in range(120):
            actions = rng.integers(0, 4, size=6)
            _, rewards, dones, infos = sync.step(actions)
            _, zeros, dones_d, infos_d = deferred.step(actions)
            assert (dones == dones_d).all() and not zeros.any()
            for index in np.flatnonzero(dones):
                expected[(step, index)] = (rewards[index], infos[index]["sequence"])
                tickets[infos_d[index]["pending"]] = (step, int(index))
            for ticket, _, _, value, info in deferred.collect(block=step % 7 == 0):
                got[tickets[ticket]] = (value, info["sequence"])
        for ticket, _, _, value, info in deferred.collect(block=True):
            got[tickets[ticket]] = (value, info["sequence"])
        assert deferred.pending == 0
    finally:
        sync.close(), deferred.close()
    assert len(expected) > 10 and got == expected


@pytest.mark.slow
def test_meta_trainer_stops_on_sigint_with_a_checkpoint_and_resumes(data, tmp_path: Path):
    train, _ = data
    out = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "autorl.cli",
        "meta-train",
        "--train-data",
        str(train),
        "--time-limit",
        "600",
        "--out",
        str(out),
        *FAST,
    ]
    proc = subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while (
        not (out / "logs" / "session-1" / "progress.csv").is_file() and time.monotonic() < deadline
    ):
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "--resume continues" in err
    stopped = load_checkpoint(out / "latest.zip").timesteps
    assert stopped > 0
    trainer = MetaTrainer(
        MetaTrainSettings(
            train_data=train,
            out=out,
            timesteps=stopped + 256,
            n_steps=16,
            resume=True,
            device="cpu",
        )
    )
    assert trainer.budget.timesteps_before == stopped and trainer.budget.elapsed_before > 0
    trainer.run()
    assert load_checkpoint(out / "latest.zip").timesteps >= stopped + 256


@pytest.mark.parametrize(
    ("change", "refused"),
    [
        ({"state_radius": 20}, "state_radius 20"),
        # GU pairs widen the action head from 4 actions to 6.
        ({"gu_pairs": True}, "gu_pairs True"),
    ],
)
def test_design_meta_methods_refuse_a_config_that_changes_the_architecture(
    trained: Path, change: dict, refused: str
):
    checkpoint = load_checkpoint(trained / "latest.zip")
    other = checkpoint.config.updated(change)
    with pytest.raises(CheckpointError, match="changes the pretrained model's network: " + refused):
        design(
            Target("t", "((((....))))"),
            method="meta-learna",
            model=checkpoint,
            config=other,
            time_limit=5,
        )


def test_meta_training_gives_numpy_blas_one_thread_while_it_learns(data, tmp_path, blas_spy):
    """The window policy's steps are small numpy products; OpenBLAS's spare threads spin
    on the folding processes' cores (meta.numpy_ppo.BLAS_THREADS)."""
    from stable_baselines3 import PPO

    blas_spy.watch(PPO, "learn")
    train, _ = data
    settings = MetaTrainSettings(
        train_data=train, out=tmp_path / "run", timesteps=64, n_steps=16, device="cpu"
    )
    blas_spy.check(MetaTrainer(settings).run)
