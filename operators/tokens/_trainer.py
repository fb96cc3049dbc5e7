"""Subword tokenizer training with HF `tokenizers` (byte-level BPE, Unigram with byte fallback,
WordPiece), and the files `transformers` needs to load the result.

Pre-tokenisation is where Chinese goes wrong in GPT-2 style tokenizers: its regex glues a
run of Han characters to the Latin text and spaces around it and byte-level BPE then starts
from 3 bytes per character. Here CJK runs are isolated first (`cjk: run`, the model may then
learn multi-character words inside a run) or split into single characters (`cjk: char`), and
digits are split (`digits: individual` or `groups3`) so numbers do not waste the vocabulary.

The three models share that pre-tokenisation and differ in what they do with a piece:
- `bpe`: byte-level BPE (GPT-2 style). Lossless: every string round-trips.
- `unigram`: a unigram language model over characters (SentencePiece style, as many Chinese
  models use) with byte fallback: a character outside the vocabulary becomes its UTF-8 bytes
  `<0x..>`, so nothing is ever unknown. Spaces are kept as they are (no `▁` substitution,
  which would turn a literal `▁` in the text into a space), so it is lossless too.
- `wordpiece`: BERT-style WordPiece (`##` continuation pieces) for encoder models. Whitespace
  is dropped and an unseen character is `[UNK]`: it cannot round-trip.
No normaliser is used.
"""
from __future__ import annotations

import json
import math
import re
from collections import Counter
from typing import Callable, Iterable, Iterator

from garden.io import fs
from garden.text import HAN_KANA
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

CJK = HAN_KANA  # letters only: punctuation stays its own token
CJK_MODES = ("run", "char", "none")
DIGIT_MODES = ("individual", "groups3", "none")
DEFAULT_PRE_TOKENIZER = {"cjk": "run", "digits": "individual"}
MODELS = ("bpe", "unigram", "wordpiece")
UNK_TOKENS = {"unigram": "<unk>", "wordpiece": "[UNK]"}  # the conventions of SentencePiece and BERT
# GPT-2's split (the one ByteLevel(use_regex=True) applies), used without the byte mapping
GPT2_SPLIT = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
DEFAULT_CHARACTER_COVERAGE = 0.9995  # SentencePiece's default
# a literal "<0x41>" in the text must be spelled with these, never matched by the byte piece
BYTE_PIECE_CHARS = frozenset("<>x0123456789ABCDEF")
WORDPIECE_MAX_WORD_CHARS = 100  # BERT's max_input_chars_per_word: a longer word is one [UNK]


def check_pre_tokenizer(options: dict) -> dict:
    """Fill defaults and reject unknown keys/values (recipe validation)."""
    unknown = set(options) - set(DEFAULT_PRE_TOKENIZER)
    if unknown:
        raise ValueError(f"pre_tokenizer: unknown option(s) {sorted(unknown)}; known: cjk, digits")
    merged = {**DEFAULT_PRE_TOKENIZER, **options}
    if merged["cjk"] not in CJK_MODES:
        raise ValueError(f"pre_tokenizer.cjk must be one of {CJK_MODES}")
    if merged["digits"] not in DIGIT_MODES:
        raise ValueError(f"pre_tokenizer.digits must be one of {DIGIT_MODES}")
    return merged


def check_model(model: str) -> str:
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, not {model!r}")
    return model


def build_pre_tokenizer(options: dict, model: str = "bpe") -> pre_tokenizers.PreTokenizer:
    """CJK and digit splits, then the model's own split: GPT-2's regex (byte-mapped for bpe,
    on characters for unigram) or BERT's whitespace-and-punctuation split (wordpiece)."""
    opts = check_pre_tokenizer(options)
    check_model(model)
    steps = []
    if opts["cjk"] == "run":
        steps.append(pre_tokenizers.Split(Regex(f"[{CJK}]+"), behavior="isolated"))
    elif opts["cjk"] == "char":
        steps.append(pre_tokenizers.Split(Regex(f"[{CJK}]"), behavior="isolated"))
    if opts["digits"] == "individual":
        steps.append(pre_tokenizers.Split(Regex(r"\p{N}"), behavior="isolated"))
    elif opts["digits"] == "groups3":
        steps.append(pre_tokenizers.Split(Regex(r"\p{N}{1,3}"), behavior="isolated"))
    if model == "bpe":
        steps.append(pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True))
    elif model == "unigram":
        steps.append(pre_tokenizers.Split(Regex(GPT2_SPLIT), behavior="isolated"))
    else:
        steps.append(pre_tokenizers.BertPreTokenizer())
    return pre_tokenizers.Sequence(steps)


def special_token_list(eod_token: str, special_tokens: list[str], model: str = "bpe") -> list[str]:
    """EOD first (id 0), then the user's special tokens, then the model's unknown token
    (unigram, wordpiece), without duplicates."""
    out = [eod_token]
    for tok in [*special_tokens, *([UNK_TOKENS[model]] if model in UNK_TOKENS else [])]:
        if tok not in out:
            out.append(tok)
    return out


def unk_token_of(tok: Tokenizer) -> str | None:
    """The token a model emits for text it cannot represent (None for byte-level BPE)."""
    model = json.loads(tok.to_str()).get("model") or {}
    if model.get("type") == "Unigram":
        unk_id = model.get("unk_id")
        return None if unk_id is None else model["vocab"][unk_id][0]
    unk = model.get("unk_token")
    return unk if unk and tok.token_to_id(unk) is not None else None


def model_kind(tok: Tokenizer) -> str:
    """'bpe', 'unigram', 'wordpiece' (or the model's own type name in lower case)."""
    kind = (json.loads(tok.to_str()).get("model") or {}).get("type", "")
    return {"BPE": "bpe", "Unigram": "unigram", "WordPiece": "wordpiece"}.get(kind, kind.lower())


def round_trips(tok: Tokenizer) -> bool:
    """Whether decode(encode(x)) == x is expected: not for WordPiece (it drops whitespace)."""
    return model_kind(tok) != "wordpiece"


def train_bpe(texts: Iterable[str], vocab_size: int, min_frequency: int, eod_token: str,
              special_tokens: list[str], pre_tokenizer: dict, max_token_length: int | None = None) -> Tokenizer:
    """Train a byte-level BPE on `texts` (deterministic for the same texts in the same order)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = build_pre_tokenizer(pre_tokenizer)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency,
        special_tokens=special_token_list(eod_token, special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
        max_token_length=max_token_length)
    tok.train_from_iterator(texts, trainer)
    return tok


def train_wordpiece(texts: Iterable[str], vocab_size: int, min_frequency: int, eod_token: str,
                    special_tokens: list[str], pre_tokenizer: dict) -> Tokenizer:
    """Train a BERT-style WordPiece (`##` continuations, `[UNK]` for unseen characters).

    The alphabet is capped at half the vocabulary (the most frequent characters), so a corpus
    with thousands of distinct Han characters still leaves room for multi-character pieces."""
    specials = special_token_list(eod_token, special_tokens, "wordpiece")
    tok = Tokenizer(models.WordPiece(unk_token=UNK_TOKENS["wordpiece"], max_input_chars_per_word=WORDPIECE_MAX_WORD_CHARS))
    tok.pre_tokenizer = build_pre_tokenizer(pre_tokenizer, "wordpiece")
    tok.decoder = decoders.WordPiece(prefix="##")
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=specials, show_progress=False,
        limit_alphabet=max(1, (vocab_size - len(specials)) // 2), continuing_subword_prefix="##")
    tok.train_from_iterator(texts, trainer)
    return tok


def kept_characters(texts: Iterable[str], coverage: float, max_chars: int) -> set[str]:
    """The most frequent characters that cover `coverage` of all characters (at most
    `max_chars`), as SentencePiece's character_coverage: the rest is left to byte fallback."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(text)
    total = sum(counts.values())
    kept: set[str] = set()
    covered = 0
    for ch, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if covered >= coverage * total or len(kept) >= max_chars:
            break
        kept.add(ch)
        covered += n
    return kept | BYTE_PIECE_CHARS


def _fragments(texts: Iterable[str], kept: set[str]) -> Iterator[list[str]]:
    """Each text cut at the characters outside `kept`, which are not trained on."""
    rare = None
    for text in texts:
        if set(text) <= kept:
            yield [text]
            continue
        if rare is None:
            rare = re.compile("[^" + "".join(re.escape(c) for c in sorted(kept)) + "]+")
        yield [part for part in rare.split(text) if part]


def train_unigram(texts: Callable[[], Iterable[str]], vocab_size: int, eod_token: str, special_tokens: list[str],
                  pre_tokenizer: dict, max_token_length: int | None = None,
                  character_coverage: float = DEFAULT_CHARACTER_COVERAGE) -> Tokenizer:
    """Train a unigram LM tokenizer with byte fallback (the 256 `<0x..>` pieces count in vocab_size).

    `texts()` is read twice: once to count characters (the rarest ones, beyond
    `character_coverage` or half the vocabulary, are left to byte fallback), once to train."""
    specials = special_token_list(eod_token, special_tokens, "unigram")
    budget = vocab_size - 256 - len(specials)  # ordinary pieces
    if budget < len(BYTE_PIECE_CHARS) + 1:
        raise ValueError(f"vocab_size {vocab_size} leaves no room for unigram pieces besides the 256 byte "
                         f"pieces and {len(specials)} special tokens")
    kept = kept_characters(texts(), character_coverage, max(1, budget // 2))
    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = build_pre_tokenizer(pre_tokenizer, "unigram")
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size - 256, special_tokens=specials, unk_token=UNK_TOKENS["unigram"], show_progress=False,
        initial_alphabet=sorted(BYTE_PIECE_CHARS), max_piece_length=max_token_length or 16)
    tok.train_from_iterator(_fragments(texts(), kept), trainer)
    return _with_byte_fallback(tok, specials, budget)


def _penalty_scores(min_score: float, n: int) -> list[float]:
    """The scores HF's unigram trainer gives required characters the model pruned, in the order
    it meets them: min_score, min_score + 1e-4, ... (accumulated as it does)."""
    out, penalty = [], 0.0
    for _ in range(n):
        out.append(min_score + penalty)
        penalty += 0.0001
    return out


def _with_byte_fallback(tok: Tokenizer, specials: list[str], budget: int) -> Tokenizer:
    """Add the 256 byte pieces, and make the vocabulary the same on every run.

    HF's trainer meets characters in hash order and sums floats in thread order, so ids and
    the last digits of scores vary from run to run although the pieces do not: the characters
    it re-added get their scores by code point, scores are rounded to 6 decimals and pieces
    are ordered by score, then text. Byte pieces score far below every path of ordinary pieces,
    so they are only used as fallback, never to match a literal "<0x41>" in the text."""
    data = json.loads(tok.to_str())
    model = data["model"]
    vocab = [(p, float(s)) for p, s in model["vocab"]]
    if [p for p, _ in vocab[:len(specials)]] != specials:
        raise RuntimeError("unigram trainer did not put the special tokens first")
    pieces = [(p, s) for p, s in vocab[len(specials):] if not re.fullmatch(r"<0x[0-9A-F]{2}>", p)]
    min_score = min((s for _, s in pieces), default=0.0)
    penalty = set(_penalty_scores(min_score, len(pieces)))
    readded = sorted(p for p, s in pieces if len(p) == 1 and s in penalty)
    canon = dict(zip(readded, _penalty_scores(min_score, len(readded))))
    pieces = [(p, round(canon.get(p, s), 6)) for p, s in pieces]
    pieces.sort(key=lambda ps: (-ps[1], ps[0]))
    if len(pieces) > budget:  # keep the byte-piece characters whatever their score
        must = [ps for ps in pieces if ps[0] in BYTE_PIECE_CHARS]
        rest = [ps for ps in pieces if ps[0] not in BYTE_PIECE_CHARS][:budget - len(must)]
        pieces = sorted(must + rest, key=lambda ps: (-ps[1], ps[0]))
    floor = min((s for _, s in pieces), default=0.0)
    byte_score = round(10 * floor - 100, 6) if math.isfinite(floor) else -1e6
    byte_pieces = [(f"<0x{b:02X}>", byte_score) for b in range(256)]
    model["vocab"] = [[p, 0.0] for p in specials] + [list(ps) for ps in byte_pieces + pieces]
    model["unk_id"] = specials.index(UNK_TOKENS["unigram"])
    model["byte_fallback"] = True
    out = Tokenizer.from_str(json.dumps(data))
    out.decoder = decoders.ByteFallback()
    return out


def train_model(model: str, texts: Callable[[], Iterable[str]], vocab_size: int, min_frequency: int, eod_token: str,
                special_tokens: list[str], pre_tokenizer: dict, max_token_length: int | None = None,
                character_coverage: float = DEFAULT_CHARACTER_COVERAGE) -> Tokenizer:
    """Train `model` ('bpe', 'unigram', 'wordpiece') on `texts()` (called once, twice for unigram)."""
    check_model(model)
    if model == "bpe":
        return train_bpe(texts(), vocab_size, min_frequency, eod_token, special_tokens, pre_tokenizer,
                         max_token_length)
    if model == "unigram":
        return train_unigram(texts, vocab_size, eod_token, special_tokens, pre_tokenizer, max_token_length,
                             character_coverage)
    return train_wordpiece(texts(), vocab_size, min_frequency, eod_token, special_tokens, pre_tokenizer)


def hf_config_files(eod_token: str, special_tokens: list[str], model_max_length: int,
                    unk_token: str | None = None) -> dict[str, dict]:
    """tokenizer_config.json and special_tokens_map.json for `AutoTokenizer.from_pretrained(dir)`.

    `PreTrainedTokenizerFast` reads the whole pipeline (normaliser, pre-tokenizer, model, decoder)
    from tokenizer.json, whatever the model; a model-specific class such as BertTokenizerFast
    would impose its own normaliser. The config names the special tokens, the unknown token
    (`unk_token`, else the EOD token: byte-level BPE has none) and keeps
    `clean_up_tokenization_spaces` off so decoding stays lossless.
    """
    specials = special_token_list(eod_token, special_tokens)
    if unk_token and unk_token not in specials:
        specials.append(unk_token)
    added = {str(i): {"content": t, "lstrip": False, "normalized": False, "rstrip": False,
                      "single_word": False, "special": True} for i, t in enumerate(specials)}
    extra = [t for t in specials[1:] if t != unk_token]
    unk = unk_token or eod_token
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "added_tokens_decoder": added,
        "bos_token": eod_token,
        "eos_token": eod_token,
        "unk_token": unk,
        "pad_token": None,
        "additional_special_tokens": extra,
        "add_prefix_space": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": model_max_length,
    }
    special_map = {"bos_token": eod_token, "eos_token": eod_token, "unk_token": unk}
    if extra:
        special_map["additional_special_tokens"] = extra
    return {"tokenizer_config.json": config, "special_tokens_map.json": special_map}


def save_tokenizer_dir(tok: Tokenizer, out_dir: str, eod_token: str, special_tokens: list[str],
                       model_max_length: int = 4096) -> str:
    """Write tokenizer.json + transformers config files atomically; returns tokenizer.json's path."""
    path = fs.join(out_dir, "tokenizer.json")
    staged = fs.StagedFile(path)
    tok.save(staged.local, pretty=True)
    unk = unk_token_of(tok)
    for name, content in hf_config_files(eod_token, special_tokens, model_max_length, unk).items():
        fs.atomic_write_bytes(fs.join(out_dir, name), (json.dumps(content, indent=2, ensure_ascii=False) + "\n").encode())
    staged.commit()  # last: tokenizer.json present means the directory is complete
    return path
