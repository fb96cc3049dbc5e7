"""Quality filters: Gopher, C4, FineWeb and line-level heuristics, and the fastText quality classifier.

This `__init__` is the family's public face: code outside `operators/quality/` imports only
from here (or from its public operator modules), never from its private `_*` modules."""

from operators.quality._clf import MAX_TOKENS, NEWLINE_TOKEN, classifier_text, metrics_path, read_texts, score_texts, train_classifier
from operators.quality._heur_ngrams import NgramIds
from operators.quality._heur_text import cjk_share, split_tokens, split_words

__all__ = ['MAX_TOKENS', 'NEWLINE_TOKEN', 'NgramIds', 'cjk_share', 'classifier_text', 'metrics_path', 'read_texts', 'score_texts', 'split_tokens', 'split_words', 'train_classifier']
