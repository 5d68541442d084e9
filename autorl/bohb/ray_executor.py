"""Trials as Ray tasks, behind the same interface as :class:`~autorl.bohb.executor.ProcessExecutor`.

BOHB's master stays in the driver (:func:`autorl.bohb.run.run`): it asks, logs and tells
exactly as with local worker processes, so ``trials.jsonl`` is the same and ``--resume``
works across backends. Each trial is one Ray task of :class:`envs.ray_execution.RayExecutor`
that declares its resources (``cpus``, ``gpus``; Ray sets ``CUDA_VISIBLE_DEVICES`` for a
task given GPUs, so an objective on device ``auto`` trains there) and runs
:func:`autorl.bohb.executor.evaluate`, which turns anything the objective does into an
:class:`~autorl.bohb.executor.Outcome`.

Faults (see :mod:`envs.ray_execution`):

- The objective is shipped once (``ray.put``) and shared by every trial.
- A trial over its timeout is cancelled with ``force=True`` (its worker process is killed)
  and comes back failed, as locally. The clock starts when the trial is submitted; the
  driver submits no more trials than ``workers``, so give Ray at least that many slots.
- A worker process that dies mid-trial (killed, out of memory, its node lost) makes the
  trial run once more (``retries``); the driver resubmits it itself rather than through
  Ray's ``max_retries``, so the log can say so: the outcome has ``attempts`` 2 and the
  first failure in ``retry_error``. A second death fails the trial with the error
  recorded (``worker process lost on 2 attempts: ...``); the run goes on.
"""

from __future__ import annotations

from autorl.bohb.executor import Objective, TrialExecutor
from envs.ray_execution import RayExecutor as RayUnits
from meta.cluster import import_ray


class RayExecutor(TrialExecutor):
    """Runs up to ``workers`` trials at once as Ray tasks; see the module docstring.

    Ray must be initialized (:func:`meta.cluster.ray_session`).

    Args:
        objective: A picklable objective.
        workers: Trials in flight at once (>= 1).
        cpus: CPUs each trial declares.
        gpus: GPUs each trial declares (fractions share a GPU).
        retries: Times a trial whose worker process died is run again.

    Raises:
        ValueError: ``workers`` < 1.
        meta.cluster.ClusterError: Ray is not installed.
        RuntimeError: Ray is not initialized.
    """

    def __init__(
        self,
        objective: Objective,
        workers: int = 1,
        cpus: float = 1.0,
        gpus: float = 0.0,
        retries: int = 1,
    ):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        import_ray()  # the CLI's install hint when Ray is missing
        units = RayUnits(workers, retries=retries, name="autorl-trial")
        super().__init__(objective, units, cpus=cpus, gpus=gpus)
