"""The lifetime value models: the paper's CDNOW fit, extreme cases against mpmath, properties."""

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import approx_fprime

from loyalty.services.insight import clv_model
from tests.loyalty.services.insight.cdnow import (
    PUBLISHED_BGNBD,
    PUBLISHED_GAMMA_GAMMA,
    summary,
)

CDNOW_PARAMS = (0.2426, 4.4136, 0.7929, 2.4259)


@pytest.fixture(scope="module")
def cdnow():
    return summary()


def test_cdnow_sample_has_the_papers_customers(cdnow):
    assert len(cdnow) == 2357
    assert int((cdnow[:, 0] > 0).sum()) == 946  # repeat customers, Fader & Hardie (2013)


def test_bgnbd_fit_reproduces_the_paper_on_cdnow(cdnow):
    x, t_x, T, _m = cdnow.T
    fitted = dict(zip(["r", "alpha", "a", "b"], clv_model.fit_bgnbd(x, t_x, T), strict=True))
    for name, published in PUBLISHED_BGNBD.items():
        assert fitted[name] == pytest.approx(published, rel=0.02), name
    # The paper's maximised log-likelihood.
    assert clv_model.bgnbd_loglik(list(fitted.values()), x, t_x, T) == pytest.approx(
        -9582.4, abs=0.1)


def test_gamma_gamma_fit_reproduces_the_paper_on_cdnow(cdnow):
    repeat = cdnow[cdnow[:, 0] > 0]
    fitted = dict(zip(["p", "q", "v"], clv_model.fit_gamma_gamma(repeat[:, 0], repeat[:, 3]),
                      strict=True))
    for name, published in PUBLISHED_GAMMA_GAMMA.items():
        assert fitted[name] == pytest.approx(published, rel=0.02), name


def test_a_fit_on_distinct_rows_with_their_counts_equals_the_fit_on_every_row(cdnow):
    x, t_x, T, _m = cdnow.T
    triples, counts = np.unique(cdnow[:, :3], axis=0, return_counts=True)
    assert len(triples) < len(cdnow) / 2
    assert clv_model.fit_bgnbd(*triples.T, weights=counts) == pytest.approx(
        clv_model.fit_bgnbd(x, t_x, T), rel=1e-5)


def test_the_likelihood_gradients_match_finite_differences(cdnow):
    x, t_x, T, _m = cdnow.T
    weights = np.arange(len(x)) % 3 + 1.0

    def loglik(log_params):
        return clv_model.bgnbd_loglik(np.exp(log_params), x, t_x, T, weights)

    for params in (CDNOW_PARAMS, (1.5, 0.7, 3.0, 0.2), (0.05, 20.0, 0.1, 9.0)):
        _ll, grad = clv_model._bgnbd(params, x, t_x, T, weights, gradient=True)
        numeric = approx_fprime(np.log(params), loglik, 1e-6)
        assert grad == pytest.approx(numeric, rel=1e-4, abs=1e-2)
    repeat = cdnow[cdnow[:, 0] > 0]
    for params in ((6.25, 3.74, 15.44), (0.5, 40.0, 900.0), (30.0, 1.5, 2.0)):
        _ll, grad = clv_model._gamma_gamma(params, repeat[:, 0], repeat[:, 3], gradient=True)
        numeric = approx_fprime(np.log(params), lambda lp: clv_model.gamma_gamma_loglik(
            np.exp(lp), repeat[:, 0], repeat[:, 3]), 1e-6)
        assert grad == pytest.approx(numeric, rel=1e-4, abs=1e-2)


def test_the_papers_worked_example():
    # FHL (2005), section 5: x = 2, t_x = 30.43, T = 38.86 expects 1.226 purchases in 39 weeks.
    assert clv_model.expected_purchases(CDNOW_PARAMS, 39, 2, 30.43, 38.86) == pytest.approx(
        1.226, abs=1e-3)


def reference_expected(params, t, x, t_x, T):
    """FHL (2005) eq. 10 as printed (no transformation), at 60 digits; for a in the
    millions (where mpmath's 2F1 takes minutes), the Beta integral it stands for."""
    with mpmath.workdps(60):
        r, alpha, a, b = (mpmath.mpf(v) for v in params)
        if a == 1:  # 0/0 as printed: its limit, to 20 digits
            a += mpmath.mpf("1e-40")
        t, x, t_x, T = (mpmath.mpf(v) for v in (t, x, t_x, T))
        if a < 1e5:
            z = t / (alpha + T + t)
            bracket = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * mpmath.hyp2f1(
                r + x, b + x, a + b + x - 1, z)
            value = (a + b + x - 1) / (a - 1) * bracket
        else:
            value = beta_integral(a, b + x, r + x, t / (alpha + T))
        if x > 0:
            value /= 1 + a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x)
        return float(value)


def beta_integral(a, b1, n, c):
    """E[(1 - (1 + p c)^-n) / p] for p ~ Beta(a, b1), by mpmath's quadrature about the mode."""
    log_beta = mpmath.log(mpmath.beta(a, b1))
    mode = a / (a + b1)
    sd = mpmath.sqrt(mode * (1 - mode) / (a + b1))

    def integrand(p):
        density = mpmath.exp((a - 1) * mpmath.log(p) + (b1 - 1) * mpmath.log(1 - p) - log_beta)
        return density * (1 - (1 + p * c) ** -n) / p

    return mpmath.quad(integrand, [mode + k * sd for k in range(-40, 41, 2)])


EXTREMES = [
    # (params, t, x, t_x, T): heavy buyers with a short history overflow the textbook 2F1.
    (CDNOW_PARAMS, 52, 500, 49.5, 50),
    (CDNOW_PARAMS, 52, 500, 53.9, 54),
    (CDNOW_PARAMS, 520, 500, 29.9, 30),
    (CDNOW_PARAMS, 4.35, 2000, 51.9, 52),
    (CDNOW_PARAMS, 52, 500, 40, 54),  # a heavy buyer silent for 14 weeks: almost surely gone
    (CDNOW_PARAMS, 52, 0, 0, 0),  # bought today for the first time
    (CDNOW_PARAMS, 0.01, 3, 10, 20),
    (CDNOW_PARAMS, 52, 1, 0.14, 0.14),
    # Past the series (z > 0.9: a short history against a long horizon): by quadrature.
    ((2.5, 0.3, 4.0, 0.4), 520, 0, 0, 0),  # z = 0.9994
    ((2.5, 0.3, 4.0, 0.4), 520, 40, 1.9, 2),
    ((5.0, 0.1, 5.0, 10.0), 520, 600, 0.5, 0.5),  # C - A - B an integer: scipy's 2F1 is NaN
    ((0.3, 0.0188, 0.023, 3.806), 520, 0, 0, 0),  # a tiny: most of the mass near p = 0
    ((1.32, 0.0225, 0.032, 0.49), 4.35, 1, 0, 0),
    ((0.29, 0.016, 0.025, 0.014), 52, 600, 0.5, 0.5),
    ((0.65, 0.017, 9.49, 0.56), 520, 20, 0, 0),  # a large
    (CDNOW_PARAMS, 104, 2, 1, 1),  # z = 0.913, just past the series
    # a and b run off together when nobody seems to leave (a fixed dropout probability):
    # the series' terms would first grow like (1-z)^-(a-1); by quadrature around the mode.
    ((0.49, 3.16, 307.7, 841.8), 52, 3, 20, 60),
    ((0.49, 3.16, 4.49e6, 1.23e7), 52, 3, 20, 60),
    ((0.49, 3.16, 4.49e6, 1.23e7), 520, 500, 52, 52.1),
    ((0.49, 3.16, 60.0, 2.0), 4.35, 0, 0, 10),
    ((0.05, 60.0, 0.1, 25.0), 52, 7, 80, 100),
    ((1.2, 2.0, 1.0 + 1e-7, 3.0), 52, 5, 20, 30),  # a -> 1: the bracket over a-1 stays exact
    ((1.2, 2.0, 1.0 - 1e-7, 3.0), 52, 0, 0, 30),
    ((0.8, 10.0, 12.0, 0.9), 104, 1, 3, 4),  # b + x - 1 < 0.1, large a
]


@pytest.mark.parametrize("params, t, x, t_x, T", EXTREMES)
def test_conditional_expectation_matches_high_precision(params, t, x, t_x, T):
    ours = clv_model.expected_purchases(params, t, x, t_x, T)
    assert np.isfinite(ours)
    assert ours == pytest.approx(reference_expected(params, t, x, t_x, T), rel=1e-9, abs=1e-300)


def test_conditional_expectation_over_arrays_matches_one_by_one():
    params, t, x, t_x, T = (np.array(column, dtype=object) for column in zip(*EXTREMES[:8],
                                                                             strict=True))
    together = clv_model.expected_purchases(CDNOW_PARAMS, t.astype(float), x.astype(float),
                                            t_x.astype(float), T.astype(float))
    alone = [clv_model.expected_purchases(CDNOW_PARAMS, *row) for row in zip(t, x, t_x, T,
                                                                           strict=True)]
    assert together == pytest.approx(alone, rel=1e-12)


def test_a_equal_to_one_gives_the_limit():
    params = (1.2, 2.0, 1.0, 3.0)
    near = clv_model.expected_purchases((1.2, 2.0, 1.0 + 1e-9, 3.0), 52, 5, 20, 30)
    assert clv_model.expected_purchases(params, 52, 5, 20, 30) == pytest.approx(near, rel=1e-7)


def test_predicted_value_sums_discounted_monthly_purchases_times_spend():
    bgnbd, gg = CDNOW_PARAMS, (6.25, 3.74, 15.44)
    purchases, spend, value = clv_model.predicted_value(
        bgnbd, gg, [2], [30.43], [38.86], [20.0], months=3, monthly_discount=0.01)
    months = clv_model.WEEKS_PER_MONTH * np.arange(4)
    cumulative = [reference_expected(bgnbd, t, 2, 30.43, 38.86) if t else 0 for t in months]
    expected_spend = 6.25 * (15.44 + 2 * 20.0) / (6.25 * 2 + 3.74 - 1)
    assert spend[0] == pytest.approx(expected_spend)
    assert purchases[0] == pytest.approx(cumulative[3])
    assert value[0] == pytest.approx(expected_spend * sum(
        (cumulative[m] - cumulative[m - 1]) / 1.01 ** m for m in (1, 2, 3)))


def test_expected_spend_of_a_customer_without_repeat_is_the_population_mean():
    p, q, v = 6.25, 3.74, 15.44
    assert clv_model.expected_spend((p, q, v), 0, 0) == pytest.approx(p * v / (q - 1))


# --- Properties ------------------------------------------------------------------------------

def positive(low, high):
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


bgnbd_params = st.tuples(positive(0.05, 5), positive(0.1, 50), positive(0.05, 5),
                         positive(0.05, 10))


@st.composite
def customers(draw):
    x = draw(st.integers(0, 600))
    T = draw(positive(0, 200))
    t_x = draw(positive(0, T)) if x else 0.0
    return float(x), t_x, T


@settings(max_examples=150, deadline=None)
@given(bgnbd_params, customers())
def test_p_alive_is_a_probability_and_one_without_repeat_purchases(params, customer):
    x, t_x, T = customer
    alive = clv_model.p_alive(params, x, t_x, T)
    assert 0 <= alive <= 1
    if x == 0:
        assert alive == 1


@settings(max_examples=60, deadline=None)
@given(bgnbd_params, customers(), positive(0.1, 600))
def test_conditional_expectation_matches_high_precision_anywhere(params, customer, t):
    ours = clv_model.expected_purchases(params, t, *customer)
    assert ours == pytest.approx(reference_expected(params, t, *customer), rel=1e-8,
                                 abs=1e-300)


@settings(max_examples=150, deadline=None)
@given(bgnbd_params, customers(), st.lists(positive(0, 600), min_size=2, max_size=6))
def test_expected_purchases_are_non_negative_and_grow_with_time(params, customer, times):
    t = np.sort(np.array(times))
    expected = clv_model.expected_purchases(params, t, *customer)
    assert np.all(np.isfinite(expected))
    assert np.all(expected >= 0)
    assert np.all(np.diff(expected) >= -1e-9 * max(1.0, expected.max()))


@settings(max_examples=100, deadline=None)
@given(bgnbd_params, customers(), positive(1, 500), positive(0.01, 100),
       positive(0.0001, 0.5))
def test_value_grows_with_spend_and_discounting_lowers_it(params, customer, spend, more,
                                                         discount):
    x, t_x, T = customer
    gg = (6.25, 3.74, 15.44)

    def value(m_x, d):
        return clv_model.predicted_value(params, gg, [x], [t_x], [T], [m_x], months=12,
                                         monthly_discount=d)[2][0]

    base = value(spend, discount)
    assert base >= 0
    if x > 0:
        assert value(spend + more, discount) >= base
    assert value(spend, 0.0) >= base
