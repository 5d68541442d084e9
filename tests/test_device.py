"""Torch devices: spelling, selection, the refusal of a missing GPU, and CPU-only code paths.

This machine has no GPU, so CUDA is simulated by monkeypatching ``torch.cuda``'s
``is_available`` and ``device_count``; every device code path then runs with ``cpu``.
"""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path

import pytest
import torch

from autorl.cli import main
from autorl.tasks import TaskOptions, make_task
from autorl.tasks import rna_learna as rl
from autorl.tasks import rna_meta_learna as rml
from envs.dot_bracket import Target
from meta.training_data import GeneratorSettings
from policies.device import check_device, check_gpus, resolve_device

REPO = Path(__file__).resolve().parents[1]
HAIRPIN = "((((....))))"
TARGETS = (Target("hairpin", HAIRPIN), Target("stem", "(((((.....)))))....."))


@pytest.fixture
def gpus(monkeypatch):
    """``gpus(n)`` makes torch see ``n`` CUDA devices (0: a CPU-only machine)."""

    def fake(count: int) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count)

    return fake


# --- spelling and selection -------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "normalized"),
    [("auto", "auto"), ("cpu", "cpu"), ("cuda", "cuda"), ("cuda:0", "cuda:0")]
    + [("CUDA:1", "cuda:1"), (" Cpu ", "cpu")],
)
def test_check_device_accepts_and_normalizes(spec, normalized):
    assert check_device(spec) == normalized


@pytest.mark.parametrize("spec", ["gpu", "cuda:", "cpu:0", "cuda:x", "", "auto:1", "cuda:-1"])
def test_check_device_rejects(spec):
    with pytest.raises(ValueError, match=r"auto\|cpu\|cuda\[:N\]"):
        check_device(spec)


def test_resolve_device_without_cuda(gpus):
    gpus(0)
    assert resolve_device("auto") == "cpu"
    assert resolve_device("cpu") == "cpu"
    for spec in ("cuda", "cuda:0"):
        with pytest.raises(ValueError, match="no CUDA device"):
            resolve_device(spec)


def test_resolve_device_with_two_gpus(gpus):
    gpus(2)
    assert resolve_device("auto") == "cuda"
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("cuda") == "cuda"
    assert resolve_device("cuda:1") == "cuda:1"
    with pytest.raises(ValueError, match="2 CUDA device"):
        resolve_device("cuda:2")
    with pytest.raises(ValueError, match="expected"):
        resolve_device("gpu")


def test_check_gpus(gpus):
    gpus(0)
    check_gpus(0)
    with pytest.raises(ValueError, match="--gpus-per-trial must be >= 0"):
        check_gpus(-1)
    with pytest.raises(ValueError, match="--gpus-per-worker 0.5: this machine has 0"):
        check_gpus(0.5, "worker")
    gpus(2)
    check_gpus(0.5)
    check_gpus(2)
    with pytest.raises(ValueError, match="has 2 CUDA"):
        check_gpus(3)


# --- autorl design and the API ----------------------------------------------------------


@pytest.mark.parametrize(
    ("device", "count", "message"),
    [
        ("cuda", 0, "no CUDA device"),
        ("cuda:1", 1, "1 CUDA device"),
        ("gpu", 0, "expected auto|cpu|cuda[:N]"),
    ],
)
def test_design_refuses_a_device_it_cannot_have(capsys, gpus, device, count, message):
    gpus(count)
    code = main(["design", "--target", HAIRPIN, "--device", device, "--quiet"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert "autorl design: error: --device" in captured.err and message in captured.err


def test_design_on_the_cpu(capsys):
    code = main(
        ["design", "--target", HAIRPIN, "--device", "cpu", "--time-limit", "5", "--quiet"]
        + ["--format", "json", "--seed", "0"]
    )
    [result] = json.loads(capsys.readouterr().out)
    assert code == 0 and result["solved"]


def test_api_refuses_cuda_without_cuda_before_any_work(gpus, monkeypatch):
    import meta.design
    from autorl import design

    def no_work(*args, **kwargs):
        raise AssertionError("designing started")

    monkeypatch.setattr(meta.design, "design", no_work)
    gpus(0)
    with pytest.raises(ValueError, match="no CUDA device"):
        design(HAIRPIN, device="cuda", time_limit=1)
    with pytest.raises(ValueError, match="expected"):
        design(HAIRPIN, device="tpu", time_limit=1)


@pytest.mark.parametrize("method", ["learna", "meta-learna-adapt"])
def test_a_cpu_design_trains_its_policy_on_the_cpu(monkeypatch, method):
    import meta.design as md

    built = []
    original = md.build_ppo

    def recording(*args, **kwargs):
        built.append(original(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(md, "build_ppo", recording)
    result = md.design(Target("t", HAIRPIN), method=method, time_limit=5, device="cpu")
    assert result.solved and built
    for model in built:
        assert model.device == torch.device("cpu")
        assert {p.device.type for p in model.policy.parameters()} == {"cpu"}


def test_the_design_loop_and_its_agent_refuse_a_missing_gpu(gpus):
    import meta.design as md
    from envs.vector import RnaDesignVecEnv
    from meta.config import LEARNA

    gpus(0)
    with pytest.raises(ValueError, match="no CUDA device"):
        md.design(Target("t", HAIRPIN), time_limit=1, device="cuda")
    env = RnaDesignVecEnv([HAIRPIN], LEARNA.env, n_envs=2, seed=0)
    try:
        with pytest.raises(ValueError, match="no CUDA device"):  # SB3 would fall back to cpu
            md.build_ppo(env, LEARNA, 8, 0, "cuda")
        model = md.build_ppo(env, LEARNA, 8, 0, "auto")  # resolves to the CPU here
        assert model.device == torch.device("cpu")
        assert md.estimate_update_seconds(model, env.encodings[0], 1) > 0
    finally:
        env.close()


# --- optimize's tasks -------------------------------------------------------------------


def _target_file(path: Path) -> str:
    path.write_text("".join(f"{t.id}\t{t.structure}\n" for t in TARGETS), encoding="utf-8")
    return str(path)


def test_rna_learna_task_takes_the_device_but_not_into_its_options(tmp_path):
    targets = _target_file(tmp_path / "t.txt")
    on_cpu = make_task("rna-learna", TaskOptions(targets=targets, device="cpu"))
    default = make_task("rna-learna", TaskOptions(targets=targets))
    assert on_cpu.objective.device == "cpu" and default.objective.device == "auto"
    assert on_cpu.options == default.options  # resume-checked: the device may change
    assert "device" not in json.dumps(dict(on_cpu.options))
    with pytest.raises(ValueError, match="expected"):
        make_task("rna-learna", TaskOptions(targets=targets, device="gpu"))


def test_rna_learna_trials_design_on_the_device(monkeypatch, gpus):
    import meta.design

    calls = []

    def fake_design(target, **kwargs):
        calls.append(kwargs["device"])
        return meta.design.DesignResult(target.id, target.structure, episodes=1)

    monkeypatch.setattr(meta.design, "design", fake_design)
    monkeypatch.setattr(meta.design, "warm_up", lambda device="cpu": calls.append(device))
    monkeypatch.setattr(rl, "_WARM", [])
    objective = rl.RnaLearnaObjective(TARGETS, device="cpu")
    config = dict(rl.learna_space(seed=0).get_default_configuration())
    result = objective(config, 10.0, seed=0)
    assert math.isfinite(result.loss) and calls == ["cpu", "cpu", "cpu"]
    gpus(0)
    calls.clear()
    with pytest.raises(ValueError, match="no CUDA device"):
        rl.RnaLearnaObjective(TARGETS, device="cuda")(config, 10.0, seed=0)
    assert calls == []  # refused before any design


def test_rna_meta_learna_task_takes_the_device_but_not_into_its_options(tmp_path, monkeypatch):
    tiny = GeneratorSettings(count=30, min_length=20, max_length=40, seed=1)
    monkeypatch.setattr(rml, "DEFAULT_TRAINING", tiny)
    targets = _target_file(tmp_path / "t.txt")
    on_cpu = make_task("rna-meta-learna", TaskOptions(targets=targets, device="cpu"))
    default = make_task("rna-meta-learna", TaskOptions(targets=targets))
    assert on_cpu.objective.device == "cpu" and default.objective.device == "auto"
    assert on_cpu.options == default.options
    with pytest.raises(ValueError, match="expected"):
        rml.rna_meta_learna_task(TARGETS, training=tiny, device="cuda:")


def test_rna_meta_learna_trial_refuses_a_missing_gpu_before_training(gpus, tmp_path):
    tiny = GeneratorSettings(count=30, min_length=20, max_length=40, seed=1)
    objective = rml.RnaMetaLearnaObjective(
        TARGETS, rml.training_structures(tiny), tiny, validation_seconds=1.0, device="cuda"
    )
    gpus(0)
    config = dict(rml.meta_learna_space(seed=0).get_default_configuration())
    with pytest.raises(ValueError, match="no CUDA device"):
        objective(config, 4.0, seed=0)


def test_synthetic_tasks_ignore_the_device():
    task = make_task("counting-ones", TaskOptions(dims=2, device="cuda:3"))
    assert "device" not in task.options


# --- nothing assumes CPU tensors --------------------------------------------------------

#: Where the package's code lives (tests may use CPU tensors freely).
SOURCE_FOLDERS = ("autorl", "meta", "envs", "policies", "benchmarks", "scripts")


def cpu_assumptions(source: str) -> list[tuple[int, str]]:
    """Lines of ``source`` that assume CPU tensors or hard-code a CUDA device.

    - ``x.numpy()`` not called on ``.cpu()`` (possibly with ``.detach()`` between): numpy
      arrays have no ``.numpy()``, so every such call is on a torch tensor, and it fails for
      a tensor on a GPU;
    - ``x.cuda()``, and a ``device=`` or ``.to()`` argument that is a ``"cuda..."`` literal:
      the device should come from ``--device`` or the model.
    """
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        attribute = node.func.attr
        if attribute == "numpy" and not node.args:
            receiver, on_cpu = node.func.value, False
            while (
                isinstance(receiver, ast.Call)
                and isinstance(receiver.func, ast.Attribute)
                and receiver.func.attr in ("cpu", "detach")
            ):
                on_cpu = on_cpu or receiver.func.attr == "cpu"
                receiver = receiver.func.value
            if not on_cpu:
                found.append((node.lineno, ".numpy() without .cpu()"))
        elif attribute == "cuda":
            found.append((node.lineno, ".cuda()"))
        literals = [k.value for k in node.keywords if k.arg == "device"]
        if attribute == "to":
            literals += node.args[:1]
        for literal in literals:
            if isinstance(literal, ast.Constant) and str(literal.value).startswith("cuda"):
                found.append((node.lineno, f"hard-coded device {literal.value!r}"))
    return found


def test_the_scan_finds_what_it_should():
    bad = (
        "a = x.numpy()\nb = x.detach().numpy()\nc = x.cuda()\n"
        "d = torch.zeros(3, device='cuda')\ne = x.to('cuda:0')\n"
    )
    assert [line for line, _ in cpu_assumptions(bad)] == [1, 2, 3, 4, 5]
    good = (
        "a = x.cpu().numpy()\nb = x.detach().cpu().numpy()\nc = x.cpu().detach().numpy()\n"
        "d = torch.zeros(3, device=model.device)\ne = x.to(device)\ntorch.cuda.synchronize()\n"
    )
    assert cpu_assumptions(good) == []


def test_no_code_assumes_cpu_tensors():
    problems = [
        f"{path.relative_to(REPO)}:{line}: {what}"
        for folder in SOURCE_FOLDERS
        for path in sorted((REPO / folder).rglob("*.py"))
        for line, what in cpu_assumptions(path.read_text(encoding="utf-8"))
    ]
    assert not problems, "\n".join(problems)
