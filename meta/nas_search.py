"""A NAS run: the PPO controller or random search over Zoph & Le's token space, N evaluations.

:func:`run_search` proposes architectures with :class:`envs.nas_mdp.NasMdpEnv` episodes,
has their children trained by worker processes (:class:`envs.nas_vec.NasVecEnv` on an
:class:`envs.execution.ProcessExecutor`; each distinct architecture once, through the
cache) until ``evaluations`` distinct architectures have been evaluated, then retrains the
best one (highest validation accuracy; the earliest on ties) for ``final_epochs`` and
reports its test accuracy, the only use of the test split.

- ``ppo``: :func:`meta.nas_controller.build_controller` (MaskablePPO with an LSTM over the
  tokens); one rollout = ``episodes_per_update`` architectures trained in parallel.
- ``random``: every decision uniform over its choices (the same token space, the same
  masks): uniform over architectures. Proposals are queued ahead on the workers.

Files in ``out`` (all written as they happen; ``resume`` continues a killed run):

- ``search.json``: settings, controller configuration, seed, package versions; a resume
  checks that the problem (everything but ``workers`` and the device) is unchanged.
- ``evaluations.jsonl``: one line per evaluation, appended and fsynced as it finishes:
  ``evaluation`` (1-based, in the order started), ``architecture``, ``val_accuracy``,
  ``parameters``, ``seconds`` (training), ``invalid``, ``cached``, ``reward``.
- ``children.jsonl``: the cache (unless ``settings.cache`` names another file).
- ``controller.zip``: the PPO controller after each update (a resume continues it).
- ``best.json``: the best architecture, its search-time validation accuracy, and the
  final retraining's validation and test accuracy.
- ``best_so_far.png``: best validation accuracy so far vs evaluations.

A resumed run keeps every evaluation in ``evaluations.jsonl`` (they count toward the
budget and are never re-trained); evaluations that were in flight at the kill are lost and
their budget is spent again. The controller resumes from its last update.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from envs.evaluation_cache import EvaluationCache
from envs.nas_children import DATASETS, ChildEvaluator, ChildRecipe, train_child
from envs.nas_space import DEFAULT_LAYERS, Architecture
from meta.files import append_json_line, read_json_lines, write_json_atomic
from meta.nas_controller import ControllerConfig
from meta.provenance import package_versions

METHODS = ("ppo", "random")
#: Epochs of the final retraining of the best architecture (the full epoch budget).
FINAL_EPOCHS = 50
#: The search stops after this many proposals per evaluation of the budget (a controller
#: that only proposes architectures it has seen would otherwise never end).
PROPOSALS_PER_EVALUATION = 20

Progress = Callable[[str], None]


@dataclass(frozen=True)
class SearchSettings:
    """What a NAS run searches, how long, and where children train.

    Attributes:
        dataset: ``mnist1d`` or ``digits``.
        evaluations: Distinct architectures to evaluate (>= 1).
        method: ``ppo`` or ``random``.
        layers: Convolutions per child (>= 1).
        strides: Stride choices (``(1,)``: no stride decision).
        skips: Zoph & Le's skip connections.
        recipe: The children's training during the search (epochs are the fidelity).
        final_epochs: Epochs of the best architecture's retraining (0: no retraining).
        seed: Seeds the controller or the random proposals.
        workers: Child trainings at a time (worker processes).
        cache: The cache file (None: ``out/children.jsonl``, or memory without ``out``).
    """

    dataset: str = "mnist1d"
    evaluations: int = 300
    method: str = "ppo"
    layers: int = DEFAULT_LAYERS
    strides: tuple[int, ...] = (1,)
    skips: bool = True
    recipe: ChildRecipe = field(default_factory=ChildRecipe)
    final_epochs: int = FINAL_EPOCHS
    seed: int = 0
    workers: int = 1
    cache: str | None = None

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; choose one of {DATASETS}")
        if isinstance(self.evaluations, bool) or int(self.evaluations) != self.evaluations:
            raise ValueError(f"evaluations must be an integer, got {self.evaluations!r}")
        if self.evaluations < 1:
            raise ValueError(f"evaluations must be >= 1, got {self.evaluations}")
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose one of {METHODS}")
        if isinstance(self.layers, bool) or not isinstance(self.layers, int) or self.layers < 1:
            raise ValueError(f"layers must be an integer >= 1, got {self.layers!r}")
        if self.final_epochs < 0:
            raise ValueError(f"final_epochs must be >= 0, got {self.final_epochs}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        object.__setattr__(self, "strides", tuple(int(s) for s in self.strides))

    def problem(self) -> dict[str, Any]:
        """What must match when a run resumes (not the workers, the device or threads)."""
        return {
            "dataset": self.dataset,
            "evaluations": self.evaluations,
            "method": self.method,
            "layers": self.layers,
            "strides": list(self.strides),
            "skips": self.skips,
            "recipe": self.recipe.identity(),
            "final_epochs": self.final_epochs,
            "seed": self.seed,
        }


@dataclass
class SearchResult:
    """What a NAS run found.

    Attributes:
        evaluations: The log entries, ordered by evaluation number.
        best: The best entry (highest validation accuracy; earliest on ties).
        final: The final retraining's result (``val_accuracy``, ``test_accuracy`` ...), or
            None without one.
        proposals: Architectures proposed in this process (repeats included).
        seconds: Wall-clock seconds of the search (without retraining): this process's,
            plus the recorded ones of a finished run that was resumed (a run killed before
            it finished records none, so its resumed part counts alone).
    """

    evaluations: list[dict[str, Any]]
    best: dict[str, Any]
    final: dict[str, Any] | None
    proposals: int
    seconds: float

    def best_so_far(self) -> list[float]:
        """The best validation accuracy after each evaluation."""
        return list(np.maximum.accumulate([e["val_accuracy"] for e in self.evaluations]))


class SearchExistsError(ValueError):
    """``out`` holds a run and ``resume`` was not asked for, or holds another problem."""


def run_search(
    settings: SearchSettings,
    config: ControllerConfig | None = None,
    out: str | Path | None = None,
    *,
    resume: bool = False,
    executor: Any = None,
    progress: Progress | None = None,
) -> SearchResult:
    """Run a NAS search and retrain its best architecture (see the module docstring).

    Args:
        settings: What to search.
        config: The PPO controller's configuration (None: the defaults; ignored by random).
        out: The run's folder (None: nothing is written).
        resume: Continue the run in ``out``.
        executor: Runs the child trainings (None: ``settings.workers`` processes).
        progress: Called with a one-line status after every evaluation.

    Raises:
        SearchExistsError: ``out`` holds a run and ``resume`` is False, or a different one.
        ValueError: bad settings or configuration.
    """
    config = config or ControllerConfig()
    folder = None if out is None else Path(out)
    log = _prepare(folder, settings, config, resume)
    started = time.monotonic()
    proposals = _search(settings, config, folder, log, executor, progress)
    seconds = time.monotonic() - started
    previous = _previous_best(folder)  # a finished run that was resumed
    if previous is not None:  # its search time, and this process's
        seconds += float(previous.get("search_seconds", 0.0))
    entries = sorted(log, key=lambda entry: entry["evaluation"])
    if not entries:
        raise RuntimeError("the search ended without an evaluation")
    best = max(entries, key=lambda entry: (entry["val_accuracy"], -entry["evaluation"]))
    final = _retrain(settings, best, previous, progress)
    result = SearchResult(entries, best, final, proposals, seconds)
    if folder is not None:
        _write_best(folder, settings, result)
        plot_best_so_far({settings.method: [result.best_so_far()]}, folder / "best_so_far.png")
    return result


def _prepare(
    folder: Path | None, settings: SearchSettings, config: ControllerConfig, resume: bool
) -> list[dict[str, Any]]:
    """Check or write ``search.json``; the evaluations of a resumed run."""
    if folder is None:
        return []
    meta_path = folder / "search.json"
    if meta_path.is_file() and not resume:
        raise SearchExistsError(f"{folder} holds a NAS run; pass --resume or another --out")
    if meta_path.is_file():
        recorded = json.loads(meta_path.read_text())
        if recorded.get("problem") != settings.problem():
            raise SearchExistsError(
                f"{meta_path}: the run searched {recorded.get('problem')}, not "
                f"{settings.problem()}; resume it with its own settings"
            )
        if recorded.get("controller") != config.to_flat():
            raise SearchExistsError(f"{meta_path}: the run used another controller config")
        return read_json_lines(folder / "evaluations.jsonl")
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(
        {
            "problem": settings.problem(),
            "controller": config.to_flat(),
            "workers": settings.workers,
            "device": settings.recipe.device,
            "seed": settings.seed,
            "versions": package_versions(),
        },
        meta_path,
    )
    return []


def _search(
    settings: SearchSettings,
    config: ControllerConfig,
    folder: Path | None,
    log: list[dict[str, Any]],
    executor: Any,
    progress: Progress | None,
) -> int:
    """Propose and evaluate until the budget is spent; the proposals made."""
    from envs.execution import ProcessExecutor
    from meta.nas_controller import NAS_AGENT

    own = executor is None
    executor = ProcessExecutor(settings.workers, name="autorl-nas") if own else executor
    cache_path = settings.cache or (None if folder is None else folder / "children.jsonl")
    power = config.reward_power if settings.method == "ppo" else 1.0
    evaluator = ChildEvaluator(settings.dataset, settings.recipe, power)
    record = _recorder(settings, folder, log, progress)
    venv = NAS_AGENT.make_env(
        1,
        settings.seed,
        evaluator,
        layers=settings.layers,
        strides=settings.strides,
        skips=settings.skips,
        executor=executor,
        cache=EvaluationCache(cache_path),
        budget=settings.evaluations,
        seen=log,
        on_evaluation=record,
    )
    try:
        if settings.method == "ppo":
            _ppo(settings, config, venv, folder)
        else:
            _random(settings, venv)
        venv.collect(block=True)
        return venv.proposals
    finally:
        venv.close()
        if own:
            executor.shutdown()


def _recorder(
    settings: SearchSettings,
    folder: Path | None,
    log: list[dict[str, Any]],
    progress: Progress | None,
) -> Callable[[dict[str, Any]], None]:
    """``on_evaluation``: append to the log (memory and file) and report progress."""
    best = [max((entry["val_accuracy"] for entry in log), default=0.0)]

    def record(entry: dict[str, Any]) -> None:
        log.append(entry)
        if folder is not None:
            append_json_line(entry, folder / "evaluations.jsonl")
        best[0] = max(best[0], float(entry["val_accuracy"]))
        if progress is not None:
            progress(
                f"{settings.method} seed {settings.seed}: {len(log)}/{settings.evaluations} "
                f"evaluations, best validation accuracy {best[0]:.4f}"
            )

    return record


def _max_proposals(settings: SearchSettings) -> int:
    return PROPOSALS_PER_EVALUATION * settings.evaluations


def _random(settings: SearchSettings, venv: Any) -> None:
    """Uniform proposals, queued up to two per worker ahead of the trainings."""
    rng = np.random.default_rng([settings.seed, venv.started])
    venv.reset()
    ahead = 2 * settings.workers
    while not venv.exhausted and venv.proposals < _max_proposals(settings):
        allowed = np.flatnonzero(venv.action_masks()[0])
        venv.step(np.array([rng.choice(allowed)]))
        venv.collect(first=venv.pending >= ahead)


def _ppo(settings: SearchSettings, config: ControllerConfig, venv: Any, folder: Path | None):
    """Train the controller until the budget is spent; save it after every update."""
    from stable_baselines3.common.callbacks import BaseCallback, CallbackList

    from meta.deferred_rewards import DeferredRewards
    from meta.nas_controller import NAS_AGENT

    path = None if folder is None else folder / "controller.zip"
    model = NAS_AGENT.build_model(config, venv, settings.seed, device="cpu")
    resumed = path is not None and path.is_file()
    if resumed:
        model.set_parameters(str(path), exact_match=True, device="cpu")
    limit = _max_proposals(settings)

    class _Budget(BaseCallback):
        """Stops at the budget; saves the controller before each rollout after the first."""

        def _on_rollout_start(self) -> None:
            if path is not None and self.num_timesteps > 0:
                self.model.save(str(path))

        def _on_step(self) -> bool:
            return not (venv.exhausted or venv.proposals >= limit)

    steps = limit * (int(venv.observation_space.shape[0]) - 1) + model.n_steps
    model.learn(steps, callback=CallbackList([DeferredRewards(), _Budget()]))


def _retrain(
    settings: SearchSettings,
    best: dict[str, Any],
    previous: dict[str, Any] | None,
    progress: Progress | None,
) -> dict[str, Any] | None:
    """The best architecture trained for ``final_epochs``, with its test accuracy.

    ``previous`` (the ``best.json`` of a resumed run) gives its retraining back when it is
    of the same architecture with the same recipe.
    """
    if settings.final_epochs == 0:
        return None
    same = previous is not None and previous.get("architecture") == best["architecture"]
    if same and final_done(previous, settings):
        return previous["final"]
    if progress is not None:
        progress(f"retraining the best architecture for {settings.final_epochs} epochs")
    recipe = final_recipe(settings)
    architecture = Architecture.from_dict(best["architecture"])
    result = train_child(architecture, settings.dataset, recipe, test=True)
    return {**result, "architecture": best["architecture"], "recipe": recipe.identity()}


def final_recipe(settings: SearchSettings) -> ChildRecipe:
    """The final retraining's recipe: the search's, for ``final_epochs``, cosine-annealed.

    The learning rate anneals to 0 over the retraining: with the search's constant rate,
    50 epochs diverged for 1 of the 10 best children of the README's comparison.
    """
    return dataclasses.replace(
        settings.recipe, epochs=settings.final_epochs, schedule="cosine", threads=settings.workers
    )


def final_done(best: dict[str, Any] | None, settings: SearchSettings) -> bool:
    """Whether ``best.json``'s final retraining is of its best architecture with this recipe."""
    final = (best or {}).get("final")
    if settings.final_epochs == 0:
        return best is not None
    return bool(
        final
        and final.get("architecture") == best.get("architecture")
        and final.get("recipe") == final_recipe(settings).identity()
    )


def _previous_best(folder: Path | None) -> dict[str, Any] | None:
    """``best.json`` of a finished run in ``folder`` (None: none)."""
    if folder is None or not (folder / "best.json").is_file():
        return None
    return json.loads((folder / "best.json").read_text())


def _write_best(folder: Path, settings: SearchSettings, result: SearchResult) -> None:
    best = result.best
    write_json_atomic(
        {
            "method": settings.method,
            "dataset": settings.dataset,
            "seed": settings.seed,
            "evaluations": len(result.evaluations),
            "evaluation": best["evaluation"],
            "architecture": best["architecture"],
            "description": Architecture.from_dict(best["architecture"]).describe(),
            "val_accuracy": best["val_accuracy"],
            "parameters": best["parameters"],
            "search_epochs": settings.recipe.epochs,
            "final": result.final,
            "search_seconds": result.seconds,
            "proposals_in_last_process": result.proposals,
            "versions": package_versions(),
        },
        folder / "best.json",
    )


def plot_best_so_far(curves: dict[str, list[list[float]]], path: str | Path) -> None:
    """Best validation accuracy vs evaluations: mean and standard error per method.

    Args:
        curves: method -> one best-so-far curve per run (runs may differ in length).
        path: The PNG to write.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    for method, runs in curves.items():
        length = min(len(run) for run in runs)
        values = np.array([run[:length] for run in runs]) * 100
        mean = values.mean(axis=0)
        x = np.arange(1, length + 1)
        label = method if len(runs) == 1 else f"{method} ({len(runs)} runs, mean ± s.e.)"
        axes.plot(x, mean, label=label)
        if len(runs) > 1:
            error = values.std(axis=0, ddof=1) / np.sqrt(len(runs))
            axes.fill_between(x, mean - error, mean + error, alpha=0.25)
    axes.set_xlabel("child evaluations")
    axes.set_ylabel("best validation accuracy so far (%)")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    path = Path(path)
    temporary = path.with_name(f".{path.stem}.tmp.png")
    figure.savefig(temporary, dpi=120)
    plt.close(figure)
    temporary.replace(path)


__all__ = [
    "FINAL_EPOCHS",
    "final_done",
    "final_recipe",
    "METHODS",
    "SearchExistsError",
    "SearchResult",
    "SearchSettings",
    "plot_best_so_far",
    "run_search",
]
