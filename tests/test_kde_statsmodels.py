"""autorl.bohb.kde.MixedKDE checked numerically against statsmodels' KDEMultivariate.

hpbandster's BOHB fits ``KDEMultivariate(data, var_type, bw="normal_reference")`` and clips
the bandwidths at ``min_bandwidth``; MixedKDE reimplements that, with the differences the
kde module documents (categorical levels from the parameter and bandwidth capped at
``(c-1)/c``, densities in log space).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import trapezoid

pytest.importorskip("statsmodels")

from statsmodels.nonparametric.kernel_density import KDEMultivariate  # noqa: E402

from autorl.bohb.kde import MixedKDE  # noqa: E402

# statsmodels 0.15 warns that its default rng will change (unused by normal_reference) and
# divides by zero in the categorical kernel when a column has a single level.
pytestmark = [
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning"),
]

MIN_BW = 1e-3  # hpbandster's default min_bandwidth
VARTYPES = np.array([0, 0, 0, 3, 4])  # 3 continuous, categoricals with 3 and 4 levels
VAR_TYPE = "cccuu"


def var_type(vartypes: np.ndarray) -> str:
    return "".join("u" if t else "c" for t in vartypes)


def mixed_data(rng: np.random.Generator, n: int, probs: dict[int, list[float]] | None = None):
    """n points: uniform continuous values; categorical levels from ``probs`` (default
    uniform), every level present (the first ``c`` rows hold levels 0..c-1)."""
    data = np.empty((n, len(VARTYPES)))
    for j, t in enumerate(VARTYPES):
        if t == 0:
            data[:, j] = rng.random(n)
        else:
            p = (probs or {}).get(t)
            data[:, j] = rng.choice(t, size=n, p=p)
            data[:t, j] = np.arange(t)
    return data


def random_points(rng: np.random.Generator, m: int, vartypes: np.ndarray) -> np.ndarray:
    points = np.empty((m, len(vartypes)))
    for j, t in enumerate(vartypes):
        points[:, j] = rng.uniform(-0.2, 1.2, m) if t == 0 else rng.integers(t, size=m)
    return points


def capped(vartypes: np.ndarray) -> np.ndarray:
    cap = np.full(len(vartypes), np.inf)
    cat = vartypes > 0
    cap[cat] = (vartypes[cat] - 1) / vartypes[cat]
    return cap


CASES = [(n, seed) for n in (20, 50) for seed in range(4)]


@pytest.mark.parametrize(("n", "seed"), CASES)
def test_bandwidths_match_normal_reference(n, seed):
    data = mixed_data(np.random.default_rng(seed), n)
    ours = MixedKDE(data, VARTYPES, MIN_BW).bandwidth
    theirs = KDEMultivariate(data, VAR_TYPE, bw="normal_reference").bw
    clipped = np.clip(theirs, MIN_BW, None)  # as hpbandster does
    cap = capped(VARTYPES)
    uncapped = clipped <= cap
    np.testing.assert_allclose(ours[uncapped], clipped[uncapped], rtol=1e-12)
    np.testing.assert_allclose(ours[~uncapped], cap[~uncapped], rtol=1e-12)
    assert uncapped[:3].all()  # continuous bandwidths are never capped


def test_bandwidth_cases_cover_capped_and_uncapped_categoricals():
    capped_any = uncapped_any = False
    for n, seed in CASES:
        data = mixed_data(np.random.default_rng(seed), n)
        theirs = KDEMultivariate(data, VAR_TYPE, bw="normal_reference").bw
        over = theirs[3:] > capped(VARTYPES)[3:]
        capped_any |= over.any()
        uncapped_any |= (~over).any()
    assert capped_any and uncapped_any


@pytest.mark.parametrize(("n", "seed"), CASES)
def test_density_matches_statsmodels_without_cap(n, seed):
    # concentrated categoricals keep the normal-reference bandwidth below (c-1)/c
    rng = np.random.default_rng(100 + seed)
    data = mixed_data(rng, n, {3: [0.1, 0.8, 0.1], 4: [0.05, 0.45, 0.45, 0.05]})
    kde = MixedKDE(data, VARTYPES, MIN_BW)
    sm = KDEMultivariate(data, VAR_TYPE, bw="normal_reference")
    assert (sm.bw >= MIN_BW).all() and (sm.bw < capped(VARTYPES)).all()  # no clip, no cap
    np.testing.assert_allclose(kde.bandwidth, sm.bw, rtol=1e-12)
    points = np.vstack([random_points(rng, 40, VARTYPES), data[:5]])
    ours = np.exp(kde.logpdf(points))
    theirs = sm.pdf(points)
    assert (theirs > 0).all()
    np.testing.assert_allclose(ours, theirs, rtol=1e-8)


@pytest.mark.parametrize(("n", "seed"), CASES)
def test_density_matches_statsmodels_with_our_bandwidths(n, seed):
    # the kernels agree whatever the bandwidth (capped ones included) when all levels occur
    rng = np.random.default_rng(200 + seed)
    data = mixed_data(rng, n)
    kde = MixedKDE(data, VARTYPES, MIN_BW)
    sm = KDEMultivariate(data, VAR_TYPE, bw=kde.bandwidth)
    points = random_points(rng, 40, VARTYPES)
    np.testing.assert_allclose(np.exp(kde.logpdf(points)), sm.pdf(points), rtol=1e-8)


def density_grid(kde: MixedKDE, levels: int) -> tuple[np.ndarray, np.ndarray]:
    """Densities of a 1-continuous + 1-categorical KDE on a grid: x, shape (levels, len(x))."""
    x = np.linspace(-4.0, 5.0, 36001)
    pdf = np.array(
        [np.exp(kde.logpdf(np.column_stack([x, np.full_like(x, k)]))) for k in range(levels)]
    )
    return x, pdf


def total_mass(kde: MixedKDE, levels: int) -> float:
    x, pdf = density_grid(kde, levels)
    return float(sum(trapezoid(row, x) for row in pdf))


def test_single_level_column_stays_a_density():
    # hpbandster's good points often share one categorical value: statsmodels then counts
    # one level and divides by zero in the Aitchison-Aitken kernel.
    rng = np.random.default_rng(7)
    vartypes = np.array([0, 3])
    data = np.column_stack([rng.random(12), np.ones(12)])
    sm = KDEMultivariate(data, "cu", bw="normal_reference")
    assert sm.bw[1] == 0.0
    other_level = np.array([[0.5, 0.0]])
    assert not np.isfinite(sm.pdf(other_level))  # 0 / 0
    sm.bw = np.clip(sm.bw, MIN_BW, None)  # what hpbandster does
    assert sm.pdf(other_level) == np.inf  # 1e-3 / 0
    kde = MixedKDE(data, vartypes, MIN_BW)
    assert kde.bandwidth[1] == MIN_BW
    ours = kde.logpdf(random_points(rng, 50, vartypes))
    assert np.isfinite(ours).all()
    assert total_mass(kde, 3) == pytest.approx(1.0, abs=1e-6)
    # and the mass off the observed level is the kernel's: bw, spread over the other levels
    x, pdf = density_grid(kde, 3)
    assert trapezoid(pdf[0], x) == pytest.approx(MIN_BW / 2, rel=1e-6)
    # on the observed level it agrees with statsmodels
    same_level = np.array([[0.3, 1.0], [0.9, 1.0]])
    np.testing.assert_allclose(np.exp(kde.logpdf(same_level)), sm.pdf(same_level), rtol=1e-8)


def test_missing_level_keeps_the_parameters_levels():
    # levels {0, 1, 2} of a 4-level parameter: statsmodels spreads bw over 2 other levels
    # (a mass of 1 + bw/2 over the 4 levels), ours over 3.
    rng = np.random.default_rng(3)
    vartypes = np.array([0, 4])
    data = np.column_stack([rng.random(30), rng.integers(3, size=30)])
    data[:3, 1] = [0, 1, 2]
    kde = MixedKDE(data, vartypes, MIN_BW)
    sm = KDEMultivariate(data, "cu", bw="normal_reference")
    h = kde.bandwidth[1]
    assert h == pytest.approx(sm.bw[1], rel=1e-12) and h < 0.75  # same bandwidth, no cap
    assert total_mass(kde, 4) == pytest.approx(1.0, abs=1e-6)
    x = np.linspace(-2.0, 3.0, 2001)  # statsmodels' pdf loops over points in Python
    sm_mass = sum(trapezoid(sm.pdf(np.column_stack([x, np.full_like(x, k)])), x) for k in range(4))
    assert sm_mass == pytest.approx(1 + h / 2, abs=1e-6)
    point = np.array([[0.4, 2.0]])
    ratio = np.exp(kde.logpdf(point))[0] / sm.pdf(point)
    assert 0 < ratio < 1  # ours puts h/3 (not h/2) on each other level


def test_log_space_survives_underflow():
    # 40 continuous dimensions, a point far from the data: statsmodels' product underflows
    rng = np.random.default_rng(0)
    d = 40
    data = rng.random((60, d))
    kde = MixedKDE(data, np.zeros(d, dtype=int), MIN_BW)
    sm = KDEMultivariate(data, "c" * d, bw="normal_reference")
    near, far = data[:1] + 0.01, np.full((1, d), 3.0)
    np.testing.assert_allclose(np.exp(kde.logpdf(near)), sm.pdf(near), rtol=1e-8)
    assert sm.pdf(far) == 0.0
    z = (far - data) / kde.bandwidth
    expected = np.logaddexp.reduce(
        -0.5 * (z**2).sum(axis=1) - np.log(math.sqrt(2 * math.pi) * kde.bandwidth).sum()
    ) - math.log(len(data))
    assert np.isfinite(kde.logpdf(far)[0])
    assert kde.logpdf(far)[0] == pytest.approx(expected, rel=1e-10)
