"""``--local-improvement``: LEARNA's local improvement as a stage option of the design loop.

Off by default in ``autorl design``, the API and the benchmark runner (session 50); the
configuration's value (5 in LEARNA's; 0 in the shipped model's since session 52, which was
meta-trained without it) when ``meta.design.design`` is called without it, and wherever
the option gives one.
"""

from __future__ import annotations

import pytest

from autorl.commands import options
from envs.dot_bracket import Target
from meta import design as design_module
from meta.config import LEARNA

SHORT = "((((((....))))))...((((((....))))))"  # solved at once: the wiring tests need no search
#: Lonely pairs and short stems: the loop makes near-misses before it solves it.
HARD = "((.((.((....)).)).))..((.(((....))).))"


def _spy(monkeypatch) -> list[int]:
    """Record the local-improvement distance of every design run's configuration."""
    seen: list[int] = []
    real = design_module._design_learna

    def spy(state, target, config, *args, **kwargs):
        seen.append(config.env.local_improvement)
        return real(state, target, config, *args, **kwargs)

    monkeypatch.setattr(design_module, "_design_learna", spy)
    return seen


def test_the_default_is_off_and_the_option_reaches_the_loop(monkeypatch):
    """autorl design and the API default to 0 (off); a value given is passed on."""
    from autorl import api
    from autorl.cli import main

    seen = _spy(monkeypatch)
    assert design_module.DEFAULT_LOCAL_IMPROVEMENT == options.DEFAULT_LOCAL_IMPROVEMENT == 0
    assert LEARNA.env.local_improvement == 5  # the published configuration keeps it
    args = ["design", "--target", SHORT, "--time-limit", "20", "--quiet", "--format", "json"]
    args += ["--quick-starts", "0"]  # a targeted start would solve it before the loop
    assert main(args) == 0
    assert main([*args, "--local-improvement", "5"]) == 0
    api.design(SHORT, time_limit=20, local_improvement=3, quick_starts=0)
    api.design(SHORT, time_limit=20, quick_starts=0)
    # meta.design.design itself keeps the configuration's.
    design_module.design(Target("s", SHORT), method="learna", time_limit=20)
    design_module.design(Target("s", SHORT), method="learna", time_limit=20, local_improvement=2)
    assert seen == [0, 5, 3, 0, 5, 2]


@pytest.mark.parametrize("bad", [-1, True, 1.5, "five"])
def test_the_api_refuses_a_bad_distance(bad):
    from autorl import api

    with pytest.raises(ValueError, match="local_improvement"):
        api.design(SHORT, time_limit=2, local_improvement=bad)


@pytest.mark.parametrize("text", ["-1", "1.5", "five", ""])
def test_the_cli_refuses_a_bad_distance(text, capsys):
    from autorl.cli import main

    args = ["design", "--target", SHORT, "--time-limit", "2", "--quiet"]
    assert main([*args, "--local-improvement", text]) == 2
    assert "--local-improvement" in capsys.readouterr().err


def test_the_benchmark_records_and_hands_on_the_option(monkeypatch):
    """The runner's config column records it; `autorl benchmark` passes flag or default."""
    from autorl.cli import main
    from autorl.commands import benchmark

    shipped, _ = benchmark._base_config("meta-learna-adapt", None)
    assert shipped.env.local_improvement == 0  # meta-trained without it (session 52)
    base = shipped.updated({"local_improvement": 5})  # a model trained with it
    recorded = dict(benchmark._settings(None, base, 200, local_improvement=0))
    assert recorded["local_improvement"] == 0
    assert "local_improvement" not in dict(benchmark._settings(None, base, 200))
    assert "local_improvement" not in dict(benchmark._settings(None, base, local_improvement=5))
    handed: list[int | None] = []

    def settings_spy(*args, **kwargs):
        handed.append(kwargs["local_improvement"])
        raise ValueError("stop before any job")

    monkeypatch.setattr(benchmark, "_settings", settings_spy)
    run = ["benchmark", "--dataset", "rfam-taneda", "--out", "unused", "--quiet"]
    assert main([*run, "--method", "meta-learna-adapt"]) == 2
    assert main([*run, "--method", "learna", "--local-improvement", "4"]) == 2
    assert main([*run, "--method", "rnainverse", "--local-improvement", "4"]) == 2
    assert handed == [0, 4, None]  # rnainverse has no design loop to change
    monkeypatch.undo()
    assert main([*run, "--method", "learna", "--local-improvement", "-2"]) == 2


def test_the_throughput_benchmark_takes_the_option(monkeypatch):
    from benchmarks import throughput

    seen: list[int] = []

    def stop(targets, config, *args, **kwargs):
        seen.append(config.env.local_improvement)
        raise SystemExit(0)

    monkeypatch.setattr(throughput, "fold_rate", lambda *args: 100.0)
    monkeypatch.setattr(throughput, "parallel_fold_rate", lambda *args: 200.0)
    monkeypatch.setattr(throughput, "episode_rate", stop)
    for extra in ([], ["--local-improvement", "0"]):
        with pytest.raises(SystemExit):
            throughput.main(["--length", "20", "--seconds", "1", *extra])
    assert seen == [5, 0]
    with pytest.raises(SystemExit) as refused:
        throughput.main(["--length", "20", "--local-improvement", "-1"])
    assert refused.value.code == 2


@pytest.mark.parametrize("distance", [0, 5])
def test_off_the_loop_folds_once_per_episode(distance):
    """Off, no design is refolded beyond its episode's fold; on, near-misses are."""
    result = design_module.design(
        Target("h", HARD),
        method="meta-learna",
        time_limit=60,
        seed=3,
        num_solutions=10**6,  # keep designing: every episode counts
        max_episodes=640,
        refinement=0,
        ensemble_share=0.0,
        local_improvement=distance,
        metrics=False,
    )
    assert result.episodes == 640
    if distance == 0:
        assert result.folds == result.episodes
        assert result.found_by != "local_improvement"
    else:
        assert result.folds > result.episodes
