"""Tokenizers: training (HF `tokenizers`), loading, encoding to Megatron shards, compression reports.

This `__init__` is the family's public face: code outside `operators/tokens/` imports only
from here (or from its public operator modules), never from its private `_*` modules."""

from operators.tokens._encode import encode_flat
from operators.tokens._load import load_tokenizer
from operators.tokens._report import CompressionReport, RoundTripError, format_table
from operators.tokens._sample import balanced_quota, bottom_k, choose, doc_keys
from operators.tokens._trainer import build_pre_tokenizer, check_pre_tokenizer, hf_config_files, save_tokenizer_dir, train_bpe

__all__ = ['CompressionReport', 'RoundTripError', 'balanced_quota', 'bottom_k', 'build_pre_tokenizer', 'check_pre_tokenizer', 'choose', 'doc_keys', 'encode_flat', 'format_table', 'hf_config_files', 'load_tokenizer', 'save_tokenizer_dir', 'train_bpe']
