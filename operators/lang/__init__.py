"""Language identification (fastText lid.176 and compatible models) and the `language` filter.

This `__init__` is the family's public face: code outside `operators/lang/` imports only
from here (or from its public operator modules), never from its private `_*` modules."""

from operators.lang._lid import (LABEL_ALIASES, UNDETERMINED, LangResult, LanguageIdentifier, ScriptDecision,
                                 chunks_of, default_model_path, load_fasttext, model_labels, normalise_language,
                                 prose_of, script_decision)

__all__ = ['LABEL_ALIASES', 'LangResult', 'LanguageIdentifier', 'ScriptDecision', 'UNDETERMINED', 'chunks_of',
           'default_model_path', 'load_fasttext', 'model_labels', 'normalise_language', 'prose_of', 'script_decision']
