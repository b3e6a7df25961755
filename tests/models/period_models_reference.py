"""Naive reference likelihoods for the period-retention models: plain Python loops and :mod:`math`, written from the
papers' definitions rather than from the engine's vectorised beta-function algebra."""

from __future__ import annotations

import math


def sbg_churn_probabilities(alpha: float, beta: float, horizon: int) -> list[float]:
    """P(T = t), t = 1..horizon, by the paper's recursion: P(1) = a/(a+b), P(t) = (b+t-2)/(a+b+t-1) P(t-1)."""
    out = [alpha / (alpha + beta)]
    for t in range(2, horizon + 1):
        out.append(out[-1] * (beta + t - 2) / (alpha + beta + t - 1))
    return out


def sbg_log_likelihood(alpha: float, beta: float, cohorts: list[list[float]]) -> float:
    ll = 0.0
    for survivors in cohorts:
        horizon = len(survivors) - 1
        p = sbg_churn_probabilities(alpha, beta, horizon)
        for t in range(1, horizon + 1):
            lost = survivors[t - 1] - survivors[t]
            if lost:
                ll += lost * math.log(p[t - 1])
        if survivors[-1]:
            ll += survivors[-1] * math.log(1.0 - sum(p))
    return ll


def sbg_survival(alpha: float, beta: float, t: int) -> float:
    return 1.0 - sum(sbg_churn_probabilities(alpha, beta, t)) if t else 1.0


def _lbeta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def bgbb_likelihood(a: float, b: float, g: float, d: float, x: int, tx: int, n: int) -> float:
    """Eq. 5 of Fader, Hardie & Shang (2010), term by term."""
    total = math.exp(_lbeta(a + x, b + n - x) - _lbeta(a, b) + _lbeta(g, d + n) - _lbeta(g, d))
    for i in range(n - tx):
        total += math.exp(_lbeta(a + x, b + tx - x + i) - _lbeta(a, b) + _lbeta(g + 1, d + tx + i) - _lbeta(g, d))
    return total


def bgbb_p_alive(a: float, b: float, g: float, d: float, x: int, tx: int, n: int) -> float:
    """Eq. 11: P(alive at n + 1 | x, t_x, n)."""
    num = math.exp(_lbeta(a + x, b + n - x) - _lbeta(a, b) + _lbeta(g, d + n + 1) - _lbeta(g, d))
    return num / bgbb_likelihood(a, b, g, d, x, tx, n)


def bgbb_expected_future(a: float, b: float, g: float, d: float, x: int, tx: int, n: int, future: int) -> float:
    """Eq. 13, the paper's closed form (valid for g != 1)."""
    lead = math.exp(_lbeta(a + x + 1, b + n - x) - _lbeta(a, b)) / bgbb_likelihood(a, b, g, d, x, tx, n)
    ratio = math.exp(math.lgamma(g + d) - math.lgamma(1 + d))
    first = math.exp(math.lgamma(1 + d + n) - math.lgamma(g + d + n))
    second = math.exp(math.lgamma(1 + d + n + future) - math.lgamma(g + d + n + future))
    return lead * d / (g - 1) * ratio * (first - second)


def cure_log_likelihood(pi: float, lam: float, rho: float, times: list[float], churned: list[bool]) -> float:
    ll = 0.0
    for t, e in zip(times, churned, strict=True):
        z = (t / lam) ** rho
        if e:  # log of (1 - pi) f(t), f(t) = rho / lam (t / lam)^(rho - 1) exp(-z), in logs to avoid underflow
            ll += math.log(1 - pi) + math.log(rho / lam) + (rho - 1) * math.log(t / lam) - z
        else:
            ll += math.log(pi + (1 - pi) * math.exp(-z))
    return ll


def kaplan_meier(times: list[float], churned: list[bool]) -> dict[float, float]:
    """Product-limit estimate at each distinct event time."""
    s, out = 1.0, {}
    for u in sorted({t for t, e in zip(times, churned, strict=True) if e}):
        at_risk = sum(1 for t in times if t >= u)
        deaths = sum(1 for t, e in zip(times, churned, strict=True) if e and t == u)
        s *= 1 - deaths / at_risk
        out[u] = s
    return out


def logrank_chi2(times: list[float], churned: list[bool], groups: list[str]) -> float:
    """Two-group log-rank statistic (O - E)^2 / V with the hypergeometric variance."""
    first = sorted(set(groups))[0]
    o_minus_e, var = 0.0, 0.0
    for u in sorted({t for t, e in zip(times, churned, strict=True) if e}):
        n = sum(1 for t in times if t >= u)
        n1 = sum(1 for t, g in zip(times, groups, strict=True) if t >= u and g == first)
        d = sum(1 for t, e in zip(times, churned, strict=True) if e and t == u)
        d1 = sum(1 for t, e, g in zip(times, churned, groups, strict=True) if e and t == u and g == first)
        o_minus_e += d1 - d * n1 / n
        if n > 1:
            var += d * (n1 / n) * (1 - n1 / n) * (n - d) / (n - 1)
    return o_minus_e**2 / var
