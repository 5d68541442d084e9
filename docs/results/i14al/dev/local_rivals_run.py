"""The stage harness with the target's local competitors known from the start (dev probe).

Every search begins with the structures :func:`envs.designability._local_competitors`
makes (one pair opened, a helix of up to three pairs opened, one pair end slid; those the
MFE algorithm can return) among its competitors, so the competitor walks and the
neighbourhoods weigh them before any evaluation has revealed them:
``local_rivals_run.py harness-args...``.
"""

import sys

from benchmarks import ensemble_stage
from envs.designability import _local_competitors, search_space_obstacles
from envs.ensemble_search import EnsembleSearch

_init = EnsembleSearch.__init__


def seeded(self, target, *args, **kwargs):
    """Make the search, then remember the target's local competitors as its rivals."""
    _init(self, target, *args, **kwargs)
    for _, structure in _local_competitors(target):
        if not search_space_obstacles(structure):
            self._remember_rival(structure)


EnsembleSearch.__init__ = seeded
sys.exit(ensemble_stage.main(sys.argv[1:]))
