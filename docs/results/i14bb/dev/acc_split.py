"""Side harness (not a user command): a policy's imitation accuracy, pairs and unpaired apart.

Reads a teacher's solutions (``autorl design --format jsonl``) of targets in a training
file, turns the last N of them into the decisions the imitation trains on
(:func:`meta.imitation.demonstrate`), and prints, for the decisions at a target pair and at
an unpaired site apart, their share, the demonstrated actions' frequencies, the policy's
mean action probabilities and its accuracy (its most probable action is the demonstrated
one). Session 64 ran it on the shipped model and 500 designs of targets it never saw.

    python docs/results/i14bb/dev/acc_split.py MODEL.zip TRAIN.txt TEACHER.jsonl [N]
"""

from __future__ import annotations

import sys

import numpy as np

from envs.dot_bracket import read_targets
from envs.rna_design import PAIRS, TargetEncoding, sequence_to_actions
from meta.checkpoints import load_checkpoint
from meta.design import build_ppo, load_weights
from meta.imitation import _log_probabilities, demonstrate, read_designs
from meta.rna_agent import RNA_AGENT


def main(model: str, train: str, teacher: str, count: int = 300) -> None:
    """Print the split for the last ``count`` designs of ``teacher``."""
    checkpoint = load_checkpoint(model)
    config = checkpoint.config
    demonstrations = read_designs(teacher, read_targets(train))[0][-count:]
    env = RNA_AGENT.make_env(1, 0, targets=["((((....))))"], config=config)
    agent = build_ppo(env, config, 8, 0, "cpu")
    load_weights(agent, checkpoint, with_optimizer=False)
    data = demonstrate(demonstrations, config.env)
    paired = []
    for demonstration in demonstrations:  # in demonstrate's order, skipping as it does
        encoding = TargetEncoding.build(demonstration.target, config.env)
        actions = sequence_to_actions(encoding, demonstration.sequence, len(PAIRS))
        if actions.max(initial=0) < config.env.num_actions:
            paired.append(np.asarray(encoding.partners) >= 0)
    at_pair = np.concatenate(paired)
    log_probs = _log_probabilities(agent.policy, data, np.arange(len(data)))
    hits = log_probs.argmax(axis=1) == data.actions
    print(f"decisions {len(data)}, at pairs {at_pair.mean():.3f}")
    for name, rows in (("pairs", at_pair), ("unpaired", ~at_pair)):
        shown = np.bincount(data.actions[rows], minlength=4) / rows.sum()
        mean = np.exp(log_probs[rows]).mean(axis=0)
        print(f"{name}: accuracy {hits[rows].mean():.3f}, demonstrated {shown.round(3)}, ", end="")
        print(f"policy {mean.round(3)}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], *(int(a) for a in sys.argv[4:5]))
