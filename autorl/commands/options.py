"""Command-line options shared by several commands: constraints, energy model, backend, device.

Building a parser must stay light (``autorl --help`` imports neither ViennaRNA nor torch):
the heavy modules are imported by the functions that turn parsed options into objects.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from meta.cluster import BACKENDS, Backend
from policies.device import DEVICE_CHOICES

if TYPE_CHECKING:
    from envs.constraints import DesignConstraints
    from envs.folding import EnergyModel

# Literal copies of constants of heavy modules, so that building the parser imports none of
# them; tests/test_cli_startup.py checks that they equal the originals.
#: ``envs.folding.DEFAULT_ENERGY``'s temperature, params and dangles.
DEFAULT_TEMPERATURE = 37.0
DEFAULT_ENERGY_PARAMS = "turner2004"
DEFAULT_DANGLES = 2
#: The names of ``envs.folding.ENERGY_PARAMETER_SETS``, in its order.
ENERGY_PARAMETER_SETS = ("turner2004", "andronescu2007", "langdon2018")
#: ``meta.design.DEFAULT_REFINEMENT``: the default of ``--refine``.
DEFAULT_REFINEMENT = 200
#: ``meta.design.DEFAULT_ENSEMBLE_SHARE``: the default of ``--ensemble-share``.
DEFAULT_ENSEMBLE_SHARE = 0.5
#: ``meta.design.DEFAULT_ENSEMBLE_STARTS``: the default of ``--ensemble-starts``.
DEFAULT_ENSEMBLE_STARTS = 10
#: ``meta.design.DEFAULT_QUICK_STARTS``: the default of ``--quick-starts``.
DEFAULT_QUICK_STARTS = 3
#: ``meta.design.DEFAULT_ENSEMBLE_RIVALS``: the default of ``--ensemble-rivals``.
DEFAULT_ENSEMBLE_RIVALS = 0.5
#: ``meta.design.DEFAULT_ENSEMBLE_LATE_SHARE``: the default of ``--ensemble-late-share``.
DEFAULT_ENSEMBLE_LATE_SHARE = 0.9
#: ``meta.design.DEFAULT_LOCAL_IMPROVEMENT``: the default of ``--local-improvement``.
DEFAULT_LOCAL_IMPROVEMENT = 0
#: ``meta.design.DEFAULT_PIPELINE``: the default of ``--pipeline``/``--no-pipeline``.
DEFAULT_PIPELINE = True


def _parsed(text: str, convert: Callable[[str], Any], kind: str) -> Any:
    """``convert(text)``, or the ``argparse`` error naming ``kind`` (e.g. "an integer")."""
    try:
        return convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not {kind}: {text!r}") from None


def _bounded(
    convert: Callable[[str], Any], kind: str, low: float, high: float, open_above: bool = False
) -> Callable[[str], Any]:
    """An ``argparse`` type: ``convert(text)`` in ``[low, high]`` (``[low, high)``)."""
    bracket = ")" if open_above else "]"

    def parse(text: str) -> Any:
        value = _parsed(text, convert, kind)
        if not (low <= value < high if open_above else low <= value <= high):
            raise argparse.ArgumentTypeError(f"must be in [{low:g}, {high:g}{bracket}, got {text}")
        return value

    return parse


#: ``argparse`` types: a share of the time in [0, 1), a number of starts in [0, 64], a
#: share of steps in [0, 1], a number of sites >= 0.
share = _bounded(float, "a number", 0.0, 1.0, open_above=True)
starts = _bounded(int, "an integer", 0, 64)
fraction = _bounded(float, "a number", 0.0, 1.0)
sites = _bounded(int, "an integer", 0, math.inf)


#: The ensemble stage's options: flag -> (type, default, metavar, help after the scope).
_STAGE_OPTIONS: dict[str, tuple[Callable[[str], Any], float, str, str]] = {
    "--ensemble-share": (
        share,
        DEFAULT_ENSEMBLE_SHARE,
        "F",
        "share of each target's time given to the ensemble refinement stage, a search on "
        "the ensemble defect from the policy's closest designs, interleaved with the policy "
        "(default: %(default)g; 0: off)",
    ),
    "--ensemble-starts": (
        starts,
        DEFAULT_ENSEMBLE_STARTS,
        "N",
        "targeted designs (G-C/C-G pairs, A in loops, within the IUPAC codes) the ensemble "
        "stage evaluates at its first turn beside the policy's designs "
        "(default: %(default)d; 0: none)",
    ),
    "--quick-starts": (
        starts,
        DEFAULT_QUICK_STARTS,
        "N",
        "targeted designs (as --ensemble-starts, with Eterna's loop boosts) folded before "
        "the policy's first batch, within the first tenth of the time limit: an easy target "
        "is solved in milliseconds; when none solves it, the ensemble stage takes its first "
        'turn from them ("ensemble_first_turn": false in --config turns that off) '
        "(default: %(default)d; 0: none)",
    ),
    "--ensemble-rivals": (
        fraction,
        DEFAULT_ENSEMBLE_RIVALS,
        "F",
        "share of the ensemble stage's steps that are competitor steps: walks on folding "
        "energies that push the target's energy below the wrong structures the run has "
        "folded into (default: %(default)g; 0: none)",
    ),
    "--ensemble-late-share": (
        share,
        DEFAULT_ENSEMBLE_LATE_SHARE,
        "F",
        "the ensemble stage's share of each target's time once the first 10 s (the "
        "schedule's horizon) have passed (default: %(default)g; 0: --ensemble-share "
        "throughout)",
    ),
    "--local-improvement": (
        sites,
        DEFAULT_LOCAL_IMPROVEMENT,
        "D",
        "LEARNA's local improvement: refold the alternatives of the mismatched sites of "
        "every design within Hamming distance D of the target (default: %(default)d, off: "
        "the walk and the ensemble stage search those near-misses; LEARNA's published "
        "setting is 5)",
    ),
}


def _add_stage_option(parser: argparse.ArgumentParser, flag: str, scope: str) -> None:
    """Add one of :data:`_STAGE_OPTIONS`, its help prefixed with ``scope``."""
    convert, default, metavar, text = _STAGE_OPTIONS[flag]
    parser.add_argument(flag, type=convert, default=default, metavar=metavar, help=scope + text)


def add_ensemble_share_option(parser: argparse.ArgumentParser, scope: str = "") -> None:
    """Add ``--ensemble-share`` (the ensemble refinement stage's share of each run's time)."""
    _add_stage_option(parser, "--ensemble-share", scope)


def add_ensemble_starts_option(parser: argparse.ArgumentParser, scope: str = "") -> None:
    """Add ``--ensemble-starts`` (SAMFEO's targeted starts in the ensemble stage's pool)."""
    _add_stage_option(parser, "--ensemble-starts", scope)


def add_quick_starts_option(parser: argparse.ArgumentParser, scope: str = "") -> None:
    """Add ``--quick-starts`` (targeted starts folded before the policy)."""
    _add_stage_option(parser, "--quick-starts", scope)


def add_ensemble_rivals_option(parser: argparse.ArgumentParser, scope: str = "") -> None:
    """Add ``--ensemble-rivals`` (the ensemble stage's share of competitor steps)."""
    _add_stage_option(parser, "--ensemble-rivals", scope)


def add_ensemble_late_share_option(parser: argparse.ArgumentParser, scope: str = "") -> None:
    """Add ``--ensemble-late-share`` (the ensemble stage's share after the horizon)."""
    _add_stage_option(parser, "--ensemble-late-share", scope)


def add_local_improvement_option(parser: argparse.ArgumentParser, scope: str = "") -> None:
    """Add ``--local-improvement`` (LEARNA's local improvement's distance; 0: off)."""
    _add_stage_option(parser, "--local-improvement", scope)


def add_pipeline_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--pipeline``/``--no-pipeline`` (update while the next batch folds)."""
    parser.add_argument(
        "--pipeline",
        action=argparse.BooleanOptionalAction,
        default=DEFAULT_PIPELINE,
        help="with --workers > 1, update the policy while the next batch of designs folds, "
        "one rollout behind (about 1.2 times the episodes per second); --no-pipeline folds "
        "each batch, then updates on it (default: %(default)s)",
    )


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
    """Add the energy-model options (defaults: ViennaRNA's, as ``envs.folding.DEFAULT_ENERGY``)."""
    group = parser.add_argument_group("energy model (used for designing, verifying and reporting)")
    group.add_argument(
        "--temperature",
        type=float,
        default=DEFAULT_TEMPERATURE,
        metavar="C",
        help="degrees Celsius (%(default)g)",
    )
    group.add_argument(
        "--energy-params",
        default=DEFAULT_ENERGY_PARAMS,
        metavar="NAME|FILE",
        help=f"{', '.join(ENERGY_PARAMETER_SETS)} or a ViennaRNA .par file (%(default)s)",
    )
    group.add_argument(
        "--dangles",
        type=int,
        choices=(0, 2),
        default=DEFAULT_DANGLES,
        help="dangling ends: 0 or 2 (%(default)s)",
    )
    group.add_argument(
        "--no-lonely-pairs", action="store_true", help="fold without lonely base pairs"
    )


def rules_from_args(args: argparse.Namespace) -> DesignConstraints:
    """The GC and motif rules of ``--gc`` and ``--forbid``."""
    from envs.constraints import DesignConstraints, parse_gc, parse_motifs

    gc = parse_gc(args.gc) if args.gc is not None else None
    return DesignConstraints(gc=gc, forbid=parse_motifs(args.forbid))


def energy_from_args(args: argparse.Namespace) -> EnergyModel:
    """The energy model of the energy options (validated; a file is checked on use)."""
    from envs.folding import EnergyModel

    return EnergyModel(args.temperature, args.energy_params, args.dangles, args.no_lonely_pairs)


def add_device_option(parser: argparse.ArgumentParser, what: str = "the policy") -> None:
    """Add ``--device auto|cpu|cuda[:N]`` (checked when the command runs)."""
    parser.add_argument(
        "--device",
        default="auto",
        metavar=DEVICE_CHOICES,
        help=f"torch device of {what} (auto: CUDA when available; folding stays on the CPU)",
    )


def add_backend_options(
    parser: argparse.ArgumentParser, unit: str, resources: bool = False
) -> None:
    """Add ``--backend local|ray`` and ``--ray-address``.

    With ``resources`` also ``--cpus-per-UNIT`` and ``--gpus-per-UNIT`` (what Ray reserves
    for each unit).
    """
    group = parser.add_argument_group("where the work runs")
    group.add_argument(
        "--backend",
        default="local",
        help=f"{' or '.join(BACKENDS)}: local processes (default) or a Ray cluster, where "
        f"each {unit} runs (pip install -e '.[ray]')",
    )
    group.add_argument(
        "--ray-address",
        metavar="ADDRESS",
        help="with --backend ray: auto (this node's cluster), HOST:PORT or ray://HOST:PORT; "
        "default: start a local Ray instance for the run",
    )
    if resources:
        group.add_argument(
            f"--cpus-per-{unit}",
            type=float,
            default=1.0,
            metavar="N",
            help=f"CPUs reserved per {unit} (%(default)g)",
        )
        group.add_argument(
            f"--gpus-per-{unit}",
            type=float,
            default=0.0,
            metavar="N",
            help=f"GPUs reserved per {unit}; fractions share one (%(default)g)",
        )


def backend_from_args(args: argparse.Namespace, unit: str) -> Backend:
    """The :class:`meta.cluster.Backend` of the backend options (checked, not connected)."""
    cpus = getattr(args, f"cpus_per_{unit}", 1.0)
    gpus = getattr(args, f"gpus_per_{unit}", 0.0)
    if not cpus > 0:
        raise ValueError(f"--cpus-per-{unit} must be > 0, got {cpus:g}")
    if gpus < 0:
        raise ValueError(f"--gpus-per-{unit} must be >= 0, got {gpus:g}")
    return Backend(args.backend, args.ray_address, cpus, gpus)
