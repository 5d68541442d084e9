"""Side harness (not a user command): what one ``structure_energies`` call costs.

Times ``envs.folding.structure_energies`` on 2,000 one-site mutants of a 97-nt design (an
Eterna puzzle's near-miss: its target and the structure it folds into, as a competitor
walk or a neighbourhood scores them), through ViennaRNA's ``energy_of_structure`` (the
default since session 66) and through a new evaluation-only fold compound per call (the
fallback, and the only path before).

Session 66: 29.4 against 37.6 us per call (two structures); later runs: 22.3 against 31.4,
and 20.0 against 23.6.

Usage: python docs/results/i14bd/dev/energy_calls.py
"""

import itertools
import random
import timeit

import envs.folding as folding
from envs.folding import structure_energies

TARGET = (
    "......((.((..((..(...(.((.((....))))..)...(.((..((....))..))..)...).))..))))"
    "....................."
)
FOLDED = (
    "......((.((..((..(..((.((.((....))))......(.((..((....))..)).)))..).))..))))"
    "....................."
)
DESIGN = (
    "AAAAAACCGCCGACUGAGGACUACCACGGAAACGGGAAAAAGUGCCGACGGAAACGAAGGGAAGAGCAAGAAGGGG"
    "AAAAAAAAAAAAAAAAAAAAA"
)


def mutants(count: int) -> list[str]:
    """``count`` copies of the design, each with one site both structures leave unpaired changed."""
    rng = random.Random(0)
    free = [i for i, (a, b) in enumerate(zip(TARGET, FOLDED)) if a == b == "."]
    designs = []
    for _ in range(count):
        letters = list(DESIGN)
        letters[rng.choice(free)] = rng.choice("ACGU")
        designs.append("".join(letters))
    return designs


def per_call(designs: list[str], calls: int) -> float:
    """Microseconds per ``structure_energies`` call, cycling through ``designs``."""
    cycle = itertools.cycle(designs)
    seconds = timeit.timeit(lambda: structure_energies(next(cycle), [TARGET, FOLDED]), number=calls)
    return 1e6 * seconds / calls


designs = mutants(2000)
fast = folding._ENERGY_OF_STRUCTURE
for name, evaluate in [("energy_of_structure", fast), ("a fold compound per call", None)]:
    folding._ENERGY_OF_STRUCTURE = evaluate
    print(f"{name}: {per_call(designs, 50000):.1f} us per call (two structures)")
