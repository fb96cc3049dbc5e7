"""`mix` and `curriculum`: token shares per source → blend.json with Megatron blend weights and epochs."""
from __future__ import annotations

import warnings
from typing import ClassVar, Optional

from garden.blend import build_blend, check_phases, check_split, check_weights, load_manifest
from garden.io import fs
from garden.operator import GlobalOp, StageContext
from garden.registry import register


def _manifest(param: str, ctx: StageContext) -> tuple[str, dict]:
    path = ctx.artifacts.get("tokens") if param in ("", "auto") else param
    if not path:
        raise ValueError("no tokens.json: put `tokenize` before this step or set tokens: PATH/tokens.json")
    return path, load_manifest(path)


def _finish(ctx: StageContext, blend: dict) -> dict:
    for w in blend["warnings"]:
        warnings.warn(w, stacklevel=2)
    path = fs.join(ctx.run_dir, "blend.json")
    return {"artifacts": {"blend": path}, "phases": [{k: ph[k] for k in ("name", "tokens", "weights", "epochs")}
                                                    for ph in blend["phases"]],
            "epochs": blend["epochs"], "warnings": blend["warnings"]}


class _BlendStep(GlobalOp):
    """What mix and curriculum share: where the token counts come from, repetition limit, split."""

    max_epochs: float = 4.0
    strict: bool = False
    split: str = "98,1,1"
    tokens: str = "auto"
    run_files: ClassVar[tuple[str, ...]] = ("blend.json", "megatron")
    param_docs = {
        "max_epochs": "warn when a source would be repeated more often than this (over all phases)",
        "strict": "fail instead of warning",
        "split": "train,valid,test split written to blend.json (Megatron --split)",
        "tokens": "auto = tokens.json of the preceding tokenize step, or a path",
    }

    @staticmethod
    def check_common(params: dict) -> None:
        if params["max_epochs"] <= 0:
            raise ValueError("max_epochs must be positive")
        check_split(params["split"])

    def plan_phases(self, available: dict[str, int]) -> list[dict]:
        """The phases to write: [{name, tokens, weights}, ...]."""
        raise TypeError(f"{self.name}: a blend step must define plan_phases()")

    def finalize(self, ctx: StageContext) -> dict:
        _, manifest = _manifest(self.tokens, ctx)
        available = {s: int(e["tokens"]) for s, e in manifest["sources"].items()}
        blend = build_blend(ctx.run_dir, manifest, self.plan_phases(available), self.split, self.max_epochs,
                            self.strict)
        return _finish(ctx, blend)


@register
class Mix(_BlendStep):
    """Target token shares per source and a token budget → Megatron blend weights, epochs per source, blend.json."""

    name = "mix"
    weights: Optional[dict[str, float]] = None
    total_tokens: Optional[float] = None
    param_docs = {
        "weights": "token share per source (normalised); null = natural shares (proportional to tokens)",
        "total_tokens": "token budget of the run; null = every token once",
        **_BlendStep.param_docs,
    }

    @staticmethod
    def validate_params(params: dict) -> None:
        if params["weights"] is not None:
            check_weights(params["weights"])
        if params["total_tokens"] is not None and params["total_tokens"] <= 0:
            raise ValueError("total_tokens must be positive")
        _BlendStep.check_common(params)

    def plan_phases(self, available: dict[str, int]) -> list[dict]:
        weights = self.weights or {s: float(t) for s, t in available.items()}
        total = int(self.total_tokens) if self.total_tokens else sum(available.values())
        return [{"name": "main", "tokens": total, "weights": weights}]


@register
class Curriculum(_BlendStep):
    """Ordered phases, each {name, tokens, weights} (e.g. general web first, then more code), into blend.json."""

    name = "curriculum"
    phases: list[dict] = []
    param_docs = {
        "phases": "[{name, tokens, weights: {source: share}}, ...] in training order",
        **_BlendStep.param_docs,
    }

    @staticmethod
    def validate_params(params: dict) -> None:
        check_phases(params["phases"])
        _BlendStep.check_common(params)

    def plan_phases(self, available: dict[str, int]) -> list[dict]:
        return list(self.phases)
