"""Side harness (not a user command): seconds per PPO update of a checkpoint's policy.

Collects one real rollout (64 steps of the configuration's ``n_envs`` episodes) on the
first target of a file and on all of them, then times ``model.train()`` (the median of
three after a warm-up), with the numpy mirror and with SB3's torch code. See
time_sampling.py for the commit to run it from.

    python docs/results/i14az/dev/time_update.py MODEL.zip TARGETS.txt
"""

import statistics
import sys
import time

import torch
from stable_baselines3.common.callbacks import CallbackList

from envs.dot_bracket import read_targets
from envs.vector import RnaDesignVecEnv
from meta.checkpoints import load_checkpoint, load_weights
from meta.design import build_ppo
from policies import numpy_window

checkpoint = load_checkpoint(sys.argv[1])
targets = read_targets(sys.argv[2])
torch.set_num_threads(1)
for enabled in (True, False):
    numpy_window.ENABLED = enabled
    for name, chosen in (("one target", targets[:1]), ("many targets", targets)):
        env = RnaDesignVecEnv(
            chosen, checkpoint.config.env, n_envs=checkpoint.config.ppo.n_envs, seed=0
        )
        model = build_ppo(env, checkpoint.config, 64, 0, "cpu")
        load_weights(model, checkpoint)
        model.set_random_seed(0)
        model._setup_learn(64 * model.n_envs)
        callback = CallbackList([])
        callback.init_callback(model)
        model.collect_rollouts(model.env, callback, model.rollout_buffer, 64)
        times = []
        for _ in range(4):
            began = time.perf_counter()
            model.train()
            times.append(time.perf_counter() - began)
        path = "numpy" if enabled else "torch"
        print(f"{path} {name}: update {statistics.median(times[1:]):.3f} s")
        env.close()
