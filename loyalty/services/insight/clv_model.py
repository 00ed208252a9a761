"""Lifetime value models, pure numpy/scipy: BG/NBD for purchases, Gamma-Gamma for spend.

BG/NBD: Fader, Hardie & Lee (2005), "Counting your customers the easy way".
Gamma-Gamma: Fader & Hardie (2013), "The Gamma-Gamma model of monetary value".
Per customer: x repeat purchases (purchase days after the first), t_x the time of
the last one and T the time since the first, both in weeks from the first
purchase; m_x the mean spend of the x repeat purchases. Both fits maximise the
likelihood with BFGS on the logarithms of the parameters (so they stay positive).
The data may come compressed: identical rows once, with a weight (their count).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import betaln, expit, gammaln, hyp2f1

WEEKS_PER_MONTH = 365.25 / 12 / 7  # 4.348: a calendar month on average, in weeks
SERIES_Z_MAX = 0.9  # beyond, the series needs > 350 terms: scipy's hyp2f1 takes over
SERIES_TERMS = 2_000


class FitError(RuntimeError):
    """The optimiser did not reach a usable maximum of the likelihood."""


def _fit(negll, start) -> np.ndarray:
    result = minimize(negll, np.log(start), method="BFGS", options={"gtol": 1e-6})
    params = np.exp(result.x)
    if not (np.isfinite(result.fun) and np.all(np.isfinite(params))):
        raise FitError(result.message)
    # BFGS often ends on "precision loss" at the optimum; a small gradient is what matters.
    if not result.success and np.max(np.abs(result.jac)) > 1e-3:
        raise FitError(result.message)
    return params


def bgnbd_loglik(params, x, t_x, T, weights=None) -> float:
    """Sum of the BG/NBD log-likelihoods (FHL 2005, eq. 6) of the customers."""
    r, alpha, a, b = params
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    alive = betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        dropped = np.where(x > 0, betaln(a + 1, np.maximum(b + x - 1, 1e-300)) - betaln(a, b)
                           - (r + x) * np.log(alpha + t_x), -np.inf)
    ll = common + np.logaddexp(alive, dropped)
    return float(np.sum(ll if weights is None else weights * ll))


def fit_bgnbd(x, t_x, T, weights=None) -> tuple[float, float, float, float]:
    """Maximum likelihood (r, alpha, a, b); raises FitError if the optimiser fails."""
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    total = len(x) if weights is None else float(np.sum(weights))
    start = [1.0, max(float(np.mean(T)), 1e-3), 1.0, 1.0]
    # Scaled by the number of customers, so the gradient tolerance means the same at any size.
    params = _fit(lambda p: -bgnbd_loglik(np.exp(p), x, t_x, T, weights) / total, start)
    return tuple(float(v) for v in params)


def p_alive(params, x, t_x, T) -> np.ndarray:
    """P(still active at T | x, t_x, T); 1 for a customer with no repeat purchase."""
    r, alpha, a, b = params
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    with np.errstate(divide="ignore", invalid="ignore"):
        log_odds = (np.log(a) - np.log(np.maximum(b + x - 1, 1e-300))
                    + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x)))
    return np.where(x > 0, expit(-log_odds), 1.0)


def _euler_bracket(A, s, C, z) -> np.ndarray:
    """[1 - (1-z)^s 2F1(A, s; C; z)] / s, with no cancellation as s -> 0.

    The 2F1 here is the Euler-transformed one, whose parameters do not grow with x
    (only C does, which makes it converge faster), so heavy buyers cannot overflow.
    Terms u_k = (A)_k (s+1)_{k-1} / ((C)_k k!) z^k after the first; the series runs
    until every entry has converged, on the entries still running only.
    """
    A, s, C, z = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (A, s, C, z)))
    log1mz = np.log1p(-z)
    head = -np.expm1(s * log1mz) / np.where(s == 0, 1.0, s)
    head = np.where(s == 0, -log1mz, head)
    total = np.zeros(z.shape)
    running = np.flatnonzero((z > 0) & (z <= SERIES_Z_MAX))
    # The running entries' values, compacted as entries converge.
    Ar, sr, Cr, zr, hr = (v.ravel()[running] for v in (A, s, C, z, head))
    sums, term = np.zeros(running.size), Ar * zr / Cr
    k = 1
    while running.size and k < SERIES_TERMS:
        sums += term
        ratio = (Ar + k) * (sr + k) * zr / ((Cr + k) * (k + 1))
        done = ((np.abs(term) <= 1e-16 * np.maximum(np.abs(sums), np.abs(hr)) * (1 - zr))
                & (np.abs(ratio) < 1))
        term = term * ratio
        if k % 8 == 0 and done.any():  # compacting costs a copy: not at every step
            total.flat[running[done]] = sums[done]
            keep = ~done
            running, Ar, sr, Cr, zr, hr, sums, term = (
                v[keep] for v in (running, Ar, sr, Cr, zr, hr, sums, term))
        k += 1
    result = np.asarray(head - np.exp(s * log1mz) * total)  # 0-d stays an array
    # Near z = 1 the series is slow: there scipy's 2F1 (of the same transformed parameters;
    # agrees with mpmath to 1e-11 on z in 0.7..1 - 1e-8 there)
    running = np.union1d(running, np.flatnonzero(z > SERIES_Z_MAX))
    if running.size:
        Ar, sr, Cr, zr = A.flat[running], s.flat[running], C.flat[running], z.flat[running]
        result.flat[running] = (1 - np.exp(sr * np.log1p(-zr)) * hyp2f1(Ar, sr, Cr, zr)) / sr
    return result


def expected_purchases(params, t, x, t_x, T) -> np.ndarray:
    """E[Y(t) | x, t_x, T]: expected purchases in the next t weeks (FHL 2005, eq. 10).

    (a+b+x-1)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)],
    z = t/(alpha+T+t), over 1 + [x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x); by Euler's
    transformation the bracket is 1 - (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z).
    """
    r, alpha, a, b = params
    t, x, t_x, T = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (t, x, t_x, T)))
    z = t / (alpha + T + t)
    bracket = _euler_bracket(a + b - 1 - r, a - 1, a + b + x - 1, z)
    return (a + b + x - 1) * bracket * p_alive(params, x, t_x, T)


def gamma_gamma_loglik(params, x, m_x, weights=None) -> float:
    """Sum of the Gamma-Gamma log-likelihoods of the mean spends m_x of x > 0 purchases."""
    p, q, v = params
    px = p * x
    ll = (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(v) + (px - 1) * np.log(m_x)
          + px * np.log(x) - (px + q) * np.log(x * m_x + v))
    return float(np.sum(ll if weights is None else weights * ll))


def fit_gamma_gamma(x, m_x, weights=None) -> tuple[float, float, float]:
    """Maximum likelihood (p, q, v) on repeat customers (x > 0, m_x > 0)."""
    x, m_x = np.asarray(x, dtype=float), np.asarray(m_x, dtype=float)
    total = len(x) if weights is None else float(np.sum(weights))
    start = [1.0, 1.0, max(float(np.mean(m_x)), 1e-3)]
    params = _fit(lambda p: -gamma_gamma_loglik(np.exp(p), x, m_x, weights) / total, start)
    return tuple(float(v) for v in params)


def expected_spend(params, x, m_x) -> np.ndarray:
    """E[M | x, m_x] = p (v + x m_x) / (p x + q - 1); the population mean when x = 0."""
    p, q, v = params
    x, m_x = np.asarray(x, dtype=float), np.asarray(m_x, dtype=float)
    return p * (v + x * np.where(x > 0, m_x, 0.0)) / (p * x + q - 1)


def predicted_value(bgnbd, gamma_gamma, x, t_x, T, m_x, *, months: int,
                    monthly_discount: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(expected purchases over `months`, expected spend, discounted value) per customer.

    Value = spend x sum over m = 1..months of (E[Y(m months)] - E[Y(m-1 months)]) / (1+d)^m,
    a month being WEEKS_PER_MONTH weeks.
    """
    r, alpha, a, b = bgnbd
    x, t_x, T, m_x = (np.asarray(v, dtype=float) for v in (x, t_x, T, m_x))
    t = WEEKS_PER_MONTH * np.arange(1, months + 1)
    # The 2F1 bracket depends on (x, T) only: computed once per distinct pair.
    pairs, inverse = np.unique(np.column_stack([x, T]), axis=0, return_inverse=True)
    xu, Tu = pairs[:, :1], pairs[:, 1:]
    bracket = _euler_bracket(a + b - 1 - r, a - 1, a + b + xu - 1, t / (alpha + Tu + t))
    cumulative = ((a + b + x - 1) * p_alive(bgnbd, x, t_x, T))[:, None] * bracket[inverse.ravel()]
    per_month = np.diff(cumulative, axis=1, prepend=0.0)
    discount = (1 + monthly_discount) ** -np.arange(1, months + 1)
    spend = expected_spend(gamma_gamma, x, m_x)
    return cumulative[:, -1], spend, spend * (per_month @ discount)
