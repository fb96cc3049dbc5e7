"""Operator registry: built-ins from the `operators` package plus entry-point plugins."""
from __future__ import annotations

import difflib
import importlib
import pkgutil
from importlib.metadata import entry_points
from typing import Type

from garden.operator import Operator

_REGISTRY: dict[str, Type[Operator]] = {}
_LOADED = False
ENTRY_POINT_GROUP = "garden.operators"
UNAVAILABLE: dict[str, str] = {}  # built-in module -> why it could not be imported


def register(cls: Type[Operator]) -> Type[Operator]:
    """Class decorator: make an operator usable in recipes under `cls.name`."""
    if not cls.name:
        raise ValueError(f"{cls.__qualname__} has no name")
    if cls.kind not in ("mapper", "filter", "global"):
        raise ValueError(f"{cls.name}: kind must be mapper, filter or global")
    _REGISTRY[cls.name] = cls
    return cls


def _load() -> None:
    global _LOADED
    if _LOADED:
        return
    import operators

    # Built-ins live in family packages (operators/<family>/); every public module of a family
    # holds operators, so adding a file is enough. Private `_*` modules are the family's helpers.
    for family in sorted(pkgutil.iter_modules(operators.__path__), key=lambda i: i.name):
        if not family.ispkg or family.name.startswith("_"):
            continue
        package = importlib.import_module(f"operators.{family.name}")
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
            if info.name.startswith("_"):
                continue
            try:
                importlib.import_module(f"operators.{family.name}.{info.name}")
            except ImportError as exc:  # an optional dependency is missing
                UNAVAILABLE[f"{family.name}.{info.name}"] = str(exc)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        obj = ep.load()
        if isinstance(obj, type) and issubclass(obj, Operator):
            register(obj)
    _LOADED = True  # only once everything loaded: an interrupted load is retried, not half-kept


def get(name: str) -> Type[Operator]:
    _load()
    if name not in _REGISTRY:
        raise KeyError(unknown_message("operator", name, _REGISTRY))
    return _REGISTRY[name]


def all_operators() -> dict[str, Type[Operator]]:
    _load()
    return dict(sorted(_REGISTRY.items()))


def unknown_message(what: str, name: str, known) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown {what} '{name}'{hint}"
