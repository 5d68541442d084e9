"""Side harness (not a user command): milliseconds per sampling step of a checkpoint's policy.

Session 62 asked whether the numpy mirror (policies/numpy_window.py) should sample and
update policies that see the letters they write (``observe_letters``). This steps
``RnaDesignVecEnv`` on the first target of a file (one target, as a design run) and on all
of them (as meta-training), ``N_ENVS`` parallel episodes, and times the policy's forward
pass per step, with the mirror (``numpy``) and with SB3's torch code (``torch``). With
``NO_FIELD_TABLE=1`` the mirror's field table is left out.

The mirror over 20 codes existed only at commits 7fe5d3c and c2dc58d (reverted in 400e3ba);
run this from a worktree of c2dc58d to see it (at any other commit the mirror declines a
letters policy and both rows are torch's):

    python docs/results/i14az/dev/time_sampling.py MODEL.zip TARGETS.txt N_ENVS STEPS
"""

import os
import sys
import time

import torch

from envs.dot_bracket import read_targets
from envs.vector import RnaDesignVecEnv
from meta.checkpoints import load_checkpoint, load_weights
from meta.design import build_ppo
from policies import numpy_window

checkpoint = load_checkpoint(sys.argv[1])
targets = read_targets(sys.argv[2])
n_envs, steps = int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(1)
if os.environ.get("NO_FIELD_TABLE"):
    numpy_window._FieldTable.of = classmethod(lambda cls, *args: None)
for enabled in (True, False):
    numpy_window.ENABLED = enabled
    for name, chosen in (("one target", targets[:1]), ("many targets", targets)):
        env = RnaDesignVecEnv(chosen, checkpoint.config.env, n_envs=n_envs, seed=0)
        model = build_ppo(env, checkpoint.config, 64, 0, "cpu")
        load_weights(model, checkpoint)
        observations, spent = env.reset(), 0.0
        for _ in range(steps):
            tensor = torch.as_tensor(observations)
            began = time.perf_counter()
            with torch.no_grad():
                actions, _, _ = model.policy(tensor)
            spent += time.perf_counter() - began
            observations, _, _, _ = env.step(actions.numpy())
        path = "numpy" if enabled else "torch"
        print(f"{path} {name}: {1000 * spent / steps:.2f} ms per step")
        env.close()
