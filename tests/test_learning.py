"""The CartPole learning-speed metric: episodes (timesteps) to a moving-mean threshold."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks.learning import (
    CAP,
    CSV_COLUMNS,
    THRESHOLD,
    WINDOW,
    LearningCurve,
    ThresholdSummary,
    episodes_to_threshold,
    moving_mean,
    plot_learning_curves,
    summarize,
    threshold_episode,
    timesteps_to_threshold,
)


def test_defaults_are_the_bohb_papers():
    assert (THRESHOLD, WINDOW, CAP) == (475.0, 20, 3000)


# --------------------------------------------------------------------------- episodes


def test_success_exactly_at_episode_20_when_the_first_20_are_500():
    assert episodes_to_threshold([500.0] * 20) == 20
    assert episodes_to_threshold([500.0] * 100) == 20
    assert threshold_episode([500.0] * 20) == 20


def test_no_success_before_the_window_is_full():
    # 19 perfect episodes: a mean over fewer than 20 episodes never counts.
    assert threshold_episode([500.0] * 19) is None
    assert episodes_to_threshold([500.0] * 19) == CAP
    assert np.isnan(moving_mean([500.0] * 19)).all()


def test_success_later_when_a_dip_recovers():
    # One bad episode at 10: every window holding it has mean 19 * 500 / 20 = 475.0.
    returns = [500.0] * 9 + [0.0] + [500.0] * 40
    # Windows containing episode 10 have mean (19 * 500) / 20 = 475.0 -> reached at 20.
    assert episodes_to_threshold(returns) == 20
    # A deeper dip: two bad episodes (mean 450 while both are in the window).
    returns = [500.0] * 8 + [0.0, 0.0] + [500.0] * 40
    # Window ending at n holds both zeros for n in 20..28; at 29 only episode 10's zero
    # is left: mean 475.0 exactly (>= counts).
    assert episodes_to_threshold(returns) == 29
    assert moving_mean(returns)[27] == 450.0
    assert moving_mean(returns)[28] == 475.0


def test_threshold_reached_in_the_middle_of_a_window():
    # A learning curve rising 10 per episode: the mean of episodes n-19..n is
    # 10 * (n - 9.5), >= 475 first at n = 57 (mid-window, no episode of it is >= 475 alone
    # until episode 48).
    returns = [10.0 * episode for episode in range(1, 200)]
    assert episodes_to_threshold(returns) == 57
    assert moving_mean(returns)[56] == pytest.approx(475.0)
    assert moving_mean(returns)[55] < 475.0
    # Stepped from bad to perfect in the middle of the log: 30 bad, then perfect; the
    # window is full of perfect returns only 20 episodes after the switch, but the mean is
    # already >= 475 when at most one bad (0) episode is left in it.
    returns = [0.0] * 30 + [500.0] * 50
    assert episodes_to_threshold(returns) == 49
    assert moving_mean(returns)[48] == 475.0


def test_never_reaching_the_threshold_is_the_cap():
    assert episodes_to_threshold([474.0] * 5000) == CAP
    assert episodes_to_threshold([474.0] * 5000, cap=100) == 100
    assert threshold_episode([474.0] * 5000) is None
    # Success after the cap is a failure too.
    returns = [0.0] * 100 + [500.0] * 20  # a mean of 500 first at episode 120
    assert episodes_to_threshold(returns, threshold=500.0, cap=100) == 100
    assert episodes_to_threshold(returns, threshold=500.0, cap=119) == 119
    assert threshold_episode(returns, threshold=500.0, cap=119) is None
    # Success exactly at the cap scores the cap (like a failure), but is told apart.
    assert episodes_to_threshold(returns, threshold=500.0, cap=120) == 120
    assert threshold_episode(returns, threshold=500.0, cap=120) == 120


def test_a_log_shorter_than_the_cap_that_never_reaches_is_the_cap():
    assert episodes_to_threshold([100.0] * 50, cap=3000) == 3000
    assert episodes_to_threshold([], cap=3000) == 3000
    assert episodes_to_threshold([500.0] * 5, window=20, cap=3000) == 3000


def test_window_one():
    assert episodes_to_threshold([10.0, 475.0, 500.0], window=1) == 2
    assert episodes_to_threshold([475.0], window=1, cap=1) == 1
    assert episodes_to_threshold([474.999], window=1, cap=1) == 1  # failure: the cap
    assert threshold_episode([474.999], window=1, cap=1) is None
    assert list(moving_mean([1.0, 2.0], window=1)) == [1.0, 2.0]


def test_other_thresholds_and_windows():
    returns = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert episodes_to_threshold(returns, threshold=3.0, window=3, cap=5) == 4
    assert episodes_to_threshold(returns, threshold=-1.0, window=2, cap=5) == 2
    assert np.array_equal(moving_mean(returns, 2)[1:], [1.5, 2.5, 3.5, 4.5])
    assert np.isnan(moving_mean(returns, 2)[0])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window": 0}, "window must be an integer >= 1, got 0"),
        ({"window": -3}, "window must be an integer >= 1"),
        ({"window": 2.5}, "window must be an integer >= 1"),
        ({"window": True}, "window must be an integer >= 1"),
        ({"cap": 0}, "cap must be an integer >= 1, got 0"),
        ({"cap": -1}, "cap must be an integer >= 1"),
        ({"cap": 19}, "cap 19 < window 20"),
        ({"threshold": math.nan}, "threshold must be finite"),
        ({"threshold": math.inf}, "threshold must be finite"),
    ],
)
def test_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        episodes_to_threshold([500.0] * 30, **kwargs)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_return_names_its_index(bad):
    returns = [500.0] * 30
    returns[7] = bad
    with pytest.raises(ValueError, match=r"returns\[7\]"):
        episodes_to_threshold(returns)
    # Also after the cap: the whole log is checked.
    returns = [500.0] * 30 + [bad]
    with pytest.raises(ValueError, match=r"returns\[30\]"):
        episodes_to_threshold(returns, cap=25)
    with pytest.raises(ValueError, match=r"returns\[30\]"):
        moving_mean(returns)


def test_returns_must_be_one_dimensional():
    with pytest.raises(ValueError, match="one-dimensional"):
        episodes_to_threshold([[500.0] * 20])


def test_numpy_input():
    assert episodes_to_threshold(np.full(40, 500, dtype=np.int32), cap=np.int64(40)) == 20


# --------------------------------------------------------------------------- timesteps


def test_timesteps_to_threshold():
    returns = [10.0] * 5 + [500.0] * 20
    lengths = [10] * 5 + [500] * 20
    # The mean reaches 475 at episode 24 (one 10 left: (19 * 500 + 10) / 20 = 475.5).
    assert episodes_to_threshold(returns) == 24
    assert timesteps_to_threshold(returns, lengths) == 5 * 10 + 19 * 500
    assert timesteps_to_threshold([500.0] * 20, [500] * 20) == 10_000
    assert timesteps_to_threshold(returns, np.asarray(lengths, dtype=float)) == 9550
    # Failure: None (also when the log is shorter than the cap, or success is after it).
    assert timesteps_to_threshold([100.0] * 30, [100] * 30) is None
    assert timesteps_to_threshold(returns, lengths, cap=23) is None
    # Success exactly at the cap still has its timesteps.
    assert timesteps_to_threshold(returns, lengths, cap=24) == 9550


def test_timesteps_bad_input():
    with pytest.raises(ValueError, match="3 returns but 2 lengths"):
        timesteps_to_threshold([1.0, 2.0, 3.0], [1, 2])
    with pytest.raises(ValueError, match=r"lengths\[1\] is 0.0"):
        timesteps_to_threshold([1.0, 2.0], [1, 0])
    with pytest.raises(ValueError, match=r"lengths\[0\] is 1.5"):
        timesteps_to_threshold([1.0, 2.0], [1.5, 2])
    with pytest.raises(ValueError, match=r"lengths\[1\] is nan"):
        timesteps_to_threshold([1.0, 2.0], [1, math.nan])
    with pytest.raises(ValueError, match=r"returns\[1\]"):
        timesteps_to_threshold([1.0, math.nan], [1, 1])


# --------------------------------------------------------------------------- summaries


def test_summarize_episodes():
    summary = summarize([20, 100, 3000, 60, 3000], cap=3000)
    assert isinstance(summary, ThresholdSummary)
    assert summary.n == 5
    assert summary.failures == 2
    assert summary.scored == 5
    assert summary.median == 100.0
    assert summary.mean == pytest.approx(6180 / 5)
    assert summary.sem == pytest.approx(np.std([20, 100, 3000, 60, 3000], ddof=1) / math.sqrt(5))
    assert summary.cap == 3000
    text = summary.describe()
    assert "median 100 episodes" in text
    assert "failures 2/5 (cap 3000)" in text


def test_summarize_even_count_and_single():
    assert summarize([20, 30, 40, 50], cap=3000).median == 35.0
    single = summarize([42], cap=3000)
    assert (single.median, single.mean, single.sem, single.failures) == (42.0, 42.0, None, 0)
    assert "+-" not in single.describe()


def test_summarize_timesteps_with_failures_as_none():
    summary = summarize([10_000, None, 30_000, None], cap=None)
    assert (summary.n, summary.failures, summary.scored) == (4, 2, 2)
    assert summary.median == summary.mean == 20_000.0
    assert summary.sem == pytest.approx(10_000.0)
    everything_failed = summarize([None, None], cap=None)
    assert everything_failed.median is everything_failed.mean is None
    assert everything_failed.failures == 2
    assert "no timesteps" in everything_failed.describe("timesteps")


def test_summarize_bad_input():
    with pytest.raises(ValueError, match="no results"):
        summarize([], cap=3000)
    with pytest.raises(ValueError, match=r"results\[1\] is 3001"):
        summarize([20, 3001], cap=3000)
    with pytest.raises(ValueError, match=r"results\[0\] is 2.5"):
        summarize([2.5], cap=3000)
    with pytest.raises(ValueError, match=r"results\[0\] is -1"):
        summarize([-1], cap=None)
    with pytest.raises(ValueError, match="cap must be"):
        summarize([1], cap=0)
    assert summarize(list(np.asarray([20, 40])), cap=40).failures == 1


# --------------------------------------------------------------------------- one run


@pytest.fixture(scope="module")
def monitor_file(tmp_path_factory):
    """A real Monitor file: a few hundred random-action steps of CartPole-v1."""
    gym = pytest.importorskip("gymnasium")
    from stable_baselines3.common.monitor import Monitor

    prefix = tmp_path_factory.mktemp("monitor") / "run"
    env = Monitor(gym.make("CartPole-v1"), str(prefix))
    env.reset(seed=0)
    env.action_space.seed(0)
    try:
        for _ in range(400):
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            if terminated or truncated:
                env.reset()
        episodes = (list(env.get_episode_rewards()), list(env.get_episode_lengths()))
    finally:
        env.close()
    path = prefix.parent / "run.monitor.csv"
    assert path.is_file()
    return path, episodes


def test_from_monitor_csv_reads_a_real_monitor_file(monitor_file):
    path, (returns, lengths) = monitor_file
    assert path.read_text().startswith("#{")
    curve = LearningCurve.from_monitor_csv(path)
    assert curve.episodes == len(returns) > 5
    assert curve.returns == pytest.approx(returns)
    assert curve.lengths == tuple(lengths)
    assert curve.timesteps == tuple(np.cumsum(lengths))
    assert curve.timesteps[-1] <= 400
    assert curve.seconds is not None and len(curve.seconds) == curve.episodes
    assert all(s >= 0 for s in curve.seconds)
    assert list(curve.seconds) == sorted(curve.seconds)
    # Random actions on CartPole never balance for long: a failure.
    assert curve.episodes_to_threshold() == CAP
    assert curve.timesteps_to_threshold() is None
    assert curve.episodes_to_threshold(threshold=1.0, window=3, cap=10) == 3
    assert curve.timesteps_to_threshold(threshold=1.0, window=3, cap=10) == sum(lengths[:3])


def test_from_monitor_csv_skips_a_row_being_written_and_extra_columns(tmp_path):
    path = tmp_path / "live.monitor.csv"
    path.write_text(
        '#{"t_start": 1.0, "env_id": "CartPole-v1"}\n'
        "r,l,t,context\n"
        "12.0,12,0.1,a\n"
        "500.0,500,0.9,b\n"
        "31.0,3"
    )
    curve = LearningCurve.from_monitor_csv(path)
    assert curve == LearningCurve((12.0, 500.0), (12, 500), (0.1, 0.9))


def test_from_monitor_csv_empty_and_bad_files(tmp_path):
    empty = tmp_path / "empty.monitor.csv"
    empty.write_text('#{"t_start": 1.0, "env_id": "CartPole-v1"}\nr,l,t\n')
    assert LearningCurve.from_monitor_csv(empty).episodes == 0
    assert LearningCurve.from_monitor_csv(empty).episodes_to_threshold() == CAP

    no_header = tmp_path / "plain.csv"
    no_header.write_text("r,l,t\n1.0,1,0.1\n")
    with pytest.raises(ValueError, match="not a Monitor file"):
        LearningCurve.from_monitor_csv(no_header)
    missing = tmp_path / "missing.monitor.csv"
    missing.write_text('#{"t_start": 1.0}\nr,t\n1.0,0.1\n')
    with pytest.raises(ValueError, match="line 2: no column l"):
        LearningCurve.from_monitor_csv(missing)
    bad_row = tmp_path / "bad.monitor.csv"
    bad_row.write_text('#{"t_start": 1.0}\nr,l,t\n1.0,1,0.1\nx,2,0.2\n')
    with pytest.raises(ValueError, match="line 4: bad Monitor row"):
        LearningCurve.from_monitor_csv(bad_row)
    nan_row = tmp_path / "nan.monitor.csv"
    nan_row.write_text('#{"t_start": 1.0}\nr,l,t\n1.0,1,0.1\nnan,2,0.2\n')
    with pytest.raises(ValueError, match=r"returns\[1\]"):
        LearningCurve.from_monitor_csv(nan_row)


def test_learning_curve_validates_and_stores_tuples():
    curve = LearningCurve(np.asarray([1.0, 2.0]), [3, 4.0], None)
    assert curve.returns == (1.0, 2.0) and curve.lengths == (3, 4)
    assert all(isinstance(length, int) for length in curve.lengths)
    assert curve.timesteps == (3, 7)
    hash(curve)  # frozen and made of tuples
    with pytest.raises(ValueError, match="2 returns but 1 lengths"):
        LearningCurve([1.0, 2.0], [1])
    with pytest.raises(ValueError, match="2 returns but 1 seconds"):
        LearningCurve([1.0, 2.0], [1, 1], [0.5])
    with pytest.raises(ValueError, match=r"returns\[0\]"):
        LearningCurve([math.nan], [1])


def test_to_csv_round_trip(monitor_file, tmp_path):
    curve = LearningCurve.from_monitor_csv(monitor_file[0])
    path = curve.to_csv(tmp_path / "curve.csv", window=3)
    assert path == tmp_path / "curve.csv"
    assert LearningCurve.from_csv(path) == curve
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(CSV_COLUMNS)
    assert len(lines) == curve.episodes + 1
    first, third = lines[1].split(","), lines[3].split(",")
    assert first[0] == "1" and first[-1] == ""  # no moving mean before 3 episodes
    assert float(third[-1]) == pytest.approx(np.mean(curve.returns[:3]))
    assert int(third[3]) == sum(curve.lengths[:3])
    assert [p.name for p in tmp_path.iterdir()] == ["curve.csv"]  # no temporary left

    # Exact floats and unknown seconds survive too.
    odd = LearningCurve([0.1 + 0.2, 1e-300, -3.5], [1, 2, 3])
    assert LearningCurve.from_csv(odd.to_csv(tmp_path / "odd.csv")) == odd
    empty = LearningCurve([], [], [])
    assert LearningCurve.from_csv(empty.to_csv(tmp_path / "empty.csv")).episodes == 0


def test_from_csv_rejects_inconsistent_files(tmp_path):
    path = LearningCurve([1.0, 2.0], [1, 2], [0.1, 0.2]).to_csv(tmp_path / "c.csv")
    text = path.read_text()
    path.write_text(text.replace("\n2,2.0,2,3,", "\n2,2.0,2,4,"))
    with pytest.raises(ValueError, match="not the cumulative lengths"):
        LearningCurve.from_csv(path)
    path.write_text(text.replace("\n2,2.0", "\n3,2.0"))
    with pytest.raises(ValueError, match="line 3: bad row"):
        LearningCurve.from_csv(path)
    path.write_text("r,l,t\n")
    with pytest.raises(ValueError, match="the header must be"):
        LearningCurve.from_csv(path)


# --------------------------------------------------------------------------- the plot


def test_plot_writes_a_png(tmp_path):
    rng = np.random.default_rng(0)

    def run(episodes: int, speed: float) -> LearningCurve:
        base = np.minimum(500.0, speed * np.arange(1, episodes + 1))
        returns = np.clip(base + rng.normal(0, 20, episodes), 8, 500)
        return LearningCurve(returns, np.maximum(1, np.round(returns)).astype(int))

    curves = {
        "fast": [run(80, 12.0), run(120, 9.0), run(60, 15.0)],
        "slow": [run(300, 2.0), run(250, 2.5)],
        "too short": [run(10, 50.0)],
    }
    path = plot_learning_curves(curves, tmp_path / "curves.png", title="CartPole")
    assert path == tmp_path / "curves.png"
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5_000
    assert [p.name for p in tmp_path.iterdir()] == ["curves.png"]
    with pytest.raises(ValueError, match="no learning curves"):
        plot_learning_curves({}, tmp_path / "none.png")
    with pytest.raises(ValueError, match="window"):
        plot_learning_curves(curves, tmp_path / "w.png", window=0)
