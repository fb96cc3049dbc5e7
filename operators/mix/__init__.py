"""Mixing and curriculum: token shares per source and phase, written to blend.json
(the blend.json rules themselves, shared with the trainer, are garden.blend's).

This `__init__` is the family's public face: code outside `operators/mix/` imports only
from here (or from its public operator modules), never from its private `_*` modules."""

from garden.blend import BlendError, load_manifest, plan
from garden.megatron_format import empty_splits

__all__ = ['BlendError', 'empty_splits', 'load_manifest', 'plan']
