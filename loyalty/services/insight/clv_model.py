"""Lifetime value models, pure numpy/scipy: BG/NBD for purchases, Gamma-Gamma for spend.

BG/NBD: Fader, Hardie & Lee (2005), "Counting your customers the easy way".
Gamma-Gamma: Fader & Hardie (2013), "The Gamma-Gamma model of monetary value".
Per customer: x repeat purchases (purchase days after the first), t_x the time of
the last one and T the time since the first, both in weeks from the first
purchase; m_x the mean spend of the x repeat purchases. Both fits maximise the
likelihood with BFGS on the logarithms of the parameters (so they stay positive).
The data may come compressed: identical rows once, with a weight (their count).
The conditional expectation E[Y(t) | x, t_x, T] never overflows: an Euler-transformed
2F1 series where it converges fast, a quadrature of the same expectation elsewhere
(checked against mpmath in the tests).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import betaln, digamma, expit, gammaln

WEEKS_PER_MONTH = 365.25 / 12 / 7  # 4.348: a calendar month on average, in weeks
SERIES_Z_MAX = 0.9  # beyond, the series needs > 350 terms: quadrature takes over
SERIES_A_MAX = 50.0  # its terms first grow like (1-z)^-(a-1): beyond, quadrature too
SERIES_TERMS = 5_000  # at most ~800 are needed within those bounds; a safety net


class FitError(RuntimeError):
    """The optimiser did not reach a usable maximum of the likelihood."""


def _fit(negll, start, *, jac=False) -> np.ndarray:
    result = minimize(negll, np.log(start), method="BFGS", jac=jac, options={"gtol": 1e-6})
    params = np.exp(result.x)
    if not (np.isfinite(result.fun) and np.all(np.isfinite(params))):
        raise FitError(result.message)
    # BFGS often ends on "precision loss" at the optimum; a small gradient is what matters.
    if not result.success and np.max(np.abs(result.jac)) > 1e-3:
        raise FitError(result.message)
    return params


def _bgnbd(params, x, t_x, T, weights=None, *, gradient=False):
    """Sum of the BG/NBD log-likelihoods (FHL 2005, eq. 6), and its gradient in the
    log-parameters. The special functions depend on x alone: computed per distinct x."""
    r, alpha, a, b = params
    xs, index = np.unique(x, return_inverse=True)
    index = index.ravel()
    gammas = (gammaln(r + xs) - gammaln(r) + r * np.log(alpha))[index]
    log_alive = (betaln(a, b + xs) - betaln(a, b))[index] - (r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_gone = np.where(xs > 0, betaln(a + 1, b + xs - 1) - betaln(a, b), -np.inf)[index]
    log_gone = log_gone - (r + x) * np.log(alpha + t_x)
    ll = gammas + np.logaddexp(log_alive, log_gone)
    weights = np.ones_like(ll) if weights is None else weights
    if not gradient:
        return float(weights @ ll)
    alive, gone = np.exp(log_alive - ll + gammas), np.exp(log_gone - ll + gammas)
    shared = digamma(a + b) - digamma(a + b + xs)  # d/da and d/db of -betaln parts
    with np.errstate(invalid="ignore"):
        gone_b = np.where(xs > 0, digamma(np.maximum(b + xs - 1, 1e-300)), 0.0)
    d_r = ((digamma(r + xs) - digamma(r))[index] + np.log(alpha)
           - alive * np.log(alpha + T) - gone * np.log(alpha + t_x))
    d_alpha = r / alpha - (r + x) * (alive / (alpha + T) + gone / (alpha + t_x))
    d_a = alive * shared[index] + gone * (shared + 1 / a)[index]  # psi(a+1) - psi(a) = 1/a
    d_b = (alive * (digamma(b + xs) - digamma(b) + shared)[index]
           + gone * (gone_b - digamma(b) + shared)[index])
    grad = np.array([d @ weights for d in (d_r, d_alpha, d_a, d_b)]) * np.asarray(params)
    return float(weights @ ll), grad


def bgnbd_loglik(params, x, t_x, T, weights=None) -> float:
    """Sum of the BG/NBD log-likelihoods (FHL 2005, eq. 6) of the customers."""
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    return _bgnbd(params, x, t_x, T, weights)


def fit_bgnbd(x, t_x, T, weights=None) -> tuple[float, float, float, float]:
    """Maximum likelihood (r, alpha, a, b); raises FitError if the optimiser fails."""
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    total = len(x) if weights is None else float(np.sum(weights))
    start = [1.0, max(float(np.mean(T)), 1e-3), 1.0, 1.0]

    def negll(log_params):
        ll, grad = _bgnbd(np.exp(log_params), x, t_x, T, weights, gradient=True)
        # Per customer, so the gradient tolerance means the same at any size.
        return -ll / total, -grad / total

    params = _fit(negll, start, jac=True)
    return tuple(float(v) for v in params)


def p_alive(params, x, t_x, T) -> np.ndarray:
    """P(still active at T | x, t_x, T); 1 for a customer with no repeat purchase."""
    r, alpha, a, b = params
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    with np.errstate(divide="ignore", invalid="ignore"):
        log_odds = (np.log(a) - np.log(np.maximum(b + x - 1, 1e-300))
                    + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x)))
    return np.where(x > 0, expit(-log_odds), 1.0)


def _if_alive(params, t, x, T) -> np.ndarray:
    """E[Y(t) | alive at T, x, T] = (a+b+x-1)/(a-1) [1 - (1-z)^(a-1) 2F1(A, a-1; C; z)].

    A = a+b-1-r, C = a+b+x-1, z = t/(alpha+T+t): Euler's transformation of the textbook
    ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; C; z), whose first two parameters grow with
    x and overflow for heavy buyers; here only C does, which makes the series converge
    faster. Summed with s = a-1 taken out of the terms, so a = 1 is no special case:
    C [1 - (1-z)^s]/s - (1-z)^s sum_k v_k, v_k = (A)_k (s+1)_{k-1} z^k / ((C+1)_{k-1} k!),
    on the entries still running only. Beyond SERIES_Z_MAX (a short history against a
    long horizon) or SERIES_A_MAX the series is slow, and the same expectation is
    integrated instead.
    """
    r, alpha, a, b = params
    t, x, T = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (t, x, T)))
    z = t / (alpha + T + t)
    A, s, C = a + b - 1 - r, a - 1, a + b + x - 1
    log1mz = np.log1p(-z)
    head = C * (-log1mz if s == 0 else -np.expm1(s * log1mz) / s)
    total = np.zeros(z.shape)
    series = (z > 0) & (z <= SERIES_Z_MAX) & (a <= SERIES_A_MAX)
    running = np.flatnonzero(series)
    Cr, zr, hr = (v.ravel()[running] for v in (C, z, head))  # compacted as entries converge
    sums, term = np.zeros(running.size), A * zr
    k = 1
    while running.size and k < SERIES_TERMS:
        sums += term
        ratio = (A + k) * (s + k) * zr / ((Cr + k) * (k + 1))
        done = ((np.abs(term) <= 1e-16 * np.maximum(np.abs(sums), np.abs(hr)) * (1 - zr))
                & (np.abs(ratio) < 1))
        term = term * ratio
        if k % 8 == 0 and done.any():  # compacting costs a copy: not at every step
            total.flat[running[done]] = sums[done]
            keep = ~done
            running, Cr, zr, hr, sums, term = (v[keep] for v in (running, Cr, zr, hr, sums,
                                                                 term))
        k += 1
    result = np.asarray(head - np.exp(s * log1mz) * total)  # 0-d stays an array
    far = np.union1d(np.flatnonzero((z > 0) & ~series), running)
    for block in np.array_split(far, -(-far.size // 1000)) if far.size else ():
        result.flat[block] = _by_quadrature(a, b + x.flat[block], r + x.flat[block],
                                            t.flat[block] / (alpha + T.flat[block]))
    return result


_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(10)
_LN2, _TAIL = np.log(2), 38.0  # e^-38 ~ 3e-17: past it, the integrand is its limit


def _panels(start, count, width=1.0):
    """Gauss-Legendre nodes and weights on `count` panels of `width` from `start`."""
    edges = start + width * np.arange(count)
    return ((edges[:, None] + width * (_GL_NODES + 1) / 2).ravel(),
            np.tile(width * _GL_WEIGHTS / 2, count))


def _by_quadrature(a, b1, n, c) -> np.ndarray:
    """E_p[(1 - (1 + p c)^-n) / p], p ~ Beta(a, b1): E[Y(t) | alive at T], computed directly.

    Given alive at T, lambda ~ Gamma(n = r+x, alpha+T) and p ~ Beta(a, b1 = b+x); a customer
    alive with (lambda, p) buys (1 - e^(-lambda p t))/p times in t on average, whose mean
    over lambda is h(p) = (1 - (1 + p c)^-n)/p with c = t/(alpha+T). h changes over about
    one unit of log p; the Beta density is either peaked (both parameters >= 5) or wide.
    """
    peaked = (a >= 5) & (b1 >= 5)
    result = np.empty(b1.shape)
    if peaked.any():
        result[peaked] = _around_the_mode(a, b1[peaked], n[peaked], c[peaked])
    if not peaked.all():
        result[~peaked] = _over_log_p(a, b1[~peaked], n[~peaked], c[~peaked])
    return result


def _log_h(p, n, c):
    return np.log(-np.expm1(-n * np.log1p(p * c))) - np.log(p)


def _around_the_mode(a, b1, n, c) -> np.ndarray:
    """In y = logit p the Beta density is unimodal at y0 = log(a/b1), sigma = sqrt(1/a + 1/b1)
    wide, and negligible past 16 sigma (h tilts it by at most e^|dy|; 4e-12 at worst, for
    a or b1 near 5, against a finer rule), on panels of 2 sigma. Taken
    relative to the mode and divided by its own quadrature, so that no large normalising
    constant is lost in rounding when a and b1 are in the millions."""
    b1, n, c = (v[:, None] for v in (b1, n, c))
    sigma, mode = np.sqrt(1 / a + 1 / b1), a / (a + b1)
    tau, weights = _panels(-16.0, 16, width=2.0)
    dy = sigma * tau
    density = np.exp(a * dy - (a + b1) * np.log1p(mode * np.expm1(dy)))
    h = np.exp(_log_h(expit(np.log(a / b1) + dy), n, c))
    return ((density * h) @ weights) / (density @ weights)


def _over_log_p(a, b1, n, c) -> np.ndarray:
    """A wide Beta: split at p = 1/2, taken in w = -log p and u = -log(1-p) on unit panels,
    each with its exact limit beyond e^-38 (h and the density then constant or exponential)."""
    b1, n, c = (v[:, None] for v in (b1, n, c))
    norm = betaln(a, b1)
    count = int(np.ceil(_TAIL + max(0.0, np.max(np.log(n * c)), np.max(np.log(b1)))))
    w, w_weights = _panels(_LN2, count)
    w_stop = _LN2 + count
    p = np.exp(-w)
    small = np.exp(-a * w + (b1 - 1) * np.log1p(-p) + _log_h(p, n, c) - norm) @ w_weights
    small += np.exp(np.log(n * c) - a * w_stop - np.log(a) - norm).ravel()  # p < e^-w_stop
    u, u_weights = _panels(_LN2, int(_TAIL))
    p = -np.expm1(-u)
    large = np.exp((a - 1) * np.log(p) - b1 * u + _log_h(p, n, c) - norm) @ u_weights
    limit = np.log(-np.expm1(-n * np.log1p(c)))  # log h(1), for 1 - p < e^-(ln 2 + 38)
    large += np.exp(limit - b1 * (_LN2 + _TAIL) - np.log(b1) - norm).ravel()
    return small + large


def expected_purchases(params, t, x, t_x, T) -> np.ndarray:
    """E[Y(t) | x, t_x, T]: expected purchases in the next t weeks (FHL 2005, eq. 10).

    P(alive | x, t_x, T) times the expected purchases of a customer alive at T (_if_alive).
    """
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    # A count's expectation is never negative: the series' cancellation can leave a
    # denormal below zero (-1e-323 seen by hypothesis) for a customer with nothing ahead.
    return np.maximum(_if_alive(params, t, x, T) * p_alive(params, x, t_x, T), 0.0)


def _gamma_gamma(params, x, m_x, weights=None, *, gradient=False):
    """Sum of the Gamma-Gamma log-likelihoods (Fader & Hardie 2013) of the mean spends m_x
    of x > 0 purchases, and its gradient in the log-parameters."""
    p, q, v = params
    px, spent = p * x, np.log(x * m_x + v)
    ll = (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(v) + (px - 1) * np.log(m_x)
          + px * np.log(x) - (px + q) * spent)
    weights = np.ones_like(ll) if weights is None else weights
    if not gradient:
        return float(weights @ ll)
    both = digamma(px + q)
    d_p = x * (both - digamma(px) + np.log(m_x) + np.log(x) - spent)
    d_q = both - digamma(q) + np.log(v) - spent
    d_v = q / v - (px + q) / (x * m_x + v)
    grad = np.array([d @ weights for d in (d_p, d_q, d_v)]) * np.asarray(params)
    return float(weights @ ll), grad


def gamma_gamma_loglik(params, x, m_x, weights=None) -> float:
    """Sum of the Gamma-Gamma log-likelihoods of the mean spends m_x of x > 0 purchases."""
    return _gamma_gamma(params, np.asarray(x, dtype=float), np.asarray(m_x, dtype=float),
                        weights)


def fit_gamma_gamma(x, m_x, weights=None) -> tuple[float, float, float]:
    """Maximum likelihood (p, q, v) on repeat customers (x > 0, m_x > 0)."""
    x, m_x = np.asarray(x, dtype=float), np.asarray(m_x, dtype=float)
    total = len(x) if weights is None else float(np.sum(weights))
    start = [1.0, 1.0, max(float(np.mean(m_x)), 1e-3)]

    def negll(log_params):
        ll, grad = _gamma_gamma(np.exp(log_params), x, m_x, weights, gradient=True)
        return -ll / total, -grad / total

    params = _fit(negll, start, jac=True)
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
    x, t_x, T, m_x = (np.asarray(v, dtype=float) for v in (x, t_x, T, m_x))
    t = WEEKS_PER_MONTH * np.arange(1, months + 1)
    # The 2F1 part depends on (x, T) only: computed once per distinct pair.
    pairs, inverse = np.unique(np.column_stack([x, T]), axis=0, return_inverse=True)
    xu, Tu = pairs[:, :1], pairs[:, 1:]
    if_alive = _if_alive(bgnbd, t, xu, Tu)
    cumulative = p_alive(bgnbd, x, t_x, T)[:, None] * if_alive[inverse.ravel()]
    per_month = np.diff(cumulative, axis=1, prepend=0.0)
    discount = (1 + monthly_discount) ** -np.arange(1, months + 1)
    spend = expected_spend(gamma_gamma, x, m_x)
    return cumulative[:, -1], spend, spend * (per_month @ discount)
