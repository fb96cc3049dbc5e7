"""pii: recall per kind and look-alike survival on the planted set, validators, modes, recipe run."""
from __future__ import annotations

import json
import os

import pytest

import pii_set
from conftest import read_data, read_stats, run_garden, write_jsonl, write_recipe
from operators.pii import KINDS, cn_id_valid, find_pii, luhn_valid
from garden.recipe import RecipeError, load_recipe
from operators.pii.redact import Pii

FIX = os.path.join(os.path.dirname(__file__), "fixtures", "cleaning_b")


def apply(op: Pii, text: str) -> dict:
    doc = {"id": "t", "text": text, "source": "s", "meta": "{}"}
    doc["verdict"] = op.keep(doc)
    return doc


@pytest.fixture(scope="module")
def planted_scores():
    op = Pii()
    cases = pii_set.build_set(seed=0, per_kind=250)
    return pii_set.evaluate(cases, lambda text: apply(op, text)["text"])


@pytest.mark.parametrize("kind", pii_set.PII_KINDS)
def test_recall_at_least_98_percent_per_kind(planted_scores, kind):
    score = planted_scores[kind]
    assert score["n"] == 250 and score["rate"] >= 0.98, score


@pytest.mark.parametrize("kind", list(pii_set.LOOKALIKE_GENERATORS))
def test_lookalikes_survive_at_least_98_percent(planted_scores, kind):
    score = planted_scores[kind]
    assert score["n"] == 250 and score["rate"] >= 0.98, score


def test_validators():
    assert cn_id_valid("11010519491231002X") and cn_id_valid("11010519491231002x")
    assert not cn_id_valid("110105194912310021")
    assert luhn_valid("4111111111111111") and luhn_valid("378282246310005")
    assert not luhn_valid("4111111111111112")


def test_examples_in_chinese_and_english_context():
    op = Pii()
    text = "联系人：张三，电话13800138000，邮箱zhang.san@qq.com，身份证号11010519491231002X。"
    out = apply(op, text)
    assert out["text"] == "联系人：张三，电话<PHONE>，邮箱<EMAIL>，身份证号<ID_NUMBER>。"
    assert json.loads(out["pii"]) == {"cn_id": 1, "email": 1, "phone": 1} and out["pii_count"] == 3
    text = ("Server 192.168.10.23 (fe80::1ff:fe23:4567:890a) charged card 4111 1111 1111 1111; "
            "call +1 (415) 555-2671. Python 3.11.4 released 2023-06-06 at 10:30:45 for $1,299.99, see 1.2.3.4.")
    out = apply(op, text)
    assert out["text"] == ("Server <IP_ADDRESS> (<IP_ADDRESS>) charged card <CREDIT_CARD>; call <PHONE>. Python 3.11.4 "
                           "released 2023-06-06 at 10:30:45 for $1,299.99, see 1.2.3.4.")
    assert out["verdict"] is True
    assert apply(op, "ip addr add 10.2.1.2/24 dev eth0")["text"] == "ip addr add <IP_ADDRESS>/24 dev eth0"


def test_lookalikes_and_edges_untouched():
    op = Pii()
    for text in ["", "   \n ", "😀🎉 no personal data here 🚀", "std::vector<int> v; a::b::c", "MAC 00:1A:2B:3C:4D:5E, 16:9",
                 "ID 110105194912310021 has a bad checksum", "order 4111111111111112 is not Luhn-valid",
                 "version 10.2.0.1 and v1.2.3.4", "ISBN 978-3-16-148410-0", "第3.2节 2023年10月15日 ¥12,800",
                 "networks 192.168.0.0/24 and 10.0.0.0/255.0.0.0, loopback 127.0.0.1, netmask 255.255.255.0",
                 "see Section 11.7.3.2, \u201cConfiguring\u201d", "for i in a[1::2]: x = +2147483647",
                 "Timestamp: 17106715833 runtime=14589605367", "WWN 21:00:00:24:ff:27:8f:ae",
                 "x" * 20000]:
        out = apply(op, text)
        assert out["text"] == text and out["pii_count"] == 0 and out["pii"] == "{}", text


def test_modes_kinds_and_placeholders():
    text = "Mail bob@example.com or visit https://example.com/page?id=7 from 10.0.0.7."
    out = apply(Pii(mode="annotate"), text)
    assert out["text"] == text and out["verdict"] is True and json.loads(out["pii"]) == {"email": 1, "ipv4": 1}
    out = apply(Pii(mode="drop"), text)
    assert out["verdict"] in {"email", "ipv4"} and "bob@example.com" not in out["text"]  # rejected copy is redacted
    assert apply(Pii(mode="drop"), "nothing personal")["verdict"] is True
    assert apply(Pii(mode="drop", drop_min=3), text)["verdict"] is True
    out = apply(Pii(kinds=["email", "url"], placeholders={"email": "[email]"}), text)
    assert out["text"] == "Mail [email] or visit <URL> from 10.0.0.7."
    spans = find_pii("write to a@b.co at http://a.example/x?mail=a@b.co", list(KINDS))
    assert [s.kind for s in spans] == ["email", "url"]  # the URL wins over the email inside it
    with pytest.raises(ValueError):
        Pii.validate_params({"kinds": ["email", "ssn"], "placeholders": {}, "drop_min": 1})


def test_real_documents_only_real_findings():
    """Fixture docs (kernel/Python docs, fortunes, Chinese docs): every finding is an email, none is a look-alike."""
    op = Pii()
    found = []
    for name in ("en_docs.jsonl", "zh_docs.jsonl"):
        with open(os.path.join(FIX, name), encoding="utf-8") as fh:
            for line in fh:
                doc = json.loads(line)
                found += [(s.kind, doc["text"][s.start:s.end]) for s in find_pii(doc["text"], op._kinds)]
    assert found and all(kind == "email" and "@" in value for kind, value in found)


@pytest.mark.slow
def test_pii_in_a_recipe(tmp_path):
    rows = [{"id": "a", "text": "Write to anna@example.org or call 138-0013-8000."},
            {"id": "b", "text": "No personal data, just version 2.4.1 and 2024-01-01."},
            {"id": "c", "text": "客户身份证11010519491231002X已登记。"}]
    inp = write_jsonl(tmp_path / "in.jsonl", rows)
    recipe = write_recipe(tmp_path, [{"pii": {}}], [{"path": inp, "source": "s"}], output="replace")
    run_garden("run", recipe, "-q")
    out = {r["id"]: r for r in read_data(tmp_path / "replace")}
    assert out["a"]["text"] == "Write to <EMAIL> or call <PHONE>."
    assert json.loads(out["a"]["pii"]) == {"email": 1, "phone": 1} and out["b"]["pii_count"] == 0
    recipe = write_recipe(tmp_path, [{"pii": {"mode": "drop"}}], [{"path": inp, "source": "s"}], output="drop")
    run_garden("run", recipe, "-q")
    assert [r["id"] for r in read_data(tmp_path / "drop")] == ["b"]
    dropped = read_stats(tmp_path / "drop")
    assert "pii:cn_id" in json.dumps(dropped)
    bad = write_recipe(tmp_path, [{"pii": {"kinds": ["passport"]}}], [{"path": inp, "source": "s"}], output="bad")
    with pytest.raises(RecipeError, match="passport"):
        load_recipe(bad)
