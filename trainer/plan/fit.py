"""Fit L(N, D) = E + A/N^alpha + B/D^beta to final losses, as Hoffmann et al. 2022 do.

Objective (their approach 3): Huber loss (delta = 1e-3) between log L and
LSE(a - alpha log N, b - beta log D, e) with A = e^a, B = e^b, E = e^e, minimised with L-BFGS
from a grid of initialisations; the best local minimum wins.  The grid spans alpha and beta
(30 x 30); at each point E, A, B come from linear least squares, so the few best grid points
are good starts and a fit takes milliseconds rather than thousands of L-BFGS runs.  Uncertainty comes from a
bootstrap over the runs (resample with replacement, refit).

Five constants need at least six runs with two or more tokens-per-parameter ratios (N and D not
collinear).  With fewer, alpha and beta are fixed to a published fit and only E, A, B are
fitted (four or five runs); below four runs nothing is fitted.  `choose_free` says which.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from trainer.plan.scaling_laws import ScalingLaw

NAMES = ("a", "b", "e", "alpha", "beta")
HUBER_DELTA = 1e-3
# bounds keep L-BFGS out of overflow; far wider than any published fit
BOUNDS = {"a": (-10.0, 60.0), "b": (-10.0, 60.0), "e": (-5.0, 5.0),
          "alpha": (1e-3, 3.0), "beta": (1e-3, 3.0)}
ALPHA_GRID = np.linspace(0.05, 1.5, 30)  # for alpha and beta


class FitError(ValueError):
    """Too few or unusable points."""


@dataclass
class FitResult:
    E: float
    A: float
    B: float
    alpha: float
    beta: float
    free: list[str]  # of E, A, B, alpha, beta
    fixed_from: str | None  # the published law the fixed constants come from
    objective: float
    n_points: int
    ci: dict[str, list[float]] = field(default_factory=dict)  # 5th and 95th bootstrap percentiles
    bootstrap_samples: int = 0

    def law(self, name: str = "fitted") -> ScalingLaw:
        return ScalingLaw(name, self.E, self.A, self.B, self.alpha, self.beta, "garden ladder fit")

    def theta(self) -> np.ndarray:
        return np.array([np.log(self.A), np.log(self.B), np.log(self.E), self.alpha, self.beta])

    def to_dict(self) -> dict:
        return asdict(self)


def choose_free(n_points: int, n_ratios: int) -> tuple[list[str], str]:
    """Which constants the data determine, and why."""
    if n_points >= 6 and n_ratios >= 2:
        return ["E", "A", "B", "alpha", "beta"], f"{n_points} runs at {n_ratios} token budgets: all five constants"
    if n_points >= 4:
        why = ("one tokens-per-parameter ratio: N and D move together" if n_ratios < 2
               else f"{n_points} runs (< 6)")
        return ["E", "A", "B"], f"{why}: alpha and beta fixed to the published fit, E, A, B fitted"
    raise FitError(f"{n_points} finished run(s): at least 4 are needed to fit E, A, B (6 at two "
                   f"token budgets for all five constants)")


def _objective(theta: np.ndarray, log_n: np.ndarray, log_d: np.ndarray, log_l: np.ndarray,
               delta: float) -> tuple[float, np.ndarray]:
    a, b, e, alpha, beta = theta
    terms = np.stack([a - alpha * log_n, b - beta * log_d, np.full_like(log_n, e)])
    top = terms.max(axis=0)
    w = np.exp(terms - top)
    s = w.sum(axis=0)
    pred = top + np.log(s)
    w /= s
    r = pred - log_l
    absr = np.abs(r)
    huber = np.where(absr <= delta, 0.5 * r * r, delta * (absr - 0.5 * delta))
    g = np.clip(r, -delta, delta)
    grad = np.array([np.sum(g * w[0]), np.sum(g * w[1]), np.sum(g * w[2]),
                     -np.sum(g * w[0] * log_n), -np.sum(g * w[1] * log_d)])
    return float(huber.sum()), grad


def _minimise(starts: list[np.ndarray], free_idx: list[int], fixed: np.ndarray, data: tuple,
              delta: float) -> tuple[np.ndarray, float]:
    from scipy.optimize import minimize

    bounds = [BOUNDS[NAMES[i]] for i in free_idx]

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        theta = fixed.copy()
        theta[free_idx] = x
        f, g = _objective(theta, *data, delta)
        return f / delta, g[free_idx] / delta  # O(1) gradients for L-BFGS's tolerances

    best, best_f = None, np.inf
    for start in starts:
        res = minimize(fun, start[free_idx], jac=True, method="L-BFGS-B", bounds=bounds,
                       options={"ftol": 1e-13, "gtol": 1e-9, "maxiter": 1000})
        if res.fun * delta < best_f:
            best_f, best = res.fun * delta, res.x
    theta = fixed.copy()
    theta[free_idx] = best
    return theta, best_f


def _starts(fixed: np.ndarray, free_idx: list[int], data: tuple, delta: float,
            keep: int = 4) -> list[np.ndarray]:
    """Initialisations from a grid over the free exponents: for each (alpha, beta) the law is
    linear in (E, A, B), so least squares gives them at once; the `keep` grid points with the
    lowest Huber objective start L-BFGS."""
    log_n, log_d, log_l = data
    alphas = ALPHA_GRID if 3 in free_idx else np.array([fixed[3]])
    betas = ALPHA_GRID if 4 in free_idx else np.array([fixed[4]])
    al, be = (g.ravel() for g in np.meshgrid(alphas, betas))
    x1 = np.exp(-al[:, None] * log_n[None, :])  # [P, n]
    x2 = np.exp(-be[:, None] * log_d[None, :])
    y = np.exp(log_l)
    cols = [np.ones_like(x1), x1, x2]  # E, A, B
    fixed_part = np.zeros_like(x1)
    use = []
    for k, (col, idx) in enumerate(zip(cols, (2, 0, 1))):
        if idx in free_idx:
            use.append(k)
        else:
            fixed_part += np.exp(fixed[idx]) * col
    X = np.stack([cols[k] for k in use], axis=2)  # [P, n, k]
    t = y[None, :] - fixed_part
    gram = np.einsum("pni,pnj->pij", X, X) + 1e-12 * np.eye(len(use))
    coef = np.linalg.solve(gram, np.einsum("pni,pn->pi", X, t)[..., None])[..., 0]
    coef = np.maximum(coef, 1e-6)  # the log-parameterisation needs positive constants
    thetas = np.tile(fixed, (len(al), 1))
    for j, k in enumerate(use):
        thetas[:, (2, 0, 1)[k]] = np.log(coef[:, j])
    thetas[:, 3], thetas[:, 4] = al, be
    for i in range(5):
        lo, hi = BOUNDS[NAMES[i]]
        thetas[:, i] = np.clip(thetas[:, i], lo, hi)
    # Huber objective of every grid point at once (same formula as _objective)
    pred = np.log(np.exp(thetas[:, 2:3]) + np.exp(thetas[:, 0:1]) * x1
                  + np.exp(thetas[:, 1:2]) * x2)
    r = np.abs(pred - log_l[None, :])
    scores = np.where(r <= delta, 0.5 * r * r, delta * (r - 0.5 * delta)).sum(axis=1)
    return [thetas[i] for i in np.argsort(scores)[:keep]]


def fit(n_params, tokens, losses, free: list[str] | None = None,
        fixed_law: ScalingLaw | None = None, delta: float = HUBER_DELTA,
        bootstrap: int = 200, seed: int = 0) -> FitResult:
    """Fit the law to runs (N total params, D tokens, final loss), with bootstrap intervals.

    free: constants to fit (default: `choose_free`); the rest come from fixed_law."""
    n = np.asarray(n_params, float)
    d = np.asarray(tokens, float)
    loss = np.asarray(losses, float)
    if not (len(n) == len(d) == len(loss)) or np.any(n <= 0) or np.any(d <= 0) or \
            np.any(~np.isfinite(loss)) or np.any(loss <= 0):
        raise FitError("need matching positive parameter counts, token counts and finite losses")
    if free is None:
        ratios = len({round(float(x), 6) for x in np.log(d / n)})
        free, _ = choose_free(len(n), ratios)
    fixed_law = fixed_law or ScalingLaw("none", 1.0, 1.0, 1.0, 0.3, 0.3)
    sym = {"A": 0, "B": 1, "E": 2, "alpha": 3, "beta": 4}
    free_idx = sorted(sym[k] for k in free)
    fixed = np.array([np.log(fixed_law.A), np.log(fixed_law.B), np.log(fixed_law.E),
                      fixed_law.alpha, fixed_law.beta])
    data = (np.log(n), np.log(d), np.log(loss))
    theta, obj = _minimise(_starts(fixed, free_idx, data, delta), free_idx, fixed, data, delta)
    result = _result(theta, free, fixed_law if len(free) < 5 else None, obj, len(n))
    if bootstrap:
        rng = np.random.default_rng(seed)
        samples = []
        for _ in range(bootstrap):
            pick = rng.integers(0, len(n), len(n))
            sub = tuple(x[pick] for x in data)
            starts = [theta] + _starts(fixed, free_idx, sub, delta, keep=1)
            th, _ = _minimise(starts, free_idx, fixed, sub, delta)
            samples.append(_result(th, free, None, 0.0, len(n)))
        result.bootstrap_samples = bootstrap
        result.ci = {k: [float(np.percentile([getattr(s, k) for s in samples], q)) for q in (5, 95)]
                     for k in ("E", "A", "B", "alpha", "beta")}
        result._samples = samples  # type: ignore[attr-defined]
    return result


def _result(theta: np.ndarray, free: list[str], fixed_law: ScalingLaw | None, obj: float,
            n_points: int) -> FitResult:
    a, b, e, alpha, beta = (float(x) for x in theta)
    return FitResult(E=float(np.exp(e)), A=float(np.exp(a)), B=float(np.exp(b)), alpha=alpha,
                     beta=beta, free=list(free), fixed_from=fixed_law.name if fixed_law else None,
                     objective=obj, n_points=n_points)


def predict(result: FitResult, n_params: float, tokens: float) -> tuple[float, list[float]]:
    """Predicted loss and its 5-95 % bootstrap interval (the point value twice without one)."""
    point = result.law().loss(n_params, tokens)
    samples = getattr(result, "_samples", None)
    if not samples:
        return point, [point, point]
    vals = [s.law().loss(n_params, tokens) for s in samples]
    return point, [float(np.percentile(vals, 5)), float(np.percentile(vals, 95))]
