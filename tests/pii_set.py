"""A PII test set: personal data and look-alikes planted into real English and Chinese paragraphs.

Why planted: real corpora hold too little PII to measure recall per kind, and the look-alikes
(versions, dates, prices, bad-checksum IDs, non-Luhn numbers) are what a careless regex breaks.
Paragraphs come from tests/fixtures/cleaning_b/paragraphs.jsonl (Debian Administrator's
Handbook). Deterministic for a seed. Used by tests/test_pii*.py and bench/bench_pii.py.
"""
from __future__ import annotations

import dataclasses
import json
import os
import random
from collections import defaultdict
from typing import Callable

PARAGRAPHS = os.path.join(os.path.dirname(__file__), "fixtures", "cleaning_b", "paragraphs.jsonl")
PII_KINDS = ("email", "phone", "ipv4", "ipv6", "credit_card", "cn_id")
PLACEHOLDER = {"email": "<EMAIL>", "phone": "<PHONE>", "ipv4": "<IP_ADDRESS>", "ipv6": "<IP_ADDRESS>",
               "credit_card": "<CREDIT_CARD>", "cn_id": "<ID_NUMBER>"}


@dataclasses.dataclass
class Planted:
    value: str
    kind: str      # a PII kind, or a look-alike kind (version, date, ...)
    is_pii: bool


@dataclasses.dataclass
class Case:
    id: str
    lang: str
    text: str
    planted: list[Planted]


# ---------- personal data ----------
_FIRST = ["anna", "li.wei", "john", "maria", "zhang_san", "k.tanaka", "o'neil", "bob"]
_DOMAINS = ["example.com", "mail.example.org", "uni-heidelberg.de", "qq.com", "163.com", "company.co.uk", "gmail.com"]


def email(r: random.Random) -> str:
    user = r.choice(_FIRST).replace("'", "")
    user += r.choice(["", str(r.randint(1, 999)), "+news", ".work", "_2024"])
    domain = r.choice(_DOMAINS)
    if r.random() < 0.2:
        user, domain = user.capitalize(), domain.upper()
    return f"{user}@{domain}"


def phone(r: random.Random) -> str:
    a, b, c = r.randint(201, 989), r.randint(200, 999), r.randint(0, 9999)
    mob = f"1{r.choice('3456789')}{r.randint(0, 9)}"
    m1, m2 = r.randint(0, 9999), r.randint(0, 9999)
    forms = [
        f"+1 ({a}) {b}-{c:04d}", f"({a}) {b}-{c:04d}", f"{a}-{b}-{c:04d}", f"{a}.{b}.{c:04d}", f"1-{a}-{b}-{c:04d}",
        f"+44 20 {r.randint(7000, 8999)} {r.randint(0, 9999):04d}", f"+49 30 {r.randint(1000000, 99999999)}",
        f"+33 1 {r.randint(10, 99)} {r.randint(10, 99)} {r.randint(10, 99)} {r.randint(10, 99)}",
        f"+81-3-{r.randint(1000, 9999)}-{r.randint(0, 9999):04d}", f"+91 {r.randint(70000, 99999)} {r.randint(0, 99999):05d}",
        f"+86 {mob} {m1:04d} {m2:04d}", f"+86{mob}{m1:04d}{m2:04d}", f"{mob}{m1:04d}{m2:04d}",
        f"{mob} {m1:04d} {m2:04d}", f"{mob}-{m1:04d}-{m2:04d}",
        f"+1-{a}-{b}-{c:04d}", f"(+44) 20 {r.randint(7000, 8999)} {r.randint(0, 9999):04d}",
        f"+852 {r.randint(2000, 9999)} {r.randint(0, 9999):04d}", f"+86-10-{r.randint(6000, 8999)}-{r.randint(0, 9999):04d}",
        f"+7 495 {r.randint(100, 999)}-{r.randint(10, 99)}-{r.randint(10, 99)}",
    ]
    return r.choice(forms)


def ipv4(r: random.Random) -> str:
    first = r.choice([10, 172, 192, 8, 45, 81, 203, 100, 151])
    return f"{first}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"


def ipv6(r: random.Random) -> str:
    groups = [f"{r.randint(0, 0xFFFF):x}" for _ in range(8)]
    forms = [
        ":".join(groups),
        ":".join(f"{int(g, 16):04x}" for g in groups),
        f"2001:db8::{groups[6]}:{groups[7]}",
        f"fe80::{groups[4]}:{groups[5]}:{groups[6]}:{groups[7]}",
        f"2a02:{groups[1]}:{groups[2]}::{groups[7]}",
        ":".join(groups).upper(),
        f"::ffff:{r.randint(1, 223)}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}",
    ]
    value = r.choice(forms)
    if not any(ch.isdigit() for ch in value):  # all-letter groups are rare; keep the set realistic
        value = "2001:" + value.split(":", 1)[1]
    return value


def luhn_complete(prefix: str, length: int, r: random.Random) -> str:
    body = prefix + "".join(str(r.randint(0, 9)) for _ in range(length - len(prefix) - 1))
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


def _group(number: str, sizes: list[int], sep: str) -> str:
    out, pos = [], 0
    for size in sizes:
        out.append(number[pos:pos + size])
        pos += size
    return sep.join(out)


def credit_card(r: random.Random) -> str:
    prefix, length = r.choice([("4", 16), ("4", 13), ("51", 16), ("55", 16), ("2221", 16), ("34", 15), ("37", 15),
                               ("6011", 16), ("62", 16), ("62", 19), ("3528", 16), ("36", 14)])
    number = luhn_complete(prefix, length, r)
    style = r.choice(["plain", "space", "dash"])
    if style == "plain":
        return number
    sizes = [4, 6, 5] if length == 15 else [4, 6, 4] if length == 14 else [4] * (length // 4) + ([length % 4] if length % 4 else [])
    return _group(number, sizes, " " if style == "space" else "-")


_CN_REGIONS = ["110101", "310104", "440305", "510107", "620102", "330106", "420111", "210203", "370202", "650102"]
_W = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def cn_id_check(body17: str) -> str:
    return "10X98765432"[sum(int(d) * w for d, w in zip(body17, _W)) % 11]


def cn_id(r: random.Random) -> str:
    body = (r.choice(_CN_REGIONS) + f"{r.randint(1940, 2012)}{r.randint(1, 12):02d}{r.randint(1, 28):02d}"
            + f"{r.randint(0, 999):03d}")
    return body + cn_id_check(body)


# ---------- look-alikes: must survive ----------
def version(r: random.Random) -> str:
    a, b, c = r.randint(0, 12), r.randint(0, 30), r.randint(0, 99)
    return r.choice([f"v{a}.{b}.{c}", f"{a}.{b}.{c}", f"version {a}.{b}.{c}.{r.randint(0, 300)}",
                     f"Python {r.randint(2, 3)}.{r.randint(0, 12)}.{r.randint(0, 9)}", f"10.0.{r.randint(10000, 22999)}.{r.randint(1, 4000)}",
                     f"v{r.randint(1, 9)}.{r.randint(1, 9)}.{r.randint(1, 9)}.{r.randint(1, 9)}"])


def date(r: random.Random) -> str:
    y, m, d = r.randint(1990, 2030), r.randint(1, 12), r.randint(1, 28)
    return r.choice([f"{y}-{m:02d}-{d:02d}", f"{d:02d}/{m:02d}/{y}", f"{y}年{m}月{d}日", f"{y}{m:02d}{d:02d}",
                     f"{m}/{d}/{y}", f"{d}.{m}.{y}"])


def time_of_day(r: random.Random) -> str:
    h, m, s = r.randint(0, 23), r.randint(0, 59), r.randint(0, 59)
    return r.choice([f"{h:02d}:{m:02d}", f"{h:02d}:{m:02d}:{s:02d}", f"{h}:{m:02d} pm", f"{h:02d}:{m:02d}:{s:02d}.{r.randint(0, 999):03d}"])


def price(r: random.Random) -> str:
    v = r.randint(1, 999999)
    return r.choice([f"${v:,}.{r.randint(0, 99):02d}", f"¥{v:,}", f"€{v / 100:.2f}", f"{v:,} USD", f"RMB {v}.00",
                     f"{r.randint(1, 999)}.{r.randint(0, 999):03d},{r.randint(0, 99):02d} €"])


def section(r: random.Random) -> str:
    return r.choice([f"§ {r.randint(1, 20)}.{r.randint(1, 20)}.{r.randint(1, 9)}", f"Section {r.randint(1, 12)}.{r.randint(1, 9)}",
                     f"{r.randint(1, 9)}.{r.randint(1, 9)}.{r.randint(1, 9)}.{r.randint(1, 9)}", f"第{r.randint(1, 30)}.{r.randint(1, 9)}节",
                     f"RFC {r.randint(700, 9999)}"])


def bad_cn_id(r: random.Random) -> str:
    good = cn_id(r)
    wrong = [c for c in "0123456789X" if c != good[-1]]
    return good[:-1] + r.choice(wrong)


def non_luhn(r: random.Random) -> str:
    good = luhn_complete(r.choice(["4", "51", "6011", "62"]), 16, r)
    bad = good[:-1] + str((int(good[-1]) + r.randint(1, 9)) % 10)
    return r.choice([bad, _group(bad, [4, 4, 4, 4], " "), _group(bad, [4, 4, 4, 4], "-")])


def other_numbers(r: random.Random) -> str:
    return r.choice([f"978-{r.randint(0, 9)}-{r.randint(10, 99)}-{r.randint(100000, 999999)}-{r.randint(0, 9)}",
                     ":".join(f"{r.randint(0, 255):02X}" for _ in range(6)), "16:9", f"port {r.randint(1024, 65535)}",
                     f"{r.randint(1500000000, 1800000000)}", "std::vector<int>", f"ext. {r.randint(100, 9999)}",
                     f"part A-{r.randint(1000, 9999)}-{r.randint(10, 99)}"])


PII_GENERATORS: dict[str, Callable[[random.Random], str]] = {
    "email": email, "phone": phone, "ipv4": ipv4, "ipv6": ipv6, "credit_card": credit_card, "cn_id": cn_id}
LOOKALIKE_GENERATORS: dict[str, Callable[[random.Random], str]] = {
    "version": version, "date": date, "time": time_of_day, "price": price, "section": section,
    "bad_cn_id": bad_cn_id, "non_luhn": non_luhn, "other_numbers": other_numbers}

_EN_FRAMES = ["Contact: {}.", "Reach me at {} if needed.", "({})", "see {}, thanks", "value {}", "<{}>", "[{}]", "\"{}\"",
              "Server {} is down.", "the driver reported {};", "IP/phone/mail: {}"]
_ZH_FRAMES = ["联系方式：{}。", "请拨打{}咨询", "（{}）", "地址是 {} 。", "号码{}，"]
_LOOK_EN = ["Released {} today.", "It costs {} now.", "See {} below.", "At {} the job ran.", "({})"]
_LOOK_ZH = ["在{}发布。", "价格为{}。", "见{}。", "（{}）"]


def load_paragraphs() -> list[dict]:
    with open(PARAGRAPHS, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def _plant(text: str, inserts: list[str], r: random.Random, lang: str) -> str:
    """Insert at word boundaries (English) or after a CJK comma/full stop (Chinese) of the original
    paragraph, never inside another planted item."""
    if lang == "zh":
        cuts = [i + 1 for i, ch in enumerate(text) if ch in "，。；"] + [len(text)]
    else:
        cuts = [i for i, ch in enumerate(text) if ch == " "] + [len(text)]
    chosen = sorted(r.choice(cuts) for _ in inserts)
    pad = "" if lang == "zh" else " "
    for cut, insert in sorted(zip(chosen, inserts), key=lambda x: -x[0]):
        text = text[:cut] + pad + insert + pad + text[cut:]
    return text


def build_set(seed: int = 0, per_kind: int = 300) -> list[Case]:
    """`per_kind` items of every PII kind and every look-alike kind, 1–3 items per paragraph."""
    r = random.Random(seed)
    paragraphs = load_paragraphs()
    items = [Planted(gen(r), kind, True) for kind, gen in PII_GENERATORS.items() for _ in range(per_kind)]
    items += [Planted(gen(r), kind, False) for kind, gen in LOOKALIKE_GENERATORS.items() for _ in range(per_kind)]
    r.shuffle(items)
    cases: list[Case] = []
    i = 0
    while i < len(items):
        take = items[i:i + r.randint(1, 3)]
        i += len(take)
        para = r.choice(paragraphs)
        zh = para["lang"] == "zh"
        inserts = [r.choice((_ZH_FRAMES if zh else _EN_FRAMES) if item.is_pii else (_LOOK_ZH if zh else _LOOK_EN))
                   .format(item.value) for item in take]
        text = _plant(para["text"], inserts, r, para["lang"])
        cases.append(Case(f"pii-{len(cases):05d}", para["lang"], text, take))
    return cases


def evaluate(cases: list[Case], redact: Callable[[str], str]) -> dict[str, dict[str, float]]:
    """Per kind: recall (PII gone and its typed placeholder present) or survival (look-alike intact)."""
    hits: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for case in cases:
        out = redact(case.text)
        for item in case.planted:
            ok = (item.value not in out and PLACEHOLDER[item.kind] in out) if item.is_pii else item.value in out
            hits[item.kind][0] += ok
            hits[item.kind][1] += 1
    return {kind: {"rate": ok / n, "n": n, "ok": ok} for kind, (ok, n) in sorted(hits.items())}
