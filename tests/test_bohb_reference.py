"""hpbandster (the reference BOHB) driven through the ask/tell wrapper."""

from __future__ import annotations

import math
import threading
import time
from collections import Counter

import numpy as np
import pytest
from ConfigSpace import Configuration, ConfigurationSpace, OrdinalHyperparameter

pytest.importorskip("hpbandster")

import autorl.bohb.reference as reference  # noqa: E402
from autorl.bohb.reference import HpBandSterBOHB, hpbandster_available  # noqa: E402
from benchmarks.synthetic import counting_ones_problem  # noqa: E402

# hpbandster calls ConfigSpace's deprecated API and Pyro4 threading's isSet(); its BOHB's
# statsmodels KDEs divide by zero when a categorical value is missing from the data.
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning:pandas"),
    pytest.mark.filterwarnings("ignore::RuntimeWarning:statsmodels"),
]

PROBLEM = counting_ones_problem(2, 2)
# hpbandster's plan for budgets 9..81, eta 3: iteration 0 runs 9 configs on 9, 3 on 27,
# 1 on 81; iteration 1 runs 3 on 27 and 1 on 81.
PLAN_2_ITERATIONS = Counter({9.0: 9, 27.0: 6, 81.0: 2})


def make(seed: int = 0, iterations: int = 2, **kwargs) -> HpBandSterBOHB:
    return HpBandSterBOHB(PROBLEM.make_space(None), 9, 81, 3, iterations, seed, **kwargs)


def run(opt: HpBandSterBOHB, loss=None, between=None) -> list[tuple[dict, float, float]]:
    """Ask and tell until the run is over; ``loss(n, config, budget)`` overrides the problem."""
    evaluations = []
    while (request := opt.ask(timeout=30)) is not None:
        key, config, budget = request
        n = len(evaluations)
        value = PROBLEM.evaluate(config, budget, n) if loss is None else loss(n, config, budget)
        if between is not None:
            between(n)
        evaluations.append((config, budget, value))
        opt.tell(key, value)
    return evaluations


def new_threads(before: set[threading.Thread], grace: float = 2.0) -> list[threading.Thread]:
    deadline = time.monotonic() + grace
    while True:
        alive = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def test_available():
    assert hpbandster_available()


@pytest.mark.parametrize("method", ["bohb", "hyperband"])
def test_short_run_follows_hpbandsters_plan(method):
    before = set(threading.enumerate())
    space = PROBLEM.make_space(None)
    opt = HpBandSterBOHB(space, 9, 81, 3, 2, 0, method=method)
    evaluations = run(opt)
    assert opt.finished
    assert opt.ask() is None
    assert Counter(budget for _, budget, _ in evaluations) == PLAN_2_ITERATIONS
    for config, budget, _ in evaluations:
        assert type(config) is dict and type(budget) is float
        assert set(config) == set(space)
        assert all(type(v) in (int, float, str, bool) for v in config.values())
        Configuration(space, values=config).check_valid_configuration()
    # successive halving: whatever runs on 81 ran on 27 before
    runs = [(frozenset(c.items()), b) for c, b, _ in evaluations]
    for i, (config, budget) in enumerate(runs):
        if budget == 81:
            assert (config, 27.0) in runs[:i]
    opt.close()
    opt.close()  # idempotent
    leftover = new_threads(before)
    assert not [t for t in leftover if not t.daemon]
    assert not leftover, leftover


def test_protocol_errors():
    with make() as opt:
        key, _, _ = opt.ask()
        with pytest.raises(RuntimeError):
            opt.ask()
        with pytest.raises(KeyError):
            opt.tell(key + 1, 0.0)
        opt.tell(key, 0.0)
        assert opt.ask() is not None


def test_same_seed_and_losses_give_the_same_run():
    # 4 iterations: budget 9 collects enough results for a KDE, so the model's draws from
    # numpy's global RNG matter; the caller's use of that RNG must not change them.
    np.random.seed(1234)
    expected_next = np.random.rand()
    np.random.seed(1234)
    with make(0, iterations=4) as opt:
        first = run(opt)
    assert np.random.rand() == expected_next  # the caller's global RNG is left alone
    with make(0, iterations=4) as opt:
        second = run(opt, between=lambda n: np.random.rand(n % 5 + 1))
    with make(1, iterations=4) as opt:
        other = run(opt)

    def sequence(evaluations):
        return [(config, budget) for config, budget, _ in evaluations]

    assert len(first) == 33
    assert sequence(first) == sequence(second)
    assert sequence(first) != sequence(other)


def test_non_finite_loss_is_a_failed_evaluation():
    def loss(n, config, budget):
        if n % 3 == 0:
            return math.nan if n % 2 else math.inf
        return PROBLEM.evaluate(config, budget, n)

    with make(0) as opt:
        evaluations = run(opt, loss=loss)
        assert opt.finished
    counts = Counter(budget for _, budget, _ in evaluations)
    assert counts[9.0] == 9 and counts[81.0] >= 1
    assert sum(not math.isfinite(value) for _, _, value in evaluations) >= 4
    # a failed configuration is never promoted to a larger budget
    for config, budget, value in evaluations:
        if not math.isfinite(value):
            assert budget == max(b for c, b, _ in evaluations if c == config)


def test_close_mid_run_is_prompt():
    before = set(threading.enumerate())
    opt = make(0, iterations=3)
    for _ in range(4):
        key, config, budget = opt.ask()
        opt.tell(key, PROBLEM.evaluate(config, budget, 0))
    opt.ask()  # an evaluation is pending when the run is closed
    start = time.monotonic()
    opt.close()
    assert time.monotonic() - start < 5
    assert opt.finished
    assert opt.ask() is None
    assert not new_threads(before)


def test_close_before_start():
    before = set(threading.enumerate())
    opt = make()
    opt.close()
    assert opt.finished and opt.ask() is None
    assert not new_threads(before, grace=0)


def test_hpbandster_error_is_raised_by_ask():
    space = ConfigurationSpace(seed=0)
    space.add(OrdinalHyperparameter("size", [1, 2, 4]))  # hpbandster's BOHB refuses ordinals
    with HpBandSterBOHB(space, 9, 81, 3, 1, 0) as opt:
        with pytest.raises(RuntimeError, match="hpbandster failed"):
            opt.ask(timeout=30)
        assert opt.finished


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_numpy_values_over_pyro_hang_and_ask_times_out(monkeypatch):
    # without the conversion to Python types, serpent rejects the numpy scalars in the job,
    # hpbandster's job_runner thread dies (holding the dispatcher's lock) and the run hangs:
    # ask must time out and close return (leaving only daemon threads stuck on that lock)
    monkeypatch.setattr(reference, "_plain", lambda value: value)
    before = set(threading.enumerate())
    opt = make()
    with pytest.raises(TimeoutError):
        opt.ask(timeout=3)
    start = time.monotonic()
    opt.close()
    assert time.monotonic() - start < 5
    assert opt.finished and opt.ask() is None
    assert all(t.daemon for t in new_threads(before, grace=0.5))
