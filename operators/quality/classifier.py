"""fastText quality classifier inference: annotate `quality_score`, keep by threshold or GPT-3-style Pareto sampling."""
from __future__ import annotations

import os
from typing import Optional

import numpy as np
import pyarrow as pa

from garden.hashing import seeded_hash64
from garden.operator import Doc, Filter, Verdict
from garden.registry import register
from operators.quality._clf import POSITIVE, model_labels, score_texts
from operators.lang import load_fasttext


def pareto_keep(doc_id: str, score: float, alpha: float, seed: int) -> bool:
    """GPT-3's rule: keep if pareto(alpha) > 1 - score, the draw seeded by (seed, doc id) alone."""
    rng = np.random.default_rng(seeded_hash64(seed, doc_id, byteorder="little"))
    return bool(rng.pareto(alpha) > 1.0 - score)


@register
class QualityClassifier(Filter):
    """Score documents with a fastText classifier (`garden classifier train`); annotate quality_score, optionally filter.

    With `pareto_alpha` set, a document is kept when a Pareto(alpha) draw exceeds 1 - score
    (GPT-3 used alpha 9): mostly high scores, with some lower-scored documents kept for
    diversity. The draw depends only on (seed, document id): any worker count gives the same
    output. Otherwise documents below `min_score` are dropped (0 = annotate only).
    """

    name = "quality_classifier"
    param_bounds = {"min_score": (0, 1)}
    model: str = ""
    label: str = POSITIVE
    min_score: float = 0.0
    pareto_alpha: Optional[float] = None
    seed: int = 0
    outputs = {"quality_score": pa.float32()}
    param_docs = {
        "model": "fastText model from `garden classifier train` (required)",
        "label": "the label whose probability is the quality score",
        "min_score": "drop documents scoring below this (0 = annotate only); ignored with pareto_alpha",
        "pareto_alpha": "keep if numpy pareto(alpha) > 1 - score (GPT-3: 9); null = threshold on min_score",
        "seed": "seed of the Pareto draws (combined with each document id)",
    }

    @staticmethod
    def validate_params(params: dict) -> None:
        if not params["model"]:
            raise ValueError("model is required (train one with `garden classifier train ... --out PATH`)")
        if not os.path.exists(params["model"]):
            raise ValueError(f"model not found: {params['model']} (train it with `garden classifier train ... "
                             f"--out {params['model']}`)")
        if not 0.0 <= params["min_score"] <= 1.0:
            raise ValueError("min_score must be between 0 and 1")
        if params["pareto_alpha"] is not None and params["pareto_alpha"] <= 0:
            raise ValueError("pareto_alpha must be positive")
        labels = model_labels(load_fasttext(params["model"]))
        if params["label"] not in labels:
            raise ValueError(f"label '{params['label']}' is not one of the model's labels {labels}")

    def setup(self) -> None:
        self._model = load_fasttext(self.model)

    def keep_batch(self, docs: list[Doc]) -> list[Verdict]:
        scores = score_texts(self._model, [d["text"] for d in docs], self.label)
        verdicts: list[Verdict] = []
        for doc, score in zip(docs, scores):
            doc["quality_score"] = score
            if self.pareto_alpha is not None:
                keep = pareto_keep(doc["id"], score, self.pareto_alpha, self.seed)
                verdicts.append(True if keep else "pareto")
            else:
                verdicts.append(True if score >= self.min_score else "low_score")
        return verdicts

    def keep(self, doc: Doc) -> Verdict:
        return self.keep_batch([doc])[0]
