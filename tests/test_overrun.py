"""``python -m autorl.overrun``: its arguments reach every design run (no run is timed here)."""

from __future__ import annotations

from typing import Any

from autorl import overrun

SHORT = "((((((....))))))...((((((....))))))"


def test_workers_reach_every_run_and_the_report(monkeypatch, tmp_path):
    seen: list[dict[str, Any]] = []

    def fake(target: Any, time_limit: float, seed: int, **kwargs: Any) -> dict[str, Any]:
        seen.append(kwargs)
        return {
            "seconds": time_limit,
            "overrun": 0.0,
            "episodes": 64,
            "distance": 0,
            "solved": True,
            "result_seconds": 1.0,
        }

    monkeypatch.setattr(overrun, "timed_design", fake)
    out = tmp_path / "report.json"
    args = ["--configs", "2", "--time-limit", "1", "--target", SHORT, "--out", str(out)]
    assert overrun.main([*args, "--workers", "2"]) == 0
    assert [kwargs["workers"] for kwargs in seen] == [2, 2, 2, 2]  # 2 configs, 2 meta methods
    assert '"workers": 2' in out.read_text()
    seen.clear()
    assert overrun.main(args) == 0
    assert {kwargs["workers"] for kwargs in seen} == {1}


def test_a_bad_worker_count_is_refused(capsys):
    assert overrun.main(["--workers", "0"]) == 2
    assert "--workers must be >= 1" in capsys.readouterr().err
