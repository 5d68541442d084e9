"""The RNA design domain's agent spec (:data:`RNA_AGENT`): LEARNA's env, policy and PPO.

The RNA side of :class:`meta.agents.DomainSpec`, used by the design loop
(:mod:`meta.design`) and meta-training (:mod:`meta.training`) to build every environment
and agent:

- configuration: :class:`meta.config.LearnaConfig` (one flat JSON object, unchanged; the
  default is the published LEARNA configuration);
- environment factory: :meth:`RnaAgentSpec.make_env`, an :class:`envs.vector.
  RnaDesignVecEnv` over the targets (one for a design, many for meta-training), and
  :meth:`RnaAgentSpec.make_ray_env`, the same episodes in Ray actors;
- model factory: :meth:`RnaAgentSpec.build_model`, SB3's PPO with
  :class:`policies.extractors.LearnaExtractor` and LEARNA's PPO settings mapped as
  :mod:`meta.config` describes (``gamma = gae_lambda = 1``), or sb3-contrib's MaskablePPO
  when actions are masked: always with GU pairs (``gu_pairs``: actions 4 and 5 set pairs
  only, never an unpaired site), and wherever a sequence constraint forbids an action
  (``env.masked``). Plain PPO and MaskablePPO have the same networks, so a checkpoint of
  either loads into the other. With ``lstm_mode="episode"`` (LEARNA's recurrent form,
  :mod:`policies.recurrent`) it is sb3-contrib's RecurrentPPO; sb3-contrib has no masked
  recurrent PPO, so that form is refused where actions must be masked.

RNA design has no return threshold: a design is solved when its MFE structure is the
target (``info["distance"] == 0``), so ``threshold`` is None.
"""

from __future__ import annotations

import functools
import numbers
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from envs.constraints import DesignConstraints
from envs.dot_bracket import Target
from envs.execution import Executor
from envs.folding import EnergyModel
from envs.ray_vec_env import RayVecEnv
from envs.rna_design import RnaDesignConfig
from envs.vector import RnaDesignVecEnv
from meta.agents import RNA
from meta.config import LEARNA, LearnaConfig

if TYPE_CHECKING:
    from stable_baselines3.common.base_class import BaseAlgorithm
    from stable_baselines3.common.vec_env import VecEnv


@dataclass(frozen=True)
class RnaEnvFactory:
    """Builds the episodes of one Ray actor: a synchronous :class:`RnaDesignVecEnv`.

    Picklable (it is shipped to the actors); every actor draws from all ``targets`` with its
    own seed, and folds its finished designs in its own process.

    Attributes:
        targets: The training targets.
        config: MDP settings.
    """

    targets: tuple[Target, ...]
    config: RnaDesignConfig

    def __call__(self, n_envs: int, seed: int) -> RnaDesignVecEnv:
        """``n_envs`` episodes whose target draws are seeded with ``seed``."""
        return RnaDesignVecEnv(
            list(self.targets), self.config, n_envs=n_envs, workers=1, seed=seed, deferred=False
        )


class RnaRayVecEnv(RayVecEnv):
    """A :class:`RayVecEnv` of :class:`RnaEnvFactory` actors, with ``masked`` for the agent."""

    @functools.cached_property
    def masked(self) -> bool:
        """Whether actions are masked, by GU pairs or a constraint (MaskablePPO is needed)."""
        return any(self.get_attr("masked", [s.start for s in self.slices]))


@dataclass(frozen=True)
class RnaAgentSpec:
    """The agent spec (:class:`meta.agents.DomainSpec`) of RNA design.

    Attributes:
        config_type: :class:`LearnaConfig` (a class attribute).
        name: ``rna``.
        summary: One line for help texts.
        default: The default configuration (published LEARNA).
        threshold: None: a design is solved by its structure, not by a return.
    """

    config_type: ClassVar[type[LearnaConfig]] = LearnaConfig

    name: str = RNA
    summary: str = "RNA design (LEARNA's decision process, AutoRL/RnaDesign-v0)"
    default: LearnaConfig = LEARNA
    threshold: float | None = None

    def make_env(
        self,
        n_envs: int,
        seed: int | None,
        *,
        targets: Sequence[Target | str] | Target | str,
        config: LearnaConfig,
        workers: int = 1,
        deferred: bool = False,
        constraints: DesignConstraints | None = None,
        energy: EnergyModel | None = None,
        executor: Executor | None = None,
    ) -> RnaDesignVecEnv:
        """``n_envs`` design episodes over ``targets``, folded by ``workers`` processes.

        Args:
            n_envs: Episodes stepped together (usually ``config.ppo.n_envs``).
            seed: Seed of the target draws and local improvement (None: unseeded).
            targets: One target (a design) or many (meta-training).
            config: The agent configuration (its ``env`` part is the MDP).
            workers: Folding processes.
            deferred: Fold in the background, rewards through ``collect`` (meta-training).
            constraints: GC-content and motif rules (IUPAC codes come from the targets).
            energy: The energy model designs are folded under (None: ViennaRNA's default).
            executor: An :mod:`envs.execution` executor that folds instead of ``workers``
                processes (it stays the caller's).

        Raises:
            ValueError: ``n_envs`` or ``workers`` below 1, both ``workers > 1`` and an
                ``executor``, or a target the constraints make infeasible.
        """
        return RnaDesignVecEnv(
            targets,
            config.env,
            n_envs=n_envs,
            workers=workers,
            seed=seed,
            deferred=deferred,
            constraints=constraints,
            energy=energy,
            executor=executor,
        )

    def make_ray_env(
        self,
        n_envs: int,
        seed: int,
        *,
        targets: Sequence[Target],
        config: LearnaConfig,
        actors: int,
        num_cpus: float = 1.0,
        num_gpus: float = 0.0,
    ) -> RnaRayVecEnv:
        """``n_envs`` design episodes in ``actors`` Ray actors that fold synchronously.

        Ray must be connected. Only observations, actions, rewards and episode infos travel.

        Args:
            n_envs: Episodes stepped together, split over the actors.
            seed: Seed of the actors' target draws.
            targets: The targets every actor draws from.
            config: The agent configuration (its ``env`` part is the MDP).
            actors: Ray actors (at most ``n_envs``).
            num_cpus: CPUs reserved per actor.
            num_gpus: GPUs reserved per actor.
        """
        return RnaRayVecEnv(
            RnaEnvFactory(tuple(targets), config.env),
            n_envs,
            actors,
            seed=seed,
            num_cpus=num_cpus,
            num_gpus=num_gpus,
        )

    def build_model(
        self,
        config: LearnaConfig,
        env: VecEnv,
        seed: int,
        device: str = "auto",
        tensorboard_log: str | None = None,
        *,
        n_steps: int | None = None,
    ) -> BaseAlgorithm:
        """An untrained PPO agent for ``env`` (MaskablePPO or RecurrentPPO where needed).

        Actions are masked with GU pairs (``config.env.gu_pairs``: actions 4 and 5 are
        never allowed at an unpaired site) and wherever a sequence constraint forbids one
        (``env.masked``). MaskablePPO has the same networks and update, with masked
        actions' probabilities set to zero when sampling and in the likelihood ratios, so
        weights trained without masks load unchanged, and weights trained with GU pairs
        load into it. With ``config.policy.lstm_mode == "episode"`` the agent is
        sb3-contrib's RecurrentPPO with :class:`policies.recurrent.LearnaRecurrentPolicy`,
        which cannot mask actions.

        Args:
            config: The agent configuration (see :mod:`meta.config` for the PPO mapping).
            env: The design environment (:meth:`make_env` or :meth:`make_ray_env`).
            seed: Seed of the policy initialization and sampling.
            device: Torch device of the policy: ``auto`` (CUDA when available), ``cpu``,
                ``cuda`` or ``cuda:N``; the environment stays on the CPU.
            tensorboard_log: SB3's ``tensorboard_log`` folder; None: a logger that writes
                nothing (SB3's default makes an empty folder for every ``learn``).
            n_steps: Steps per environment per rollout; None: one episode of the env's
                longest target (what the design loop uses).

        Returns:
            The untrained agent.

        Raises:
            ValueError: ``n_steps`` below 1, or None for an environment without targets
                of its own (Ray actors); a device this machine does not have (SB3 itself
                would silently fall back to the CPU); ``lstm_mode="episode"`` where actions
                are masked (GU pairs or a sequence constraint).
        """
        from stable_baselines3.common.logger import Logger

        from policies.device import resolve_device
        from policies.extractors import policy_kwargs

        steps = _rollout_steps(env, n_steps)
        algorithm, policy = _algorithm(config, env)
        ppo = config.ppo
        with warnings.catch_warnings():
            # A rollout that is not a multiple of batch_size ends with a smaller minibatch.
            warnings.filterwarnings("ignore", message=".*mini-batch size.*")
            model = algorithm(
                policy,
                env,
                learning_rate=ppo.learning_rate,
                n_steps=steps,
                batch_size=ppo.batch_size,
                n_epochs=ppo.n_epochs,
                gamma=1.0,
                gae_lambda=1.0,
                clip_range=ppo.clip_range,
                ent_coef=ppo.entropy_coef,
                vf_coef=ppo.vf_coef,
                max_grad_norm=ppo.max_grad_norm,
                policy_kwargs=policy_kwargs(config.policy),
                tensorboard_log=tensorboard_log,
                seed=seed,
                device=resolve_device(device),
                verbose=0,
            )
        if tensorboard_log is None:
            model.set_logger(Logger(folder=None, output_formats=[]))
        return model


def _algorithm(config: LearnaConfig, env: VecEnv) -> tuple[Any, Any]:
    """The algorithm class and its policy (class or SB3 name) for ``config`` on ``env``.

    Raises:
        ValueError: a recurrent policy (``lstm_mode="episode"``) where actions are masked.
    """
    gu_pairs = config.env.gu_pairs
    masked = gu_pairs or bool(getattr(env, "masked", False))
    if config.policy.recurrent:
        if masked:
            reason = "gu_pairs" if gu_pairs else "sequence constraints (IUPAC codes)"
            raise ValueError(
                f"lstm_mode 'episode' cannot be used with {reason}: they mask actions, and "
                "sb3-contrib has no masked recurrent PPO (RecurrentPPO); use lstm_mode "
                f"'window' (MaskablePPO), or do without {reason}"
            )
        from policies.minibatches import GuardedRecurrentPPO
        from policies.recurrent import LearnaRecurrentPolicy

        return GuardedRecurrentPPO, LearnaRecurrentPolicy
    # SB3's algorithms and actor-critic policies; with LEARNA's network without LSTM on
    # the CPU they sample and update through its numpy mirror (meta.numpy_ppo).
    from meta.numpy_ppo import MaskableWindowPPO, WindowPPO
    from policies.numpy_window import MaskableWindowPolicy, WindowPolicy

    if masked:
        return MaskableWindowPPO, MaskableWindowPolicy
    return WindowPPO, WindowPolicy


def _rollout_steps(env: VecEnv, n_steps: int | None) -> int:
    """``n_steps``, or one episode of ``env``'s longest target when None."""
    if n_steps is None:
        encodings = getattr(env, "encodings", None)
        if not encodings:
            raise ValueError(
                "n_steps is needed for an environment without targets of its own "
                f"({type(env).__name__}); pass n_steps"
            )
        return max(encoding.num_steps for encoding in encodings)
    if isinstance(n_steps, bool) or not isinstance(n_steps, numbers.Integral) or n_steps < 1:
        raise ValueError(f"n_steps must be an integer >= 1, got {n_steps!r}")
    return int(n_steps)


#: The RNA domain's agent spec.
RNA_AGENT = RnaAgentSpec()

__all__ = ["RNA", "RNA_AGENT", "RnaAgentSpec", "RnaEnvFactory", "RnaRayVecEnv"]
