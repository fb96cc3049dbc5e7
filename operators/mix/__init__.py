"""Mixing and curriculum: token shares per source and phase, written to blend.json.

This `__init__` is the family's public face: code outside `operators/mix/` imports only
from here (or from its public operator modules), never from its private `_*` modules."""

from operators.mix._blend import BlendError, empty_splits, load_manifest, plan

__all__ = ['BlendError', 'empty_splits', 'load_manifest', 'plan']
