"""The ensemble stage's first turn, from the targeted starts (``ensemble_first_turn``)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from envs.dot_bracket import Target
from envs.evaluation import ENSEMBLE
from meta import design as design_module
from meta.config import LEARNA
from meta.design import DesignResult, _DesignState, design

#: A lonely pair in a multiloop: the targeted starts of seed 1 fold 2 sites from it.
LONELY = "((((.((....)).((....))....(....)..))))"


class _SpySearch:
    """Records what a turn offers the stage and when the turn is to end."""

    solved = False
    evaluations = 0
    best = None

    def __init__(self, clock: SimpleNamespace | None = None) -> None:
        self.offered: list[str] = []
        self.until: float | None = None
        self.clock = clock  # when given, a turn lasts its whole slice on it

    def offer(self, sequence: str, until: float) -> None:
        self.offered.append(sequence)

    def run(self, until: float) -> int:
        self.until = until
        if self.clock is not None:
            self.clock.value = until
        return 0


@pytest.fixture
def clock(monkeypatch):
    """A clock that stands still at 1000 s unless a test moves it."""
    now = SimpleNamespace(value=1000.0)
    monkeypatch.setattr(design_module.time, "monotonic", lambda: now.value)
    return now


def _state(
    folds: list[float], share: float = 0.5, clock: SimpleNamespace | None = None
) -> tuple[_DesignState, _SpySearch]:
    result = DesignResult("t", LONELY, method="meta-learna-adapt", seed=0, time_limit=60.0)
    state = _DesignState(result, 999.9, 60.0, 1, None, None)
    search = _SpySearch(clock)
    state.add_search(search, share, 10.0)  # type: ignore[arg-type]
    letters = ("GGGA", "CCCA", "AAAG", "UUUC")
    state.starts_folded = [(5 - k, letters[k % 4] * 9, fold) for k, fold in enumerate(folds)]
    return state, search


def test_the_turn_is_the_stages_part_of_the_first_batchs_folds(clock):
    state, search = _state([0.02, 0.04, 0.03])  # a mean fold of 30 ms
    state.first_turn(64, 1)
    assert search.until == pytest.approx(1000.0 + 64 * 0.03)  # share 0.5: as long as the batch
    # The closest starts are offered first, at most three.
    assert search.offered == ["AAAG" * 9, "CCCA" * 9, "GGGA" * 9]
    assert state._turn_end == 1000.0
    halved, search = _state([0.02, 0.04, 0.03])
    halved.first_turn(64, 2)  # two folding processes fold the batch in half the time
    assert search.until == pytest.approx(1000.0 + 32 * 0.03)
    quarter, search = _state([0.03], share=0.25)
    quarter.first_turn(64, 1)
    assert search.until == pytest.approx(1000.0 + 64 * 0.03 / 3)


def test_the_turn_ends_by_the_stages_share_of_the_planned_time(clock):
    state, search = _state([0.4, 0.4, 0.4], clock=clock)  # 400-ms folds: a 25.6-s batch
    state.first_turn(64, 1)
    assert search.until == pytest.approx(999.9 + 0.5 * 10.0)  # half of the 10-s horizon
    # The turn lasted its slice; the policy's first batch is bounded from its end.
    assert clock.value == pytest.approx(1004.9)
    env = SimpleNamespace(deadline=None, fold_time=lambda: 0.0, fold_seconds=None)
    state.bind(env)
    assert env.deadline == pytest.approx(1004.9 + 0.5 * 10.0)


def test_nothing_runs_without_the_stage_a_folded_start_or_time(clock):
    result = DesignResult("t", LONELY, method="meta-learna-adapt", seed=0, time_limit=60.0)
    bare = _DesignState(result, 999.9, 60.0, 1, None, None)
    bare.starts_folded = [(2, "A" * len(LONELY), 0.01)]
    bare.first_turn(64, 1)  # no stage: nothing to call
    state, search = _state([])
    state.first_turn(64, 1)
    assert search.until is None and search.offered == []
    late, search = _state([0.01])
    clock.value = 999.9 + 60.0  # the run is over
    late.first_turn(64, 1)
    assert search.until is None


def _first_turn_episodes(monkeypatch, first_turn: bool) -> tuple[list[int], object]:
    """The episodes recorded when each of the stage's turns began, in a real design run."""
    seen: list[int] = []
    turn = _DesignState.refine_turn

    def spy(self, until=None):
        seen.append(self.result.episodes)
        return turn(self, until)

    monkeypatch.setattr(_DesignState, "refine_turn", spy)
    config = LEARNA.updated({"ensemble_first_turn": first_turn})
    result = design(
        Target("lonely", LONELY),
        method="learna",
        config=config,
        time_limit=20,
        seed=1,
        max_episodes=256,
        quick_starts=3,
        ensemble_share=0.5,
    )
    return seen, result


def test_the_stage_goes_before_the_policy_only_when_asked(monkeypatch):
    seen, result = _first_turn_episodes(monkeypatch, True)
    assert seen and seen[0] == 0  # before the policy's first episode
    assert result.settings["quick_starts"] == 3
    if result.solved and result.episodes == 0:
        assert result.found_by == ENSEMBLE  # the first turn solved it: no agent was built
    seen, result = _first_turn_episodes(monkeypatch, False)
    assert not seen or seen[0] > 0  # the policy's first batch came first


def test_the_setting_is_a_boolean_on_by_default():
    assert LEARNA.env.ensemble_first_turn is True
    for bad in (1, "yes", None):
        with pytest.raises(ValueError, match="ensemble_first_turn"):
            LEARNA.updated({"ensemble_first_turn": bad})
    assert LEARNA.updated({"ensemble_first_turn": False}).env.ensemble_first_turn is False
