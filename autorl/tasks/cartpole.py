"""Task ``cartpole``: the BOHB paper's PPO-on-CartPole experiment (Falkner et al. 2018).

BOHB tunes a PPO agent (stable-baselines3 ``PPO`` with the :mod:`policies.vector` family)
on CartPole-v1 (:func:`meta.agents.agent_spec` ``("cartpole")``: 500-step episodes, solved
at a mean return of 475 over the last 20 episodes).

Space (:func:`cartpole_space`) -- the paper's hyperparameters mapped onto SB3's ``PPO``:

=================  ======================  ===================================  ============
paper              paper's range           here (SB3 argument / flat key)       default
=================  ======================  ===================================  ============
units, layer 1     8..128 (log)            ``units_1`` 8..128 log               64
                                           -> ``policy_units``
units, layer 2     8..128 (log)            ``units_2`` 8..128 log               64
                                           -> ``policy_units_2``
batch size         8..256 (log)            ``batch_size`` 8..256 log            64
                                           (SB3 minibatch; clamped, see below)
learning rate      1e-7..1e-1 (log)        ``learning_rate`` 1e-7..1e-1 log     3e-4
discount           0..1                    ``one_minus_gamma`` 1e-4..0.1 log:   0.01
                                           ``gamma = 1 - x`` in [0.9, 0.9999]
likelihood-ratio   0..1                    ``clip_range`` 0.05..0.5             0.2
clipping
entropy            0..1                    ``entropy_coef`` 1e-8..0.1 log       1e-6
regularization                             (SB3 ``ent_coef``)
--                 --                      ``n_steps`` 16..2048 log (rollout)   2048
--                 --                      ``n_epochs`` 1..20                   10
--                 --                      ``gae_lambda`` 0.8..1.0              0.95
=================  ======================  ===================================  ============

Where the ranges differ from the paper's: a discount below 0.9 cannot value a 500-step
episode (the effective horizon ``1 / (1 - gamma)`` would be < 10 steps), so the search runs
on ``1 - gamma`` on a log scale, which spends equal effort on horizons of 10, 100 and 10000
steps; clipping at 0 stops learning and clipping near 1 is no clipping, so [0.05, 0.5]
brackets SB3's 0.2 and the values the literature uses; an entropy weight near 1 drowns the
return in CartPole's 2-action entropy, so it is log-scaled up to 0.1 (1e-8 is effectively
none). ``n_steps``, ``n_epochs`` and ``gae_lambda`` are SB3 PPO settings the paper's
(TensorForce) agent did not expose in this form; their ranges cover SB3's defaults (2048,
10, 0.95) and the RL Zoo's tuned CartPole values (``n_steps`` 32 x 8 envs, 20 epochs,
lambda 0.8).

Fixed: 2 hidden layers (the paper's network), ``tanh`` (SB3's default), separate actor and
critic, ``n_envs = 1`` (the episodes are counted in the order one environment plays them,
as in the paper; parallel environments would finish episodes in batches), constant
schedules, SB3's ``vf_coef`` (0.5) and ``max_grad_norm`` (0.5).

Batch size and rollout: SB3 requires ``batch_size <= n_steps * n_envs`` and warns when the
rollout is not a multiple of the batch size. The space stays a plain box (no forbidden
clauses, so every optimizer, external ones included, can sample it); instead
:func:`to_agent_config` clamps ``batch_size`` to ``n_steps`` (``n_envs`` is 1), i.e. a
sampled batch larger than the rollout means "one minibatch per epoch". A rollout that is
not a multiple of the batch size ends with a smaller minibatch (``build_agent`` silences
SB3's warning about that).

Loss: for one training run, the number of training episodes until the mean return of the
last 20 episodes reaches 475 (:func:`benchmarks.learning.episodes_to_threshold`), with a cap
of :data:`CAP` = 3000 episodes that counts as failure: lower is better and failure is
finite. A run stops at the threshold (nothing after it changes the metric), after
``CAP`` episodes, or at its timestep limit; only episodes that *ended within* the limit
count (SB3 finishes the rollout in progress, up to ``n_steps - 1`` steps more), so a run
that hits the limit unsolved scores the cap. The trial's loss is the mean over its runs.

Budgets (``--budget-unit``):

- ``runs`` (default): the number of independent training runs, 1, 3, 9 (eta 3) as in the
  paper. Run ``i`` of a trial uses seed ``trial_seed + i``. Every run is limited to
  ``run_timesteps`` environment steps (:data:`RUN_TIMESTEPS` = 200000 by default; a task
  setting of :func:`cartpole_task`, not a CLI flag). An unsolved run at that limit scores
  the cap: a random policy plays ~22 steps per episode, so the 3000-episode cap alone
  ends a run that does not learn after ~70k steps; the limit bounds the runs that learn
  something but not enough (3000 episodes of ~200 steps would be 600k steps).
- ``timesteps``: the environment steps of one run, 20000, 60000, 180000 (eta 3). The loss
  is that run's episodes to the threshold within the budget (the cap if not reached).
  The paper has no such unit; the smallest rung is 20000 because reaching the threshold
  needs 20 episodes of ~475 steps (~9500 steps) after the policy has learned, so at 10000
  steps every configuration would tie at the cap.

Seeds (``common_random_numbers``): with ``runs``, False: every rung draws fresh seeds.
With it, rung 3 would re-run rung 1's seed (deterministic on the CPU: the same result,
paid for again) and a configuration promoted for a lucky first run would carry that
luck into a third of its rung-3 mean; successive halving only compares configurations
within a rung, and trial seeds differ between configurations either way, so common
seeds would buy no variance reduction where it matters. Fresh seeds also make the
top rung's losses unbiased by the selection. With ``timesteps``, True: a larger budget
continues the same training run (same seed) for longer, so a configuration's loss can
only improve with the budget.

Trial timeout (a guard against hung trials, not a budget): ``runs x (limit + 2048) /``
:data:`STEPS_PER_SECOND` ``+`` :data:`TRIAL_GRACE`, where 2048 is the largest rollout
overshoot. The steps-per-second figure is the slowest corner of the space measured on the
2-core development machine under load (128 x 128 units, batch 8, 20 epochs: 25 steps/s;
typical configurations run 800-1600 steps/s), rounded down to 20.

Trials train on the CPU with one torch thread (the networks are tiny; more threads do not
help and would compete with the other trial workers).

Incumbent: ``incumbent.json`` is the flat :class:`meta.agents.AgentConfig` of the best
configuration, plus a ``_meta`` object (loss, budget, the search configuration) that
:meth:`meta.agents.AgentConfig.load` ignores, so ``autorl train --task cartpole --config
runs/x/incumbent.json`` trains it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ConfigSpace import ConfigurationSpace, Float, Integer

from autorl.bohb.executor import TrialResult
from autorl.tasks.base import Task, TaskOptions
from benchmarks.learning import episodes_to_threshold, timesteps_to_threshold
from meta.agents import AgentConfig, PpoSettings
from meta.files import write_json_atomic
from policies.vector import VectorPolicyConfig

#: The agent spec (:data:`meta.agents.AGENTS`) the task trains on.
AGENT = "cartpole"
#: Budget units; the first is the default.
BUDGET_UNITS = ("runs", "timesteps")
#: Default smallest and largest budget per unit (eta 3: three rungs each).
DEFAULT_BUDGETS = {"runs": (1.0, 9.0), "timesteps": (20_000.0, 180_000.0)}
#: Episodes counted at most; a run that does not reach the threshold within them scores this.
CAP = 3000
#: Episodes of the moving mean compared with the threshold (the paper's 20).
WINDOW = 20
#: Default timestep limit of one run with ``--budget-unit runs``.
RUN_TIMESTEPS = 200_000
#: Largest rollout (``n_steps``) of the space: how far a run may overshoot its limit.
MAX_N_STEPS = 2048
#: Conservative training speed for the trial timeout (slowest corner of the space, 2 cores).
STEPS_PER_SECOND = 20.0
#: Seconds a trial may take beyond its training (process start, imports, environment).
TRIAL_GRACE = 120.0


def cartpole_space(seed: int | None = None) -> ConfigurationSpace:
    """The search space (ranges and their reasons in the module docstring).

    Args:
        seed: Seed of the space's sampler.
    """
    space = ConfigurationSpace(name="cartpole", seed=seed)
    space.add(
        [
            Integer("units_1", (8, 128), log=True, default=64),
            Integer("units_2", (8, 128), log=True, default=64),
            Integer("batch_size", (8, 256), log=True, default=64),
            Float("learning_rate", (1e-7, 1e-1), log=True, default=3e-4),
            Float("one_minus_gamma", (1e-4, 0.1), log=True, default=0.01),
            Float("clip_range", (0.05, 0.5), default=0.2),
            Float("entropy_coef", (1e-8, 0.1), log=True, default=1e-6),
            Integer("n_steps", (16, MAX_N_STEPS), log=True, default=MAX_N_STEPS),
            Integer("n_epochs", (1, 20), default=10),
            Float("gae_lambda", (0.8, 1.0), default=0.95),
        ]
    )
    return space


def to_agent_config(config: Mapping[str, Any]) -> AgentConfig:
    """The agent a configuration of :func:`cartpole_space` describes.

    ``batch_size`` is clamped to the rollout (``n_steps``; ``n_envs`` is 1), SB3's rule.

    Raises:
        ValueError: a parameter is missing or a value is invalid.
    """
    try:
        n_steps = int(config["n_steps"])
        policy = VectorPolicyConfig(
            layers=2,
            units=int(config["units_1"]),
            units_2=int(config["units_2"]),
            activation="tanh",
        )
        ppo = PpoSettings(
            n_envs=1,
            n_steps=n_steps,
            batch_size=min(int(config["batch_size"]), n_steps),
            n_epochs=int(config["n_epochs"]),
            learning_rate=float(config["learning_rate"]),
            gamma=1.0 - float(config["one_minus_gamma"]),
            gae_lambda=float(config["gae_lambda"]),
            clip_range=float(config["clip_range"]),
            entropy_coef=float(config["entropy_coef"]),
        )
    except KeyError as missing:
        raise ValueError(f"configuration lacks the parameter {missing}") from None
    return AgentConfig(policy, ppo)


def run_seeds(seed: int, runs: int) -> list[int]:
    """The seeds of a trial's runs: ``seed + i`` for run ``i`` (modulo 2**32)."""
    return [(seed + i) % 2**32 for i in range(runs)]


def _within(returns: list[float], lengths: list[int], limit: int) -> list[float]:
    """The returns of the episodes that ended within ``limit`` steps of the run."""
    total = 0
    for index, length in enumerate(lengths):
        total += length
        if total > limit:
            return returns[:index]
    return returns


@dataclass(frozen=True)
class CartpoleObjective:
    """Trains PPO on CartPole; loss = mean episodes until solved (capped), over the runs.

    Attributes:
        unit: ``runs`` (budget = runs of ``run_timesteps`` steps each) or ``timesteps``
            (budget = steps of one run).
        run_timesteps: Timestep limit of a run with the ``runs`` unit.
        cap: Episodes counted at most; the score of a run that does not reach the
            threshold.
    """

    unit: str = "runs"
    run_timesteps: int = RUN_TIMESTEPS
    cap: int = CAP

    def __post_init__(self) -> None:
        if self.unit not in BUDGET_UNITS:
            raise ValueError(f"--budget-unit {self.unit!r}: cartpole counts {BUDGET_UNITS}")
        if self.run_timesteps < 1 or self.cap < WINDOW:
            raise ValueError(f"run_timesteps must be >= 1 and cap >= {WINDOW}")

    def plan(self, budget: float, seed: int) -> tuple[list[int], int]:
        """The seeds of the runs a budget buys and the timestep limit of each."""
        amount = max(1, round(budget))
        if self.unit == "runs":
            return run_seeds(seed, amount), self.run_timesteps
        return run_seeds(seed, 1), amount

    def __call__(self, config: dict[str, Any], budget: float, seed: int) -> TrialResult:
        """Train ``config``'s agent for the runs ``budget`` buys; see the module docstring."""
        import torch

        from meta.agents import agent_spec
        from meta.episodes import train_episodes

        agent = to_agent_config(config)
        spec = agent_spec(AGENT)
        assert spec.threshold is not None
        seeds, limit = self.plan(budget, seed)
        previous_threads = torch.get_num_threads()
        torch.set_num_threads(1)
        runs = []
        try:
            for run_seed in seeds:
                log = train_episodes(
                    spec,
                    agent,
                    run_seed,
                    limit,
                    max_episodes=self.cap,
                    stop_at_threshold=True,
                    window=WINDOW,
                    device="cpu",
                )
                returns = _within(log.returns, log.lengths, limit)
                lengths = log.lengths[: len(returns)]
                episodes = episodes_to_threshold(returns, spec.threshold, WINDOW, self.cap)
                steps = timesteps_to_threshold(returns, lengths, spec.threshold, WINDOW, self.cap)
                recent = returns[-WINDOW:]
                runs.append(
                    {
                        "seed": run_seed,
                        "episodes": episodes,
                        "solved": steps is not None,
                        "timesteps_to_threshold": steps,
                        "timesteps": log.timesteps,
                        "seconds": round(log.seconds, 3),
                        "stopped": log.stopped,
                        "episodes_played": len(log.returns),
                        "last_mean_return": sum(recent) / len(recent) if recent else None,
                    }
                )
        finally:
            torch.set_num_threads(previous_threads)
        loss = sum(r["episodes"] for r in runs) / len(runs)
        info = {
            "runs": runs,
            "solved_fraction": sum(r["solved"] for r in runs) / len(runs),
            "timestep_limit": limit,
            "flat_config": agent.to_flat(),
        }
        return TrialResult(float(loss), info)


def _write_cartpole_incumbent(
    path: Path, config: Mapping[str, Any], meta: Mapping[str, Any]
) -> None:
    flat = to_agent_config(config).to_flat()
    write_json_atomic({**flat, "_meta": {**meta, "search_config": dict(config)}}, path)


def cartpole_task(unit: str = "runs", run_timesteps: int = RUN_TIMESTEPS, cap: int = CAP) -> Task:
    """The cartpole task.

    Args:
        unit: ``runs`` (default) or ``timesteps``.
        run_timesteps: Timestep limit of a run with the ``runs`` unit.
        cap: Episodes counted at most (the failure score).

    Raises:
        ValueError: an unknown unit, ``run_timesteps < 1`` or ``cap < 20``.
    """
    objective = CartpoleObjective(unit, run_timesteps, cap)
    if unit == "runs":

        def timeout(budget: float) -> float:
            steps = max(1, round(budget)) * (run_timesteps + MAX_N_STEPS)
            return steps / STEPS_PER_SECOND + TRIAL_GRACE

    else:

        def timeout(budget: float) -> float:
            return (max(1, round(budget)) + MAX_N_STEPS) / STEPS_PER_SECOND + TRIAL_GRACE

    options: dict[str, Any] = {"budget_unit": unit, "cap": cap}
    if unit == "runs":
        options["run_timesteps"] = run_timesteps
    return Task(
        name="cartpole",
        space=cartpole_space(),
        objective=objective,
        min_budget=DEFAULT_BUDGETS[unit][0],
        max_budget=DEFAULT_BUDGETS[unit][1],
        eta=3.0,
        budget_unit=unit if unit == "timesteps" else f"runs of <= {run_timesteps} timesteps",
        options=options,
        timeout=timeout,
        write_incumbent=_write_cartpole_incumbent,
        common_random_numbers=unit == "timesteps",
    )


def build(name: str, options: TaskOptions) -> Task:
    """The registry's factory (``--budget-unit runs|timesteps``; no other options)."""
    return cartpole_task(options.budget_unit or BUDGET_UNITS[0])


__all__ = [
    "BUDGET_UNITS",
    "CAP",
    "DEFAULT_BUDGETS",
    "RUN_TIMESTEPS",
    "CartpoleObjective",
    "build",
    "cartpole_task",
    "cartpole_space",
    "run_seeds",
    "to_agent_config",
]
