"""Side harness (not a user command): how well cloning fits a teacher's designs.

Clones the first N demonstrations of a teacher's file into a fresh policy of a
configuration, with or without the prior bias of the first epoch, and prints each epoch and
the spread of the policy's probabilities over the first 2,000 decisions (0: every window
gets the same probabilities). Session 61 ran (300 designs, 3-4 epochs)::

    python docs/results/i14ay/dev/clone_probe.py docs/results/i14ax/letters.json \
        runs/probe/train.txt runs/probe/teacher.jsonl 300 1e-3 3 --no-prior
    python docs/results/i14ay/dev/clone_probe.py docs/results/i14ax/letters.json \
        runs/probe/train.txt runs/probe/teacher.jsonl 300 1e-3 4
"""

from __future__ import annotations

import argparse
from unittest import mock

import numpy as np
import torch

import meta.imitation as imitation
from envs.dot_bracket import read_targets
from meta.config import META_LEARNA, LearnaConfig
from meta.rna_agent import RNA_AGENT


def main() -> None:
    """Clone, print each epoch and the spread of the probabilities."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("train")
    parser.add_argument("designs")
    parser.add_argument("count", type=int)
    parser.add_argument("learning_rate", type=float)
    parser.add_argument("epochs", type=int)
    parser.add_argument("--no-prior", action="store_true", help="skip the prior bias")
    args = parser.parse_args()
    torch.set_num_threads(2)
    config = LearnaConfig.load(args.config, base=META_LEARNA)
    targets = read_targets(args.train)
    demonstrations, _ = imitation.read_designs(args.designs, targets)
    data = imitation.demonstrate(demonstrations[: args.count], config.env)
    print(data.summary())
    env = RNA_AGENT.make_env(2, 0, targets=targets[:4], config=config)
    model = RNA_AGENT.build_model(config, env, 0, "cpu", n_steps=16)
    env.close()
    prior = (lambda policy, actions: None) if args.no_prior else imitation.prior_bias
    with mock.patch.object(imitation, "prior_bias", prior):
        for epoch in imitation.clone(
            model, data, epochs=args.epochs, learning_rate=args.learning_rate, seed=0
        ):
            print(epoch, flush=True)
    observations = torch.as_tensor(data.observations[:2000], dtype=torch.float32)
    probs = model.policy.get_distribution(observations).distribution.probs.detach().numpy()
    print("mean", probs.mean(0).round(3), "std over windows", probs.std(0).round(3))
    print("spread", float(np.abs(probs - probs.mean(0)).max()))


if __name__ == "__main__":
    main()
