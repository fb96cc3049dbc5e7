"""Chinchilla-style scaling laws L(N, D) = E + A/N^alpha + B/D^beta and their closed forms.

N counts every parameter (as Hoffmann et al. do, embeddings included), D training tokens,
and compute C = 6 N D FLOPs.  Two published fits ship; they disagree, and `garden plan`
shows both side by side:

- Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models", approach 3
  (arXiv:2203.15556, eq. 10 and appendix D.2): E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28.
- Besiroglu et al. 2024, "Chinchilla Scaling: A replication attempt" (Epoch AI,
  arXiv:2404.10102), refit on the data reconstructed from Hoffmann's figure 4: E=1.82,
  A=482.01, B=2085.43, alpha=0.3478, beta=0.3658.  Its optimum agrees with Chinchilla itself
  (70B params, 1.4T tokens at 5.76e23 FLOPs); approach 3's own constants do not.

Data repetition follows Muennighoff et al. 2023, "Scaling Data-Constrained Language Models"
(arXiv:2305.16264): D' = U + U R* (1 - exp(-R / R*)), R = epochs beyond the first, R* = 15.4.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

HOFFMANN_CITE = ("Hoffmann et al. 2022, Training Compute-Optimal Large Language Models, "
                 "arXiv:2203.15556 (approach 3)")
EPOCH_CITE = ("Besiroglu et al. 2024, Chinchilla Scaling: A replication attempt (Epoch AI), "
              "arXiv:2404.10102")
MUENNIGHOFF_CITE = ("Muennighoff et al. 2023, Scaling Data-Constrained Language Models, "
                    "arXiv:2305.16264")
KAPLAN_CITE = "Kaplan et al. 2020, Scaling Laws for Neural Language Models, arXiv:2001.08361"

# Muennighoff et al. 2023, eq. 5 fit: repeated tokens lose value with this decay constant.
R_STAR_DATA = 15.4
# Beyond about four epochs repeated data is worth clearly less than fresh data (same paper).
MAX_USEFUL_EPOCHS = 4.0
TOKENS_PER_PARAM_RULE = 20.0


@dataclass(frozen=True)
class ScalingLaw:
    """L(N, D) = E + A / N^alpha + B / D^beta (natural-log loss per token)."""

    name: str
    E: float
    A: float
    B: float
    alpha: float
    beta: float
    source: str = ""

    def loss(self, n_params: float, tokens: float) -> float:
        return self.E + self.A / n_params ** self.alpha + self.B / tokens ** self.beta

    def _g(self) -> float:
        return (self.alpha * self.A / (self.beta * self.B)) ** (1 / (self.alpha + self.beta))

    def optimal_for_compute(self, flops: float) -> tuple[float, float]:
        """(N_opt, D_opt) minimising L under C = 6 N D:
        N_opt = G (C/6)^(beta/(alpha+beta)), G = (alpha A / (beta B))^(1/(alpha+beta))."""
        if flops <= 0:
            raise ValueError("compute budget must be positive")
        a = self.beta / (self.alpha + self.beta)
        n = self._g() * (flops / 6) ** a
        return n, flops / 6 / n

    def optimal_for_tokens(self, tokens: float) -> tuple[float, float]:
        """(N, C) for which `tokens` is the compute-optimal D: inverts D_opt(C)."""
        if tokens <= 0:
            raise ValueError("token budget must be positive")
        a = self.beta / (self.alpha + self.beta)
        c6 = (tokens * self._g()) ** (1 / (1 - a))
        return c6 / tokens, 6 * c6

    def to_dict(self) -> dict:
        return asdict(self)


HOFFMANN = ScalingLaw("hoffmann", 1.69, 406.4, 410.7, 0.34, 0.28, HOFFMANN_CITE)
EPOCH = ScalingLaw("epoch", 1.82, 482.01, 2085.43, 0.3478, 0.3658, EPOCH_CITE)
LAWS = {law.name: law for law in (EPOCH, HOFFMANN)}


def rule_of_thumb(flops: float, tokens_per_param: float = TOKENS_PER_PARAM_RULE
                  ) -> tuple[float, float]:
    """(N, D) with D = r N and C = 6 N D: N = sqrt(C / (6 r))."""
    n = math.sqrt(flops / (6 * tokens_per_param))
    return n, tokens_per_param * n


def effective_tokens(unique: float, seen: float, r_star: float = R_STAR_DATA) -> float:
    """Muennighoff et al. 2023: the fresh-data equivalent of `seen` tokens drawn from `unique`
    unique ones.  The first epoch counts fully; R = seen/unique - 1 repetitions decay with R*."""
    if unique <= 0:
        raise ValueError("unique tokens must be positive")
    if seen <= unique:
        return seen
    reps = seen / unique - 1
    return unique + unique * r_star * (1 - math.exp(-reps / r_star))
