"""What every result records about where it came from: package versions and the machine."""

from __future__ import annotations

import platform
from functools import cache
from importlib import metadata

PACKAGES = (
    "autorl",
    "viennarna",
    "torch",
    "stable-baselines3",
    "gymnasium",
    "numpy",
    "scipy",
    "ConfigSpace",
    "sb3-contrib",
    "mnist1d",
    "scikit-learn",
    "smac",
    "optuna",
    "hpbandster",
    "ray",
)


@cache
def package_versions() -> dict[str, str]:
    """Versions of Python and the packages that shape results (``missing`` if absent)."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "missing"
    return versions


def versions_string() -> str:
    """``name=version`` pairs joined by ``;`` (for one CSV column)."""
    return ";".join(f"{name}={version}" for name, version in package_versions().items())
