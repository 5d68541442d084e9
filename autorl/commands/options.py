"""Command-line options shared by ``design`` and ``benchmark``: constraints and energy model."""

from __future__ import annotations

import argparse

from envs.constraints import DesignConstraints, parse_gc, parse_motifs
from envs.folding import DEFAULT_ENERGY, ENERGY_PARAMETER_SETS, EnergyModel


def add_rule_options(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """Add ``--gc`` and ``--forbid``; return their group (for more constraint options)."""
    group = parser.add_argument_group("constraints (every reported design satisfies them)")
    group.add_argument(
        "--gc", metavar="MIN:MAX", help="GC-content range of every design, e.g. 0.4:0.6"
    )
    group.add_argument(
        "--forbid",
        metavar="MOTIF[,MOTIF...]",
        default="",
        help="IUPAC motifs no design may contain, e.g. AAAAA,GGGG,GAATTC",
    )
    return group


def add_energy_options(parser: argparse.ArgumentParser) -> None:
    """Add the energy-model options (defaults: ViennaRNA's, from :class:`EnergyModel`)."""
    group = parser.add_argument_group("energy model (used for designing, verifying and reporting)")
    group.add_argument(
        "--temperature",
        type=float,
        default=DEFAULT_ENERGY.temperature,
        metavar="C",
        help="degrees Celsius (%(default)g)",
    )
    group.add_argument(
        "--energy-params",
        default=DEFAULT_ENERGY.params,
        metavar="NAME|FILE",
        help=f"{', '.join(ENERGY_PARAMETER_SETS)} or a ViennaRNA .par file (%(default)s)",
    )
    group.add_argument(
        "--dangles",
        type=int,
        choices=(0, 2),
        default=DEFAULT_ENERGY.dangles,
        help="dangling ends: 0 or 2 (%(default)s)",
    )
    group.add_argument(
        "--no-lonely-pairs", action="store_true", help="fold without lonely base pairs"
    )


def rules_from_args(args: argparse.Namespace) -> DesignConstraints:
    """The GC and motif rules of ``--gc`` and ``--forbid``."""
    gc = parse_gc(args.gc) if args.gc is not None else None
    return DesignConstraints(gc=gc, forbid=parse_motifs(args.forbid))


def energy_from_args(args: argparse.Namespace) -> EnergyModel:
    """The energy model of the energy options (validated; a file is checked on use)."""
    return EnergyModel(args.temperature, args.energy_params, args.dangles, args.no_lonely_pairs)
