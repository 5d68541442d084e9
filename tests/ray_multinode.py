"""A two-node Ray cluster on this machine: actor placement and a lost node (run as a script).

``tests/test_ray_vec_env.py`` runs this in its own process (a process holds one Ray
connection, and the test session already has one) and reads the JSON it prints last.
"""

from __future__ import annotations

import json
import sys

import ray
from ray.cluster_utils import Cluster
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback

from envs.ray_vec_env import GymVecEnvFactory, RayVecEnv, with_rollout_redo


class _LoseNode(BaseCallback):
    """Removes the worker node (and the actor on it) after the first rollout."""

    def __init__(self, cluster: Cluster, node):
        super().__init__()
        self.cluster, self.node, self.done = cluster, node, False

    def _on_rollout_end(self) -> None:
        if not self.done:
            self.cluster.remove_node(self.node)
            self.done = True

    def _on_step(self) -> bool:
        return True


def _node_of(actor) -> str:
    return ray.get(actor.__ray_call__.remote(lambda self: ray.get_runtime_context().get_node_id()))


def main() -> dict:
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    worker = cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, log_to_driver=False, include_dashboard=False)
    cluster.wait_for_nodes()
    try:
        env = RayVecEnv(GymVecEnvFactory("CartPole-v1"), n_envs=4, n_workers=2, seed=0)
        env.placement_timeout = 3.0
        nodes = [_node_of(actor) for actor in env.actors]
        model = with_rollout_redo(PPO("MlpPolicy", env, n_steps=32, batch_size=64, seed=0))
        model.learn(total_timesteps=4 * 32 * 3, callback=_LoseNode(cluster, worker))
        result = {
            "actor_nodes": len(set(nodes)),
            "cluster_nodes": 2,
            "timesteps": int(model.num_timesteps),
            "redos": model.rollout_redos,
            "restarts": env.restarts,
            "oversubscribed": env.oversubscribed,
            "alive_nodes_after": sum(1 for n in ray.nodes() if n["Alive"]),
        }
        env.close()
        return result
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    print(json.dumps(main()))
    sys.exit(0)
