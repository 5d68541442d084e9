"""Side harness (not a user command): teacher solutions with canonical pair orientations.

For every solved result of a teacher's file (``autorl design --format jsonl``) whose target
has at most MAXLEN sites, its first solution is walked from 5' to 3' over the target's
pairs: a C-G pair becomes G-C when the design still folds into the target (one MFE fold
each), so the orientations left as C-G are the ones the solution needed. Writes the
canonical solutions and, for a control on the same targets, the original ones (one result
a line, as the teacher's file), and prints how many C-G pairs were tried and flipped.

    python docs/results/i14bb/dev/canonical_pairs.py TEACHER.jsonl MAXLEN CANON.jsonl ORIG.jsonl
"""

from __future__ import annotations

import json
import sys
from multiprocessing import Pool
from pathlib import Path

from envs.dot_bracket import pair_table
from envs.folding import mfe_structure


def canonical(job: tuple[str, str]) -> tuple[str, int, int]:
    """The solution with each C-G flipped to G-C where it stays a solution; flips, tries."""
    target, sequence = job
    letters = list(sequence)
    partners = pair_table(target)
    flipped = tried = 0
    for i, j in enumerate(partners):
        if j > i and letters[i] == "C" and letters[j] == "G":
            tried += 1
            letters[i], letters[j] = "G", "C"
            if mfe_structure("".join(letters)) == target:
                flipped += 1
            else:
                letters[i], letters[j] = "C", "G"
    return "".join(letters), flipped, tried


def main(teacher: str, max_length: int, canon_out: str, orig_out: str) -> None:
    """Write both files and print the counts."""
    lines = Path(teacher).read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    chosen = [r for r in records if r["solutions"] and len(r["target"]) <= max_length]
    with Pool(2) as pool:
        results = pool.map(canonical, [(r["target"], r["solutions"][0]) for r in chosen], 8)
    with open(canon_out, "w") as canon, open(orig_out, "w") as orig:
        for record, (sequence, _, _) in zip(chosen, results):
            common = {"target_id": record["target_id"], "target": record["target"]}
            orig.write(json.dumps({**common, "solutions": record["solutions"][:1]}) + "\n")
            canon.write(json.dumps({**common, "solutions": [sequence]}) + "\n")
    tried = sum(result[2] for result in results)
    flipped = sum(result[1] for result in results)
    print(f"{len(chosen)} designs; C-G pairs tried {tried}, flipped to G-C {flipped}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4])
