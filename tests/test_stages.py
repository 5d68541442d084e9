"""The ``stages`` method: the design loop's starts and ensemble stage without a policy."""

import csv

import pytest

import meta.design as md
from autorl.cli import main
from benchmarks.runner import RunnerConfig
from envs.dot_bracket import Target
from envs.execution import ProcessExecutor
from envs.folding import mfe_structure
from meta.config import LEARNA

#: The stage settings the CLI, the API and the benchmark runner give (the published
#: configuration has the stage off).
STAGED = {"ensemble_share": 0.5, "ensemble_starts": 10, "quick_starts": 3, "ensemble_rivals": 0.5}
#: A hairpin loop of two cannot be an MFE structure: no design ever solves it.
NEVER = Target("never", "((((((((((..))))))))))")
#: The MFE structure of a random sequence that the targeted starts do not solve (seed 3).
SHORT = Target("short", "((.((((.(....))))).))..((((((...........))))))....")


def _no_policy(*args, **kwargs):
    raise AssertionError("the stages method built or ran a policy")


@pytest.fixture
def policy_forbidden(monkeypatch):
    """Any use of a policy fails the test."""
    for name in ("build_ppo", "_design_learna", "_design_meta_learna"):
        monkeypatch.setattr(md, name, _no_policy)


def test_stages_solves_without_a_policy(policy_forbidden):
    result = md.design(SHORT, method="stages", time_limit=20, seed=3, **STAGED)
    assert result.solved and mfe_structure(result.sequence) == SHORT.structure
    assert result.episodes == 0 and result.folds >= 1
    assert result.found_by == "ensemble"  # past the starts: the stage ran, and no policy
    assert result.method == "stages" and not result.settings["pipelined"]


def test_the_stage_runs_until_the_deadline_in_one_process(policy_forbidden, monkeypatch):
    turns = []
    refine_turn = md._DesignState.refine_turn

    def spy(self, until=None):
        turns.append((until, self.deadline))
        refine_turn(self, until)

    monkeypatch.setattr(md._DesignState, "refine_turn", spy)
    result = md.design(NEVER, method="stages", time_limit=1.5, seed=0, **STAGED)
    assert not result.solved
    assert turns and turns[0][0] == turns[0][1]  # one turn, to the deadline
    assert result.folds > STAGED["quick_starts"] + len(turns)  # the stage evaluated designs


def test_a_start_is_folded_even_without_quick_starts(policy_forbidden, monkeypatch):
    counts = []
    fold_starts = md._DesignState.fold_starts

    def spy(self, starts, count, rng):
        counts.append(count)
        fold_starts(self, starts, count, rng)

    monkeypatch.setattr(md._DesignState, "fold_starts", spy)
    settings = {**STAGED, "quick_starts": 0, "ensemble_starts": 0}
    result = md.design(NEVER, method="stages", time_limit=1.0, seed=0, **settings)
    assert counts == [1]
    assert result.sequence and result.folds > 1  # the stage went on from that start


def test_the_stage_stops_when_a_turn_makes_no_evaluation(policy_forbidden, monkeypatch):
    runs = []
    monkeypatch.setattr(md.EnsembleSearch, "run", lambda self, *a, **k: runs.append(a) or 0)
    result = md.design(NEVER, method="stages", time_limit=30, seed=0, **STAGED)
    # the first turn evaluates the offered starts, the second makes nothing: no spinning
    assert len(runs) == 2
    assert result.found_by == "targeted_start"


def test_scoring_time_is_set_aside_by_the_starts_folds():
    result = md.DesignResult("t", "((....))")
    state = md._DesignState(result, 100.0, 10.0, 1, None, None, metrics=True)
    state.starts_folded = [(2, "GGAAAACC", 0.25), (2, "GCAAAAGC", 0.5)]
    state._set_deadline()
    assert state.deadline == pytest.approx(110.0 - md._MEASURE_FOLDS * 0.5 - md._TAIL_SECONDS)


def test_islands_run_on_a_process_pool_with_more_than_one_worker(policy_forbidden, monkeypatch):
    seen = []
    run_islands = md.run_islands

    def spy(search, executor, deadline):
        seen.append((type(executor), executor.slots))
        return run_islands(search, executor, deadline)

    shutdowns = []
    shutdown = ProcessExecutor.shutdown
    monkeypatch.setattr(md, "run_islands", spy)
    monkeypatch.setattr(
        ProcessExecutor, "shutdown", lambda self, *a, **k: shutdowns.append(1) or shutdown(self)
    )
    result = md.design(NEVER, method="stages", time_limit=4, seed=0, workers=2, **STAGED)
    assert seen and all(entry == (ProcessExecutor, 2) for entry in seen)
    assert shutdowns == [1]
    assert not result.solved and result.folds > 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ensemble_share": 0}, "ensemble_share 0"),
        ({"num_solutions": 2}, "first solution"),
        ({"max_episodes": 10}, "no episodes"),
    ],
)
def test_what_stages_cannot_do_is_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        md.design(SHORT, method="stages", time_limit=5, **{**STAGED, **changes})


def test_the_published_configuration_alone_is_refused_for_want_of_a_stage():
    with pytest.raises(ValueError, match="ensemble_share 0"):
        md.design(SHORT, method="stages", config=LEARNA, time_limit=5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--num-solutions", "2"], "first solution"),
        (["--ensemble-share", "0"], "ensemble_share 0"),
        (["--model", "x.zip"], "--model applies"),
    ],
)
def test_the_cli_exits_2_on_what_stages_cannot_do(capsys, args, message):
    code = main(["design", "--method", "stages", "--target", "((((....))))", *args, "--quiet"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert message in captured.err


def test_a_benchmark_of_stages_with_the_stage_off_is_refused_before_any_job(tmp_path, capsys):
    targets = tmp_path / "t.txt"
    targets.write_text("((((....))))\n")
    out = tmp_path / "out"
    args = ["--dataset", str(targets), "--method", "stages", "--out", str(out)]
    code = main(["benchmark", *args, "--ensemble-share", "0", "--quiet"])
    assert code == 2 and not out.exists()
    assert "--method stages" in capsys.readouterr().err
    RunnerConfig(method="stages", settings=(("ensemble_share", 0.5),))  # accepted


def test_a_benchmark_of_stages_records_the_stage_behind_each_solve(tmp_path, capsys):
    targets = tmp_path / "t.txt"
    targets.write_text(f"a\t{SHORT.structure}\n")
    out = tmp_path / "out"
    args = ["--dataset", str(targets), "--method", "stages", "--time-limit", "10"]
    code = main(["benchmark", *args, "--workers", "1", "--out", str(out), "--quiet"])
    capsys.readouterr()
    with open(out / "results.csv", newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert code == 0 and row["method"] == "stages" and row["solved"] == "1"
    assert row["found_by"] in ("targeted_start", "ensemble")
