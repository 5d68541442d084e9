"""``autorl benchmark-adaptation``: a meta-trained policy against PPO from scratch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autorl.cli import main
from autorl.commands import benchmark_adaptation, meta_train, train
from benchmarks import adaptation
from benchmarks.adaptation import (
    AdaptationObjective,
    AdaptationPlan,
    job_config,
    label,
    make_plan,
    markdown_table,
    parse_label,
    summarize,
)
from envs.cartpole_variants import TRAINING_RANGES, CartPoleContext
from meta.agents import RNA, AgentConfig
from meta.contexts import OBSERVES_CONTEXT, unseen_contexts

SMALL = {"n_steps": 128, "batch_size": 64, "n_epochs": 1}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("meta")
    config = folder / "small.json"
    config.write_text(json.dumps(SMALL), encoding="utf-8")
    out = folder / "run"
    code = main(
        ["meta-train", "--task", "cartpole-variants", "--config", str(config), "--timesteps",
         "256", "--device", "cpu", "--quiet", "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    return out / "latest.zip"


def _plan(contexts: int = 2, seeds: tuple[int, ...] = (10000,)) -> AdaptationPlan:
    return AdaptationPlan(
        "cartpole-variants",
        Path("ckpt.zip"),
        AgentConfig(),
        unseen_contexts(contexts, 0),
        0,
        list(seeds),
        1000,
    )


def _record(mode: str, index: int, episodes: int, seed: int = 10000, zero_shot=None) -> dict:
    return {
        "label": label(mode, index),
        "seed": seed,
        "status": "ok",
        "episodes_to_threshold": episodes,
        "zero_shot_return": zero_shot,
    }


def test_literal_copies_match():
    assert tuple(OBSERVES_CONTEXT) == benchmark_adaptation.TASKS
    assert train.RNA == RNA and meta_train.TASKS == (RNA, "cartpole-variants")


def test_labels_round_trip_and_bad_labels_are_refused():
    assert parse_label(label("meta", 7)) == ("meta", 7)
    for text in ("meta", "other/1", "scratch/x"):
        with pytest.raises(ValueError, match="not an adaptation run label"):
            parse_label(text)


def test_plan_checks_and_job_configs():
    plan = _plan()
    assert plan.evaluation.runs == [
        ("meta/0", 10000),
        ("scratch/0", 10000),
        ("meta/1", 10000),
        ("scratch/1", 10000),
    ]
    job = job_config(plan, "scratch/1@10000", {"n_envs": 1})
    assert job["mode"] == "scratch" and job["context"] == plan.contexts[1].as_dict()
    assert json.loads(json.dumps(plan.settings()))["normalization_ranges"]["gravity"] == [5, 15]
    with pytest.raises(ValueError, match="has no physics context"):
        AdaptationPlan("rna", Path("x"), AgentConfig(), plan.contexts, 0, [1], 10)
    with pytest.raises(ValueError, match="no contexts"):
        AdaptationPlan("cartpole", Path("x"), AgentConfig(), [], 0, [1], 10)
    with pytest.raises(ValueError, match="repeated seeds"):
        _plan(seeds=(1, 1))


def test_summary_counts_zero_shot_as_zero_and_failures_at_the_cap():
    plan = _plan()
    records = [
        _record("meta", 0, 0, zero_shot=498.0),
        _record("meta", 1, 100, zero_shot=120.0),
        _record("scratch", 0, 300),
        _record("scratch", 1, 3000),
        {**_record("scratch", 1, 5), "seed": 99},  # another seed: not part of the plan
    ]
    summary = summarize(plan, records)
    assert summary["modes"]["meta"]["mean"] == 50 and summary["modes"]["scratch"]["mean"] == 1650
    assert summary["modes"]["scratch"]["failures"] == 1 and summary["zero_shot_solved"] == 1
    assert summary["speedup_mean"] == pytest.approx(33.0) and summary["goal_met"] is True
    assert summary["contexts"][0]["zero_shot_return"] == [498.0]
    assert summary["speedup_mean_solved_by_either"] == pytest.approx(33.0)  # both count
    # A context neither mode solves counts at the cap on both sides of the main ratio only.
    capped = [
        _record("meta", 0, 30),
        _record("scratch", 0, 300),
        _record("meta", 1, 3000),
        _record("scratch", 1, 3000),
    ]
    capped_summary = summarize(plan, capped)
    assert capped_summary["speedup_mean"] == pytest.approx(3300 / 3030)
    assert capped_summary["speedup_mean_solved_by_either"] == pytest.approx(10.0)
    assert capped_summary["solved_by_either"]["meta"]["n"] == 1
    assert "Over the 1 runs that at least one mode solved" in markdown_table(plan, capped_summary)
    table = markdown_table(plan, summary)
    assert "Speed-up (scratch mean / meta mean): 33.00x" in table and "met." in table
    missing = summarize(plan, records[:3])
    assert missing["complete"] is False and missing["goal_met"] is None
    assert "not judged" in markdown_table(plan, missing)
    slow = summarize(plan, [*records[:2], _record("scratch", 0, 60), _record("scratch", 1, 80)])
    assert slow["speedup_mean"] == pytest.approx(1.4) and slow["goal_met"] is False


def test_zero_shot_success_skips_training(monkeypatch, checkpoint: Path):
    calls = []
    monkeypatch.setattr(
        adaptation, "zero_shot_return", lambda *args, **kwargs: calls.append(args) or 499.0
    )
    objective = AdaptationObjective("cartpole-variants", checkpoint, threads=None)
    job = {
        "mode": "meta",
        "context_index": 0,
        "context": CartPoleContext().as_dict(),
        "agent": AgentConfig.from_flat(SMALL).to_flat(),
    }
    result = objective(job, 512, 10000)
    assert result["loss"] == 0 and result["info"]["episodes_to_threshold"] == 0
    assert result["info"]["zero_shot_return"] == 499.0 and result["info"]["timesteps"] == 0
    assert len(calls) == 1


def test_objective_trains_from_the_checkpoint_or_from_scratch(checkpoint: Path):
    objective = AdaptationObjective("cartpole-variants", checkpoint, threads=None)
    job = {
        "context_index": 3,
        "context": CartPoleContext(gravity=20.0).as_dict(),
        "agent": AgentConfig.from_flat(SMALL).to_flat(),
    }
    meta = objective({**job, "mode": "meta"}, 256, 10000)["info"]
    direct = adaptation.zero_shot_return(
        "cartpole-variants", CartPoleContext(gravity=20.0), AgentConfig.from_flat(SMALL),
        checkpoint, 10000,
    )  # fmt: skip
    assert meta["zero_shot_return"] == direct and meta["timesteps"] >= 256
    assert meta["episodes"] == len(meta["returns"]) > 0 and meta["context_index"] == 3
    scratch = objective({**job, "mode": "scratch"}, 256, 10000)["info"]
    assert scratch["zero_shot_return"] is None and scratch["returns"] != meta["returns"]


@pytest.mark.slow
def test_cli_writes_its_files_and_resumes(checkpoint: Path, tmp_path: Path, capsys):
    out = tmp_path / "adapt"
    argv = ["benchmark-adaptation", "--init", str(checkpoint), "--contexts", "2",
            "--timesteps", "256", "--workers", "1", "--quiet", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "| mode | runs |" in printed and "Speed-up" in printed
    records = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert sorted((r["mode"], r["context_index"]) for r in records) == [
        ("meta", 0),
        ("meta", 1),
        ("scratch", 0),
        ("scratch", 1),
    ]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["contexts"] == [c.as_dict() for c in unseen_contexts(2, 0)]
    assert summary["complete"] is True and (out / "adaptation.png").stat().st_size > 0
    assert main([*argv, "--resume"]) == 0  # nothing left to run
    assert len((out / "runs.jsonl").read_text().splitlines()) == 4
    assert main(argv) == 2  # an existing evaluation needs --resume
    assert "--resume" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--task", "cartpole"], "a checkpoint of task 'cartpole-variants', not 'cartpole'"),
        (["--task", "rna"], "unknown task 'rna'"),
        (["--contexts", "0"], "--contexts must be >= 1"),
        (["--seeds", "0"], "--seeds must be >= 1"),
    ],
)
def test_bad_input_exits_2(checkpoint: Path, tmp_path: Path, capsys, extra, message):
    out = tmp_path / "x"
    argv = ["benchmark-adaptation", "--init", str(checkpoint), "--timesteps", "64"]
    assert main([*argv, *extra, "--out", str(out)]) == 2
    assert message in capsys.readouterr().err and not out.exists()


def test_make_plan_reads_the_checkpoint(checkpoint: Path):
    plan = make_plan("cartpole-variants", checkpoint, 3, 4, [10000], 100)
    assert plan.config == AgentConfig.from_flat(SMALL) and plan.contexts == unseen_contexts(3, 4)
    assert plan.normalization == TRAINING_RANGES and plan.checkpoint == checkpoint
    with pytest.raises(ValueError, match="cannot read|No such file|not found|does not exist"):
        make_plan("cartpole-variants", checkpoint.parent / "missing.zip", 1, 0, [1], 10)
