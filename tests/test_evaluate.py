"""``autorl evaluate`` and :mod:`benchmarks.agent_runs`: fresh seeds, full budget, resume."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from autorl.bohb.executor import Job, ProcessExecutor, SerialExecutor
from autorl.cli import main
from autorl.commands import evaluate
from benchmarks import agent_runs
from benchmarks.agent_runs import (
    CAP,
    EvaluationPlan,
    RunObjective,
    load_runs,
    pending_runs,
    run_plan,
    score_run,
    summarize_runs,
)
from meta.agents import ZOO_CARTPOLE, AgentConfig

SMALL = {"n_steps": 64, "batch_size": 64, "n_epochs": 1}


def _config_file(folder: Path, settings: dict[str, Any], name: str = "small.json") -> Path:
    path = folder / name
    path.write_text(json.dumps(settings), encoding="utf-8")
    return path


def _evaluate(*args: str) -> int:
    return main(["evaluate", "--task", "cartpole", "--quiet", *args])


@pytest.fixture(scope="module")
def base_eval(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny evaluation: a small config and SB3's defaults, 2 seeds, 512 steps, 2 workers."""
    folder = tmp_path_factory.mktemp("evaluate")
    config = _config_file(folder, SMALL)
    out = folder / "out"
    code = _evaluate(
        "--config", str(config), "--reference", "sb3-default", "--seeds", "2",
        "--timesteps", "512", "--workers", "2", "--out", str(out),
    )  # fmt: skip
    assert code == 0
    return out


def test_writes_runs_summary_table_and_plot(base_eval: Path):
    assert sorted(path.name for path in base_eval.iterdir()) == sorted(agent_runs.FILES)
    records = load_runs(base_eval)
    assert sorted((r["label"], r["seed"]) for r in records) == [
        ("sb3-default", 10000),
        ("sb3-default", 10001),
        ("small", 10000),
        ("small", 10001),
    ]
    for record in records:
        assert record["status"] == "ok" and record["task"] == "cartpole"
        assert record["budget"] == 512 and record["timesteps"] >= 512  # the full budget
        assert len(record["returns"]) == len(record["lengths"]) == record["episodes"] > 0
        assert record["episodes_to_threshold"] == CAP  # 512 steps solve nothing
        assert record["timesteps_to_threshold"] is None
        recent = record["returns"][-20:]
        assert record["final_return"] == pytest.approx(sum(recent) / len(recent))
        assert "torch" in record["versions"]
    small = next(r for r in records if r["label"] == "small")
    assert small["config"] == AgentConfig.from_flat(SMALL).to_flat()
    sb3 = next(r for r in records if r["label"] == "sb3-default")
    assert sb3["config"] == json.loads(json.dumps(AgentConfig().to_flat()))
    assert sb3["timesteps"] == 2048  # one full rollout of SB3's n_steps
    summary = json.loads((base_eval / "summary.json").read_text())
    assert summary["settings"]["seeds"] == [10000, 10001]
    assert summary["settings"]["timesteps"] == 512 and summary["settings"]["cap"] == CAP
    row = summary["labels"]["small"]
    assert row["runs"] == 2 and row["errors"] == 0
    assert row["episodes_to_threshold"]["median"] == CAP
    assert row["episodes_to_threshold"]["failures"] == 2
    assert row["timesteps_to_threshold"]["failures"] == 2
    assert row["final_return_mean"] > 0
    table = (base_eval / "table.md").read_text()
    assert "| small | 2 | 0 | 3000 |" in table and "| sb3-default |" in table
    assert (base_eval / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_resume_adds_seeds_without_rerunning(
    base_eval: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    out = tmp_path / "out"
    shutil.copytree(base_eval, out)
    before = load_runs(out)
    config = _config_file(tmp_path, SMALL)
    code = _evaluate(
        "--config", str(config), "--seeds", "3", "--timesteps", "512", "--out", str(out),
        "--resume",
    )  # fmt: skip
    assert code == 0
    records = load_runs(out)
    assert records[: len(before)] == before  # kept as they were
    assert [(r["label"], r["seed"]) for r in records[len(before) :]] == [("small", 10002)]
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["labels"]) == ["small"] and summary["labels"]["small"]["runs"] == 3
    assert "| small | 3 | 0 |" in capsys.readouterr().out


def test_resume_refuses_a_changed_config_or_budget(
    base_eval: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    before = (base_eval / "runs.jsonl").read_bytes()
    changed = _config_file(tmp_path, {**SMALL, "n_epochs": 2})
    args = ["--config", str(changed), "--seeds", "2", "--out", str(base_eval), "--resume"]
    assert _evaluate(*args, "--timesteps", "512") == 2
    err = capsys.readouterr().err
    assert "label 'small' was evaluated with another configuration (n_epochs 1, now 2)" in err
    assert _evaluate("--reference", "sb3-default", "--timesteps", "1024", "--out",
                     str(base_eval), "--resume") == 2  # fmt: skip
    assert "budget 512, not 1024" in capsys.readouterr().err
    assert (base_eval / "runs.jsonl").read_bytes() == before


def test_existing_output_needs_resume(base_eval: Path, capsys: pytest.CaptureFixture[str]):
    before = sorted(path.name for path in base_eval.iterdir())
    args = ["--reference", "sb3-default", "--timesteps", "512", "--out", str(base_eval)]
    assert _evaluate(*args) == 2
    assert "pass --resume" in capsys.readouterr().err
    assert sorted(path.name for path in base_eval.iterdir()) == before


class FailOnSeed(RunObjective):
    """Raises for one seed; other seeds get made-up episodes (no training: fast)."""

    def __init__(self, bad_seed: int):
        super().__init__("cartpole")
        self.bad_seed = bad_seed

    def __call__(self, config: dict[str, Any], budget: float, seed: int) -> dict[str, Any]:
        if seed == self.bad_seed:
            raise RuntimeError("boom")
        info = score_run([500.0] * 25, [500] * 25, 475.0, self.cap)
        info.update(timesteps=int(budget), seconds=0.1)
        return {"loss": float(info["episodes_to_threshold"]), "info": info}


def _plan(seeds: list[int], **configs: AgentConfig) -> EvaluationPlan:
    return EvaluationPlan("cartpole", configs or {"a": AgentConfig()}, seeds, 12_500)


def test_a_failing_run_is_recorded_and_the_others_finish(tmp_path: Path):
    plan = _plan([1, 2, 3])
    seen: list[int] = []
    with ProcessExecutor(FailOnSeed(bad_seed=2), workers=2) as executor:
        new = run_plan(plan, tmp_path, executor, Job, on_run=lambda p: seen.append(p.failed))
    assert sorted(r["seed"] for r in new) == [1, 2, 3] and seen[-1] == 1
    failed = next(r for r in new if r["seed"] == 2)
    assert failed["status"] == "failed" and failed["error"] == "RuntimeError: boom"
    assert "episodes_to_threshold" not in failed and "boom" in failed["traceback"]
    good = next(r for r in new if r["seed"] == 1)
    assert good["status"] == "ok" and good["episodes_to_threshold"] == 20
    assert good["timesteps_to_threshold"] == 20 * 500
    records = load_runs(tmp_path)
    assert pending_runs(plan, records) == [("a", 2)]  # resume runs it again
    row = summarize_runs(plan, records)["a"]
    assert row["errors"] == 1 and row["failed_seeds"] == [2]
    assert row["episodes_to_threshold"]["n"] == 2 and row["episodes_to_threshold"]["median"] == 20
    # --resume retries the failed run; its new record is the one that counts
    with SerialExecutor(FailOnSeed(bad_seed=-1)) as executor:
        assert [r["seed"] for r in run_plan(plan, tmp_path, executor, Job, records)] == [2]
    assert pending_runs(plan, load_runs(tmp_path)) == []


class FailOnFirstSeed(FailOnSeed):
    """:class:`RunObjective`'s signature; raises for seed 10000 (stands in for it in the CLI)."""

    def __init__(self, task: str, cap: int = CAP, device: str = "cpu", threads: int = 1):
        super().__init__(bad_seed=10_000)


def test_cli_exits_1_when_a_run_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setattr(agent_runs, "RunObjective", FailOnFirstSeed)
    out = tmp_path / "out"
    args = ["--reference", "zoo", "--seeds", "2", "--timesteps", "64", "--out", str(out)]
    assert _evaluate(*args) == 1
    captured = capsys.readouterr()
    assert "run zoo seed 10000 failed: RuntimeError: boom" in captured.err
    assert "1 run(s) failed" in captured.err
    assert "| zoo | 2 | 1 | 20 |" in captured.out
    assert sorted(path.name for path in out.iterdir()) == sorted(agent_runs.FILES)


class _InterruptAfterOne(SerialExecutor):
    """Finishes one run, then acts as if Ctrl-C was pressed."""

    def wait(self) -> list[Any]:
        if getattr(self, "_done", False):
            raise KeyboardInterrupt
        self._done = True
        return super().wait()


def test_interruption_keeps_finished_runs_and_a_partial_line_is_dropped(tmp_path: Path):
    plan = _plan([1, 2])
    with pytest.raises(KeyboardInterrupt):
        run_plan(plan, tmp_path, _InterruptAfterOne(FailOnSeed(-1)), Job)
    with open(tmp_path / "runs.jsonl", "a") as file:
        file.write('{"label": "a", "seed": 2, "sta')  # killed while writing
    records = load_runs(tmp_path)
    assert [(r["label"], r["seed"]) for r in records] == [("a", 1)]
    assert agent_runs.prepare(plan, tmp_path, resume=True) == records
    new = run_plan(plan, tmp_path, SerialExecutor(FailOnSeed(-1)), Job, records)
    assert [r["seed"] for r in new] == [2]
    assert [r["seed"] for r in load_runs(tmp_path)] == [1, 2]


def test_ctrl_c_exits_130_and_keeps_the_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    def interrupted(plan: EvaluationPlan, out: Path, *args: Any, **kwargs: Any) -> None:
        out.mkdir()
        (out / "runs.jsonl").write_text("")
        raise KeyboardInterrupt

    monkeypatch.setattr(agent_runs, "run_plan", interrupted)
    out = tmp_path / "out"
    assert _evaluate("--reference", "zoo", "--timesteps", "64", "--out", str(out)) == 130
    captured = capsys.readouterr()
    assert "--resume continues" in captured.err and captured.out == ""
    assert sorted(path.name for path in out.iterdir()) == ["runs.jsonl"]


def test_summary_statistics_and_table():
    plan = _plan([1, 2, 3], fast=AgentConfig(), slow=ZOO_CARTPOLE)
    records = []
    for seed, success in ((1, 30), (2, 50), (3, None)):
        returns = [10.0] * 5 + [500.0] * (success or 0) if success else [10.0] * 40
        record = {"label": "fast", "seed": seed, "status": "ok"}
        records.append({**record, **score_run(returns, [int(r) for r in returns], 475.0)})
    records.append({"label": "slow", "seed": 1, "status": "failed", "error": "x"})
    summary = summarize_runs(plan, records)
    fast = summary["fast"]
    # 19 returns of 500 and one of 10 in the window: (19 * 500 + 10) / 20 = 475.5 >= 475
    assert fast["episodes_to_threshold"]["median"] == 24
    assert fast["episodes_to_threshold"]["failures"] == 1  # the failure scores the cap
    assert fast["episodes_to_threshold"]["mean"] == pytest.approx((24 + 24 + CAP) / 3)
    assert fast["timesteps_to_threshold"]["median"] == 5 * 10 + 19 * 500
    assert fast["timesteps_to_threshold"]["failures"] == 1
    assert fast["final_return_mean"] == pytest.approx((500 + 500 + 10) / 3)
    slow = summary["slow"]
    assert (slow["runs"], slow["errors"], slow["missing"]) == (1, 1, 2)
    assert slow["episodes_to_threshold"] is None
    table = agent_runs.markdown_table(plan, summary)
    assert "| fast | 3 | 0 | 24 | 1016.0 ± 992.0 | 1/3 | 9550 | 1/3 | 336.7 ± 163.3 |" in table
    assert "| slow | 1 (+2 missing) | 1 | - | - | - | - | - | - |" in table
    assert "seeds 1..3" in table


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--task", "pong", "--reference", "zoo"], "unknown task 'pong'"),
        ([], "nothing to evaluate"),
        (["--reference", "best"], "unknown reference 'best'"),
        (["--task", "cartpole-variants", "--reference", "zoo"], "applies to --task cartpole"),
        (["--config", "MISSING"], "config file not found"),
        (["--config", "BAD"], "bad.json: unknown key 'n_step'"),
        (
            ["--config", "GOOD", "--label", "sb3-default", "--reference", "sb3-default"],
            "duplicate label 'sb3-default'",
        ),  # fmt: skip
        (["--reference", "zoo", "--reference", "zoo"], "duplicate label 'zoo'"),
        (["--config", "GOOD", "--label", "a", "--label", "b"], "2 --label for 1 --config"),
        (["--reference", "zoo", "--seeds", "0"], "--seeds must be >= 1"),
        (["--reference", "zoo", "--first-seed", "-1"], "seeds must be in [0, 2**32)"),
        (["--reference", "zoo", "--timesteps", "0"], "--timesteps must be >= 1"),
        (["--reference", "zoo", "--workers", "0"], "--workers must be >= 1"),
        (["--reference", "zoo", "--device", "gpu"], "--device: expected"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
):
    files = {
        "BAD": _config_file(tmp_path, {"n_step": 64}, "bad.json"),
        "GOOD": _config_file(tmp_path, SMALL),
        "MISSING": tmp_path / "missing.json",
    }
    args = [str(files[arg]) if arg in files else arg for arg in args]
    if "--task" not in args:
        args = ["--task", "cartpole", *args]
    if "--timesteps" not in args:
        args += ["--timesteps", "64"]
    out = tmp_path / "out"
    assert main(["evaluate", *args, "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1
    assert not out.exists()


def test_copies_match_and_references():
    assert tuple(agent_runs.REFERENCES) == evaluate.REFERENCES
    assert evaluate.FIRST_SEED == agent_runs.FIRST_SEED
    assert agent_runs.reference_config("sb3-default", "cartpole-variants") == AgentConfig()
    assert agent_runs.reference_config("zoo", "cartpole") == ZOO_CARTPOLE
    assert agent_runs.default_seeds(3) == [10000, 10001, 10002]
    assert agent_runs.default_seeds(2, 7) == [7, 8]
