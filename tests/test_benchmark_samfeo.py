"""The SAMFEO peer (``autorl benchmark --method samfeo``), without SAMFEO itself.

A fake checkout stands in for a clone of shanry/SAMFEO: a ``main.py`` with SAMFEO's
interface (the globals ``seed_np`` and ``name_pair``, ``samfeo(target, f, steps, k, t)``
calling ``f(sequence, target)``) and a ``utils/vienna.py`` with its objective's interface
(``position_ed_pd_mfe`` returning positional defects, the objective and the list of MFE
structures). The real SAMFEO is measured in docs/results/i14as.
"""

from __future__ import annotations

import csv
import textwrap

import pytest

from autorl.cli import main
from benchmarks.report import verify_row
from benchmarks.runner import RunnerConfig, constrain_targets
from benchmarks.samfeo import (
    SAMFEO_ENV,
    SEED_STEP,
    run_samfeo,
    samfeo_checkout,
    samfeo_version,
)
from envs.dot_bracket import Target
from envs.folding import mfe_structure

HAIRPIN = Target("h", "((((....))))")

FAKE_MAIN = '''
import numpy as np

seed_np = 0
name_pair = "all"

PAIRS = ["GC", "CG"]


def samfeo(target, f, steps, k, t=1, check_mfe=True, sm=True):
    """SAMFEO's interface: targeted starts (G-C pairs, A in loops), then evaluations."""
    np.random.seed(seed_np)
    print("SAMFEO prints its progress")
    for _ in range(steps):
        sequence = list("A" * len(target))
        stack = []
        for i, c in enumerate(target):
            if c == "(":
                stack.append(i)
            elif c == ")":
                j = stack.pop()
                pair = PAIRS[np.random.randint(2)] if name_pair == "cg" else "AU"
                sequence[j], sequence[i] = pair
        f("".join(sequence), target)
'''

FAKE_VIENNA = """
import RNA


def position_ed_pd_mfe(seq, ss, scale=True):
    mfe = RNA.fold_compound(seq).mfe()[1]
    structures = [s.structure for s in RNA.fold_compound(seq).subopt(0) if s.energy <= mfe]
    return [0.0] * len(seq), -0.5, structures
"""


def _checkout(root):
    (root / "utils").mkdir(parents=True)
    (root / "utils" / "__init__.py").write_text("")
    (root / "utils" / "vienna.py").write_text(textwrap.dedent(FAKE_VIENNA))
    (root / "main.py").write_text(textwrap.dedent(FAKE_MAIN))
    return root


class _Fake:
    """SAMFEO's module: evaluates the given sequences, then returns (converged)."""

    def __init__(self, sequences):
        self.sequences, self.seeds, self.evaluated = sequences, [], []
        self.seed_np, self.name_pair = None, None

    def samfeo(self, target, f, steps, k, t=1):
        assert (steps, k, t) == (5000, 10, 1.0)  # the published settings
        self.seeds.append(self.seed_np)
        print("iter: 10\t value: -0.5")
        for sequence in self.sequences:
            self.evaluated.append(sequence)
            f(sequence, target)


def _objective(structures):
    return lambda sequence, target: ([0.0] * len(target), -0.5, structures[sequence])


def test_improvements_are_reported_and_a_solve_ends_the_run(capsys):
    structures = {
        "AAAAAAAAAAAA": ["............"],  # distance 8
        "GGGAAAAAACCC": [".(((....)))."],  # 2
        "GAGAAAAAACUC": [".(((....)))."],  # 2 again: no improvement
        "GGGGAAAACCCC": ["((((....))))"],  # solved
        "CCCCAAAAGGGG": ["((((....))))"],  # never evaluated
    }
    fake = _Fake(list(structures))
    seen = []
    result = run_samfeo(
        fake, _objective(structures), HAIRPIN, time_limit=60, seed=11, on_improvement=seen.append
    )
    assert [b.distance for b in seen] == [8, 2, 0]
    assert result.solved and result.sequence == "GGGGAAAACCCC" and result.restarts == 1
    assert fake.evaluated == list(structures)[:4]
    assert fake.seeds == [11] and fake.name_pair == "cg"
    assert capsys.readouterr().out == ""  # SAMFEO's progress lines are swallowed


def test_an_unsolved_run_restarts_with_the_next_seed_until_the_limit():
    structures = {"GGGAAAAAACCC": [".(((....)))."], "AAAAAAAAAAAA": ["............"]}
    fake = _Fake(list(structures))
    now = [0.0]

    def clock():  # one second per look
        now[0] += 1.0
        return now[0]

    started = []

    def objective(sequence, target):
        started.append(now[0])
        return _objective(structures)(sequence, target)

    result = run_samfeo(fake, objective, HAIRPIN, time_limit=12, seed=5, clock=clock)
    assert not result.solved and result.distance == 2 and result.sequence == "GGGAAAAAACCC"
    assert len(fake.seeds) >= 3
    assert fake.seeds == [5 + SEED_STEP * i for i in range(len(fake.seeds))]
    assert result.restarts == len(fake.seeds)
    assert max(started) < 1.0 + 12  # no evaluation starts once the limit has passed


def test_a_long_run_is_cut_at_the_limit_between_two_evaluations():
    """One SAMFEO run that would outlast the limit (each evaluation takes a second)."""
    structures = {"GGGAAAAAACCC": [".(((....)))."]}
    fake = _Fake(["GGGAAAAAACCC"] * 40)
    now = [0.0]
    started = []

    def objective(sequence, target):
        started.append(now[0])
        now[0] += 1.0
        return _objective(structures)(sequence, target)

    result = run_samfeo(fake, objective, HAIRPIN, time_limit=12, clock=lambda: now[0])
    assert len(started) == 12 and max(started) < 12 and result.restarts == 1


def test_a_tie_between_mfe_structures_is_decided_by_the_fold():
    sequence = "GGGGAAAACCCC"
    assert mfe_structure(sequence) == HAIRPIN.structure
    tie = {sequence: ["............", HAIRPIN.structure]}
    result = run_samfeo(_Fake([sequence]), _objective(tie), HAIRPIN, time_limit=60)
    assert result.solved and result.distance == 0
    unpaired = "AAAAAAAAAAAA"  # folds into no pair at all
    tie = {unpaired: [HAIRPIN.structure, "............"]}
    result = run_samfeo(_Fake([unpaired]), _objective(tie), HAIRPIN, time_limit=0.2)
    assert not result.solved and result.distance == 8


def test_what_samfeo_cannot_do_is_refused(tmp_path, monkeypatch):
    constrained = Target("c", "((((....))))", "NNNNAAAANNNN")
    with pytest.raises(ValueError, match="takes no sequence constraints"):
        run_samfeo(_Fake([]), _objective({}), constrained, time_limit=1)
    with pytest.raises(ValueError, match="target c has a sequence constraint"):
        constrain_targets([constrained], RunnerConfig("samfeo"))
    with pytest.raises(ValueError, match="takes no constraints"):
        RunnerConfig("samfeo", constraint_fraction=0.1)
    with pytest.raises(ValueError, match="--config applies to the LEARNA methods"):
        RunnerConfig("samfeo", settings=(("n_envs", 8),))
    monkeypatch.delenv(SAMFEO_ENV, raising=False)
    with pytest.raises(ValueError, match=f"set {SAMFEO_ENV} to a clone"):
        samfeo_checkout()
    (tmp_path / "main.py").write_text("")
    with pytest.raises(ValueError, match="no utils/vienna.py there"):
        samfeo_checkout(tmp_path)


def test_the_cli_runs_samfeo_from_a_checkout(tmp_path, monkeypatch, capsys):
    checkout = _checkout(tmp_path / "SAMFEO")
    targets = tmp_path / "two.txt"
    targets.write_text("a\t((((....))))\nb\t((((((...))).)))\n")
    out = tmp_path / "out"
    argv = f"benchmark --dataset {targets} --method samfeo --time-limit 5 --workers 2".split()
    argv += ["--out", str(out), "--quiet"]
    monkeypatch.delenv(SAMFEO_ENV, raising=False)
    assert main(argv) == 2
    assert f"set {SAMFEO_ENV}" in capsys.readouterr().err and not out.exists()
    monkeypatch.setenv(SAMFEO_ENV, str(checkout))
    assert main([*argv, "--gc", "0.3:0.7"]) == 2
    assert "takes no constraints" in capsys.readouterr().err and not out.exists()
    assert main(argv) == 0
    assert "samfeo" in capsys.readouterr().out
    with (out / "results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {row["target_id"] for row in rows} == {"a", "b"}
    solved = [row for row in rows if row["solved"] == "1"]
    assert any(row["target_id"] == "a" for row in solved)
    assert all(verify_row(row) == "" for row in solved)
    assert {row["model"] for row in rows} == {samfeo_version(checkout)}
    assert all(row["method"] == "samfeo" and row["status"] == "finished" for row in rows)
