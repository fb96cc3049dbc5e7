"""Find and remove personal data: emails, phones, IP addresses, payment cards, Chinese resident IDs, URLs.

A filter so that `mode: drop` can drop; in `replace` (default) and `annotate` modes it keeps every
document and only rewrites/annotates it. Annotations: `pii_count` (int32) and `pii` (JSON string
of counts per kind, e.g. {"email": 2, "phone": 1}; "{}" when none), so later steps can re-threshold.
"""
from __future__ import annotations

import json
from typing import Literal

import pyarrow as pa

from garden.operator import Doc, Filter, Verdict
from garden.registry import register
from operators.pii._detect import DEFAULT_KINDS, KINDS, find_pii, redact

PLACEHOLDERS = {
    "email": "<EMAIL>",
    "phone": "<PHONE>",
    "ipv4": "<IP_ADDRESS>",
    "ipv6": "<IP_ADDRESS>",
    "credit_card": "<CREDIT_CARD>",
    "cn_id": "<ID_NUMBER>",
    "url": "<URL>",
}


@register
class Pii(Filter):
    """Replace (or drop, or annotate) emails, phones, IPv4/IPv6, Luhn-valid cards, checksum-valid Chinese IDs, URLs."""

    name = "pii"
    param_bounds = {"drop_min": (1, None)}
    outputs = {"pii_count": pa.int32(), "pii": pa.string()}
    mode: Literal["replace", "drop", "annotate"] = "replace"
    kinds: list[str] = DEFAULT_KINDS
    placeholders: dict[str, str] = {}
    drop_min: int = 1
    keep_private_ips: bool = False
    param_docs = {
        "mode": "replace: put typed placeholders (<EMAIL>, <PHONE>, ...) in the text; drop: drop the document "
                "(its rejected copy is redacted); annotate: only add the pii/pii_count columns",
        "kinds": f"what to look for, any of {list(KINDS)} (url is off by default)",
        "placeholders": "override placeholders per kind, e.g. {email: '[email]'}",
        "drop_min": "mode drop: drop documents with at least this many findings",
        "keep_private_ips": "leave addresses of private networks alone (RFC 1918: 10/8, 172.16/12, 192.168/16; "
                            "IPv6 fc00::/7; datatrove's default keeps these and every other non-public address); "
                            "off (default): they are redacted like any address. user@10.0.0.7 is an e-mail "
                            "address either way",
    }

    @staticmethod
    def validate_params(params: dict) -> None:
        unknown = [k for k in params["kinds"] if k not in KINDS]
        if unknown:
            raise ValueError(f"unknown PII kinds {unknown}; choose from {list(KINDS)}")
        unknown = [k for k in params["placeholders"] if k not in KINDS]
        if unknown:
            raise ValueError(f"placeholders for unknown kinds {unknown}")
        if params["drop_min"] < 1:
            raise ValueError("drop_min must be >= 1")

    def setup(self) -> None:
        self._kinds = [k for k in KINDS if k in self.kinds]
        self._placeholders = {**PLACEHOLDERS, **self.placeholders}

    def counters(self, docs: list[Doc]) -> dict[str, int]:
        """Findings per kind (replaced in `replace` mode), summed from each document's `pii` column."""
        total: dict[str, int] = {}
        for doc in docs:
            if doc.get("pii_count"):
                for kind, n in json.loads(doc["pii"]).items():
                    total[kind] = total.get(kind, 0) + n
        return total

    def keep(self, doc: Doc) -> Verdict:
        text = doc["text"] or ""
        spans = find_pii(text, self._kinds, keep_private_ips=self.keep_private_ips)
        counts: dict[str, int] = {}
        for span in spans:
            counts[span.kind] = counts.get(span.kind, 0) + 1
        doc["pii_count"] = len(spans)
        doc["pii"] = json.dumps(dict(sorted(counts.items())), separators=(",", ":"))
        if not spans or self.mode == "annotate":
            return True
        doc["text"] = redact(text, spans, self._placeholders)  # also in drop mode: rejected/ holds no PII
        if self.mode == "drop" and len(spans) >= self.drop_min:
            return max(sorted(counts), key=lambda k: counts[k])  # reason: the most frequent kind
        return True
