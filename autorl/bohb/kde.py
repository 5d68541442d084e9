"""BOHB's model: per budget, a density of good and of bad configurations (Falkner et al. 2018).

The reference implementation (hpbandster) fits two ``statsmodels`` ``KDEMultivariate``
estimators per budget with the ``normal_reference`` bandwidth rule, a Gaussian kernel on
continuous dimensions and the Aitchison-Aitken kernel on categorical ones. This module
reproduces that with numpy and scipy, with three deliberate differences:

- the Aitchison-Aitken kernel uses the parameter's real number of categories (statsmodels
  counts the categories present in the data, which divides by zero when the good points all
  share one value) and its bandwidth is capped at ``(c-1)/c``, the uniform kernel;
- densities are computed in log space (a product over 30+ dimensions under- or overflows);
- results on smaller budgets are still recorded once a larger budget has a model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp
from scipy.stats import truncnorm

_LOG_FLOOR = math.log(1e-32)  # hpbandster clips both densities at 1e-32


class MixedKDE:
    """A product-kernel density over continuous ([0, 1]) and categorical dimensions.

    Args:
        data: Points, shape (n, d), without NaN (impute inactive values first).
        vartypes: Per dimension 0 (continuous) or the number of categories.
        min_bandwidth: Lower bound of every bandwidth.
    """

    def __init__(self, data: np.ndarray, vartypes: np.ndarray, min_bandwidth: float):
        data = np.asarray(data, dtype=float)
        if data.ndim != 2 or data.shape[1] != len(vartypes) or not np.isfinite(data).all():
            raise ValueError("data must be a finite (n, d) array matching vartypes")
        n, d = data.shape
        self.data = data
        self.vartypes = np.asarray(vartypes, dtype=int)
        self.categorical = self.vartypes > 0
        bw = 1.06 * data.std(axis=0) * n ** (-1.0 / (4 + d))  # statsmodels normal_reference
        bw = np.maximum(bw, min_bandwidth)
        levels = self.vartypes[self.categorical]
        bw[self.categorical] = np.minimum(bw[self.categorical], (levels - 1) / levels)
        self.bandwidth = bw

    def logpdf(self, points: np.ndarray) -> np.ndarray:
        """Log density at each row of ``points`` (shape (m, d)) -> shape (m,)."""
        points = np.atleast_2d(np.asarray(points, dtype=float))
        diff = points[:, None, :] - self.data[None, :, :]
        logk = np.empty_like(diff)
        cont = ~self.categorical
        if cont.any():
            h = self.bandwidth[cont]
            logk[..., cont] = -0.5 * (diff[..., cont] / h) ** 2 - np.log(math.sqrt(2 * math.pi) * h)
        if self.categorical.any():
            h = self.bandwidth[self.categorical]
            c = self.vartypes[self.categorical]
            same = np.rint(diff[..., self.categorical]) == 0
            logk[..., self.categorical] = np.where(same, np.log1p(-h), np.log(h / (c - 1)))
        return logsumexp(logk.sum(axis=2), axis=1) - math.log(len(self.data))

    def sample(self, rng: np.random.Generator, num: int, bandwidth_factor: float) -> np.ndarray:
        """Draw ``num`` points around randomly chosen data points, as hpbandster does.

        Continuous values come from a normal truncated to [0, 1] with the bandwidth widened
        by ``bandwidth_factor``; a categorical value is kept with probability ``1 - bw`` and
        otherwise drawn uniformly.
        """
        centers = self.data[rng.integers(len(self.data), size=num)]
        out = centers.copy()
        cont = ~self.categorical
        if cont.any():
            m = centers[:, cont]
            bw = np.broadcast_to(self.bandwidth[cont] * bandwidth_factor, m.shape)
            out[:, cont] = truncnorm.rvs(
                -m / bw, (1 - m) / bw, loc=m, scale=bw, size=m.shape, random_state=rng
            )
        for j in np.flatnonzero(self.categorical):
            redraw = rng.random(num) >= 1 - self.bandwidth[j]
            out[redraw, j] = rng.integers(self.vartypes[j], size=int(redraw.sum()))
        return out


def impute_inactive(data: np.ndarray, vartypes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Fill NaN (inactive) entries as hpbandster does.

    For each row, the first NaN dimension is filled from a random row of ``data`` where that
    dimension is active (all of that row's values are copied into the NaN positions); when
    no row has it active, a random legal value is drawn. Repeated until no NaN is left.
    """
    out = np.array(data, dtype=float, copy=True)
    active = np.isfinite(out)
    for row in np.flatnonzero(~active.all(axis=1)):
        datum = out[row]
        missing = np.flatnonzero(np.isnan(datum))
        while missing.size:
            j = missing[0]
            donors = np.flatnonzero(active[:, j])
            if donors.size:
                donor = data[rng.choice(donors)]
                datum[missing] = donor[missing]
            else:
                t = vartypes[j]
                datum[j] = rng.random() if t == 0 else rng.integers(t)
            missing = np.flatnonzero(np.isnan(datum))
    return out


@dataclass(frozen=True)
class ModelSettings:
    """Settings of the KDE model (see :class:`autorl.bohb.optimizer.BOHBConfig`)."""

    top_n_percent: int = 15
    min_points_in_model: int | None = None
    num_samples: int = 64
    bandwidth_factor: float = 3.0
    min_bandwidth: float = 1e-3


class KDEModel:
    """Good/bad densities per budget, fitted from every result seen so far.

    Args:
        vartypes: Per model dimension 0 (continuous) or the number of categories.
        settings: The model settings.
        seed: Seed of the imputation of inactive values; each fit draws from its own stream
            (the seed and the number of results so far), so a model rebuilt from the same
            results in the same order is the same model.
    """

    def __init__(self, vartypes: np.ndarray, settings: ModelSettings, seed: int = 0):
        self.vartypes = np.asarray(vartypes, dtype=int)
        self.settings = settings
        self.seed = seed
        self._count = 0
        d = len(self.vartypes)
        self.min_points = max(settings.min_points_in_model or 0, d + 1)
        self._points: dict[float, list[np.ndarray]] = {}
        self._losses: dict[float, list[float]] = {}
        self.models: dict[float, tuple[MixedKDE, MixedKDE]] = {}

    @property
    def budget(self) -> float | None:
        """The largest budget with a fitted model, or None."""
        return max(self.models) if self.models else None

    def observe(self, vector: np.ndarray, budget: float, loss: float) -> None:
        """Add a result (a non-finite loss counts as +inf) and refit that budget's model.

        The refit is skipped when a larger budget already has a model (proposals never use
        this one then).
        """
        loss = float(loss) if math.isfinite(loss) else math.inf
        self._count += 1
        self._points.setdefault(budget, []).append(np.asarray(vector, dtype=float))
        self._losses.setdefault(budget, []).append(loss)
        if self.budget is not None and self.budget > budget:
            return
        fitted = self._fit(budget)
        if fitted is not None:
            self.models[budget] = fitted

    def _fit(self, budget: float) -> tuple[MixedKDE, MixedKDE] | None:
        points = np.array(self._points[budget])
        losses = np.array(self._losses[budget])
        n, d = points.shape
        if n < self.min_points:
            return None
        n_good = max(self.min_points, self.settings.top_n_percent * n // 100)
        order = np.argsort(losses, kind="stable")
        good = points[order[:n_good]]
        bad = points[order[n_good:]]
        if len(good) <= d or len(bad) <= d:
            return None
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 2, self._count]))
        good = impute_inactive(good, self.vartypes, rng)
        bad = impute_inactive(bad, self.vartypes, rng)
        minimum = self.settings.min_bandwidth
        return MixedKDE(good, self.vartypes, minimum), MixedKDE(bad, self.vartypes, minimum)

    def candidates(self, rng: np.random.Generator) -> np.ndarray | None:
        """Sample candidates around good points, best ``l(x)/g(x)`` first (None: no model)."""
        if self.budget is None:
            return None
        good, bad = self.models[self.budget]
        samples = good.sample(rng, self.settings.num_samples, self.settings.bandwidth_factor)
        score = np.maximum(good.logpdf(samples), _LOG_FLOOR) - np.maximum(
            bad.logpdf(samples), _LOG_FLOOR
        )
        return samples[np.argsort(-score, kind="stable")]

    def num_points(self, budget: float) -> int:
        """The number of results recorded on ``budget``."""
        return len(self._losses.get(budget, ()))
