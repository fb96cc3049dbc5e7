"""Operator base classes.

An operator author writes rules, nothing else: a per-document `keep`/`map` (or a batch method
over Arrow columns where it pays). Batching, counting, drop tracing, timing, errors, processes
and resume belong to the framework (garden.executor).
"""
from __future__ import annotations

import dataclasses
import typing
from typing import Any, ClassVar, Iterator, Mapping, Optional

import pyarrow as pa

from garden.languages import DEFAULT, LanguageValues, document_language, is_language_key, language_key

Doc = dict  # one document: id, text, source, meta + annotation columns
Verdict = typing.Union[bool, str]  # True = keep, a string = the reason for dropping


class ParamError(ValueError):
    """An invalid parameter value; `param` lets the recipe loader point at its line."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


Bound = tuple[Any, Any]  # (lowest, highest) allowed, None = open


@dataclasses.dataclass(frozen=True)
class Param:
    """One parameter of an operator.

    `type` and `default` are those of a single value. `languages` is None for an ordinary
    parameter; for a per-language one (the operator lists it in `per_language`) it holds
    Garden's built-in values by language or script group (`{"zh": 80, "Latn": 60}`, maybe
    empty), which apply while the parameter is left at `default`. A recipe may then give a
    number (every language) or a map by language (`{zh: 80, default: 50}`, merged over the
    built-in values); `Operator.language_values` resolves either to the value per language.
    """

    name: str
    type: Any
    default: Any
    doc: str = ""
    languages: Optional[dict] = None

    @property
    def type_name(self) -> str:
        return type_name(self.type)

    @property
    def languages_text(self) -> str:
        """How `garden ops` shows a per-language parameter: ', by language {zh: 70, ...}'; '' otherwise."""
        if self.languages is None:
            return ""
        if not self.languages:
            return ", or a map by language"
        return ", by language {" + ", ".join(f"{k}: {v!r}" for k, v in self.languages.items()) + "}"


def type_name(tp: Any) -> str:
    if tp is type(None):
        return "null"
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin is typing.Union:
        return " | ".join(type_name(a) for a in typing.get_args(tp))
    if origin in (list, dict, tuple):
        args = ", ".join(type_name(a) for a in typing.get_args(tp))
        return f"{origin.__name__}[{args}]"
    return getattr(tp, "__name__", str(tp))


class Operator:
    """Base of every operator. Parameters are annotated class attributes with defaults.

    Example::

        class LengthFilter(Filter):
            name = "length_filter"
            min_chars: int = 0
            def keep(self, doc): ...
    """

    name: ClassVar[str] = ""
    kind: ClassVar[str] = ""
    # Annotation columns this operator adds, with their Arrow types (fixed so every shard
    # has the same schema whatever its content).
    outputs: ClassVar[dict[str, pa.DataType]] = {}
    # Columns written next to each dropped document in rejected/<op>/ (e.g. duplicate_of).
    reject_outputs: ClassVar[dict[str, pa.DataType]] = {}
    # Allowed range of numeric parameters (each value of a list or mapping too), checked when the
    # recipe is loaded: {"fraction": (0, 1), "vocab_size": (256, 2**22)}. None in a parameter = off.
    param_bounds: ClassVar[dict[str, Bound]] = {}
    # Parameters whose value may differ by language, each with Garden's built-in values by
    # language code or script group (`Latn`, `Cyrl`), without `default` (the class attribute is
    # the default): {"min_doc_words": {"zh": 80}}. Read them with `self.threshold(name, doc)`.
    per_language: ClassVar[dict[str, dict[str, Any]]] = {}
    # Parameters that name a folder this operator writes; it must lie inside the run folder.
    output_params: ClassVar[tuple[str, ...]] = ()
    # Files or folders with fixed names this operator writes at the top of the run folder
    # (e.g. tokens.json): two steps that write the same one are refused before the run.
    run_files: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **params: Any) -> None:
        for p in self.params():
            setattr(self, p.name, params.get(p.name, p.default))
        self._by_language = {name: self.language_values(name, getattr(self, name)) for name in self.per_language}
        self.setup()

    def threshold(self, name: str, doc: Doc) -> Any:
        """The value of per-language parameter `name` for this document's `lang` (script group, then default)."""
        return self._by_language[name].get(document_language(doc))

    @classmethod
    def language_values(cls, name: str, value: Any) -> LanguageValues:
        """A per-language parameter's value by language, as the recipe gave it.

        Left at its default (written or not), the built-in values apply; another single value
        applies to every language; a map is merged over the built-in values (its `default`
        replaces the class default for languages without an entry).
        """
        default = getattr(cls, name)
        builtin = cls.per_language.get(name, {})
        if cls.is_language_map(name, value):
            given = {language_key(k): v for k, v in value.items()}
            return LanguageValues({DEFAULT: default, **builtin, **given})
        if value == default and type(value) is type(default):
            return LanguageValues({DEFAULT: default, **builtin})
        return LanguageValues({DEFAULT: value})

    @classmethod
    def is_language_map(cls, name: str, value: Any) -> bool:
        """`value` of parameter `name` is a map by language (not a single value, nor e.g. an n-gram → share mapping)."""
        if name not in cls.per_language or not isinstance(value, Mapping):
            return False
        if not value:
            return not isinstance(getattr(cls, name), Mapping)
        return all(is_language_key(k) for k in value)

    def setup(self) -> None:
        """Load models, compile patterns. Called once per worker process."""

    def counters(self, docs: list[Doc]) -> dict[str, int]:
        """Optional: counts of this operator's own events in a batch it processed (e.g. PII found
        per kind), read from the columns it wrote. `docs` are the documents it returned or
        annotated, kept and dropped alike (not quarantined ones); the framework sums the counts
        over batches, shards and stages into the step's `counts` in stats.json and the report.
        Stateless on purpose: a count must not depend on which worker saw which batch."""
        return {}

    @classmethod
    def params(cls) -> list[Param]:
        hints = typing.get_type_hints(cls, include_extras=False)
        docs = getattr(cls, "param_docs", {})
        out = []
        for klass in cls.__mro__:  # the operator's own parameters first, then shared ones
            for attr in getattr(klass, "__annotations__", {}):
                if attr.startswith("_") or attr in {p.name for p in out}:
                    continue
                tp = hints.get(attr)
                if typing.get_origin(tp) is ClassVar or attr in _RESERVED:
                    continue
                languages = dict(cls.per_language.get(attr, {})) if attr in cls.per_language else None
                out.append(Param(attr, tp, getattr(cls, attr, None), docs.get(attr, ""), languages))
        return out

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> None:
        """Keys of per-language maps, bounds, every min_X <= max_X pair (per language), then the
        operator's own `validate_params`; raises ValueError (ParamError naming the parameter)."""
        for name in cls.per_language:
            if cls.is_language_map(name, params.get(name)):
                for key in params[name]:
                    try:
                        language_key(key)
                    except ValueError as exc:
                        raise ParamError(name, f"{name}: {exc}") from None
        for name, (low, high) in cls.param_bounds.items():
            for value in _numbers(params.get(name)):
                if (low is not None and value < low) or (high is not None and value > high):
                    raise ParamError(name, f"{name} must be {_range_text(low, high)}, got {value:g}")
        for name in params:
            if name.startswith("min_") and "max_" + name[4:] in params:
                cls._check_min_max(name, "max_" + name[4:], params)
        validate = getattr(cls, "validate_params", None)
        if validate:
            validate(params)

    @classmethod
    def _check_min_max(cls, low_name: str, high_name: str, params: dict[str, Any]) -> None:
        pairs = [("", params[low_name], params[high_name])]
        if low_name in cls.per_language or high_name in cls.per_language:
            lows = cls.language_values(low_name, params[low_name]) if low_name in cls.per_language else None
            highs = cls.language_values(high_name, params[high_name]) if high_name in cls.per_language else None
            keys = {k for v in (lows, highs) if v is not None for k in v.values}
            pairs = [(key, lows.get(key) if lows else params[low_name], highs.get(key) if highs else params[high_name])
                     for key in sorted(keys, key=lambda k: (k != DEFAULT, k))]
        for key, low, high in pairs:
            if _is_number(low) and _is_number(high) and low > high:
                where = f" for {key}" if key else ""
                raise ParamError(low_name, f"{low_name} ({low:g}) is greater than {high_name} ({high:g}){where}: "
                                           f"no document can pass")

    def param_values(self) -> dict[str, Any]:
        return {p.name: getattr(self, p.name) for p in self.params()}

    @classmethod
    def summary(cls) -> str:
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""


_RESERVED = {"name", "kind", "outputs", "reject_outputs", "param_docs", "param_bounds", "output_params", "run_files",
             "per_language"}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _numbers(value: Any) -> list[float]:
    """The numbers in a parameter value: itself, the items of a list or values of a mapping, and
    those of a mapping inside a mapping (a per-language map of n-gram → share mappings)."""
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else [value]
    out: list[float] = []
    for v in items:
        if isinstance(v, dict):
            out.extend(x for x in v.values() if _is_number(x))
        elif _is_number(v):
            out.append(v)
    return out


def _range_text(low: Any, high: Any) -> str:
    if low is not None and high is not None:
        return f"between {low:,} and {high:,}"
    return f">= {low:,}" if low is not None else f"<= {high:,}"


class Mapper(Operator):
    """Rewrites documents or adds annotation columns; never drops."""

    kind = "mapper"

    def map(self, doc: Doc) -> Doc:
        raise TypeError(f"{self.name}: an operator must define map() or map_batch()")

    def map_batch(self, docs: list[Doc]) -> list[Doc]:
        """Override where a whole batch at once is faster (e.g. model inference)."""
        return [self.map(d) for d in docs]


class Filter(Operator):
    """Keeps or drops documents; a dropped document carries the reason."""

    kind = "filter"

    def keep(self, doc: Doc) -> Verdict:
        raise TypeError(f"{self.name}: an operator must define keep() or keep_batch()")

    def keep_batch(self, docs: list[Doc]) -> list[Verdict]:
        return [self.keep(d) for d in docs]


class GlobalOp(Operator):
    """Needs the whole data set: map (scan) → shuffle to disk → reduce → finalize → apply.

    Every phase is optional. `scan` runs once per shard of the previous stage's output and
    returns rows with an integer `partition` column; the framework writes them to disk grouped
    by partition. `reduce` runs once per partition over that partition's rows. `finalize` runs
    once on the driver. `apply` then runs on every shard like a filter/mapper, fused with the
    streaming operators that follow.
    """

    kind = "global"
    num_partitions: ClassVar[int] = 0  # 0 = no shuffle/reduce
    has_apply: ClassVar[bool] = False
    # Per-shard side outputs of scan (e.g. .bin/.idx); scan then gets ctx.shard_dir.
    scan_side_outputs: ClassVar[bool] = False

    def scan(self, batch: pa.RecordBatch, ctx: "StageContext") -> pa.Table | None:
        return None

    def scan_end(self, ctx: "StageContext") -> pa.Table | None:
        """Called after a shard's last batch; for rows only known at the end of a shard."""
        return None

    def reduce(self, partition: int, rows: Iterator[pa.RecordBatch], ctx: "StageContext") -> pa.Table | None:
        return None

    def finalize(self, ctx: "StageContext") -> dict:
        """Driver-side step; returns statistics merged into stats.json under this op."""
        return {}

    def prepare_apply(self, ctx: "StageContext") -> None:
        """Load what finalize wrote (e.g. the drop list) before apply() runs in a worker."""

    def apply(self, docs: list[Doc], shard: int) -> list[Verdict]:
        """Verdicts after the barrier for docs of `shard` (keep / drop reason); may add outputs to docs."""
        return [True] * len(docs)


@dataclasses.dataclass
class StageContext:
    """What a global operator may know about where it runs (paths only, no processes)."""

    run_dir: str          # the run's output directory
    work_dir: str         # private directory of this operator in this run
    shard: int = -1       # shard index in scan/apply, -1 on the driver
    shard_dir: str = ""   # per-shard temp dir for side outputs (scan_side_outputs)
    num_shards: int = 0
    input_shards: tuple = ()  # paths of the stage input shards (driver side)
    row_offset: int = 0   # in scan: index of the batch's first row within the shard
    artifacts: dict = dataclasses.field(default_factory=dict)  # results of earlier ops
