"""Keep the targets that the constant design does not solve.

A dev harness, not a tool: the constant design is what every meta-trained policy so far
converged to (action 1 at every site: A at a loop site, C-G on a pair). This reads a
target file, folds that design of every target (ViennaRNA's MFE) and writes the targets
it does not fold into, as a target file, with a header line saying how it was made.

Usage (from the repository's root):
``python docs/results/i14ax/dev/constant_fails.py IN.txt OUT.txt``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from envs.dot_bracket import read_targets
from envs.folding import mfe_structure
from envs.rna_design import RnaDesignConfig, TargetEncoding, actions_to_sequence

#: The constant policy's action: A at a loop site, C-G on a pair.
CONSTANT_ACTION = 1


def constant_design(structure_encoding: TargetEncoding) -> str:
    """The sequence the constant policy writes for a target."""
    actions = np.full(structure_encoding.num_steps, CONSTANT_ACTION)
    return actions_to_sequence(structure_encoding, actions)


def main(arguments: list[str]) -> int:
    """Filter the file named first into the file named second."""
    if len(arguments) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    source, out = Path(arguments[0]), Path(arguments[1])
    config = RnaDesignConfig(state_radius=0)
    kept = []
    targets = read_targets(source)
    for target in targets:
        design = constant_design(TargetEncoding.build(target, config))
        if mfe_structure(design) != target.structure:
            kept.append(target)
    lines = [f"# targets of {source.name} the constant A/C-G design does not solve: "]
    lines[0] += f"{len(kept)} of {len(targets)} (docs/results/i14ax/dev/constant_fails.py)"
    lines += [f"{target.id}\t{target.structure}" for target in kept]
    out.write_text("\n".join(lines) + "\n")
    print(f"{len(kept)} of {len(targets)} targets kept", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
