"""Quality filters: Gopher, C4, FineWeb and line-level heuristics, and the fastText quality classifier.

This `__init__` is the family's public face: code outside `operators/quality/` imports only
from here (or from its public operator modules), never from its private `_*` modules."""

from operators.quality._clf import MAX_TOKENS, NEWLINE_TOKEN, classifier_text, metrics_path, read_texts, score_texts, train_classifier
from operators.quality._heur_ngrams import NgramIds
from operators.quality._heur_text import cjk_share, split_tokens, split_words

__all__ = ['MAX_TOKENS', 'NEWLINE_TOKEN', 'NgramIds', 'cjk_share', 'classifier_text', 'metrics_path', 'read_texts', 'score_texts', 'split_tokens', 'split_words', 'train_classifier']

# What the published-rules tests and the sentence bench compare against.
from operators.quality._heur_text import end_chars, ends_sentence, lang_of  # noqa: E402
from operators.quality._published import FINEWEB_EN_STOP_CHARS, FINEWEB_STOP_CHARS  # noqa: E402

__all__ += ['FINEWEB_EN_STOP_CHARS', 'FINEWEB_STOP_CHARS', 'end_chars', 'ends_sentence', 'lang_of']

# The stop-word lists, for statistics that must match what gopher_quality counts (garden analyze).
from operators.quality._heur_text import CJK_LANGS  # noqa: E402
from operators.quality.gopher import stop_words_re  # noqa: E402

__all__ += ['CJK_LANGS', 'stop_words_re']
