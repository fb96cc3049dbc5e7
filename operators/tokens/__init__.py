"""Tokenizers: training (HF `tokenizers`), loading, encoding to Megatron shards, compression reports.

This `__init__` is the family's public face: code outside `operators/tokens/` imports only
from here (or from its public operator modules), never from its private `_*` modules."""

from operators.tokens._encode import encode_flat
from operators.tokens._load import load_tokenizer
from operators.tokens._report import CompressionReport, RoundTripError, compare_rows, format_table, round_trip_line
from operators.tokens._sample import balanced_quota, bottom_k, choose, doc_keys
from operators.tokens._trainer import (MODELS, build_pre_tokenizer, check_pre_tokenizer, hf_config_files, model_kind,
                                       round_trips, save_tokenizer_dir, train_bpe, train_model, train_unigram,
                                       train_wordpiece, unk_token_of)

__all__ = ['CompressionReport', 'MODELS', 'RoundTripError', 'balanced_quota', 'bottom_k', 'build_pre_tokenizer',
           'check_pre_tokenizer', 'choose', 'compare_rows', 'doc_keys', 'encode_flat', 'format_table',
           'hf_config_files', 'load_tokenizer', 'model_kind', 'round_trip_line', 'round_trips', 'save_tokenizer_dir',
           'train_bpe', 'train_model', 'train_unigram', 'train_wordpiece', 'unk_token_of']
