"""Garden's own n-gram language models: counting, modified Kneser-Ney, ARPA, scoring.

Public API used by the `train_lm`, `perplexity` and `dsir` operators and by `garden lm`.
"""
from garden.lm.arpa import read_arpa, write_arpa
from garden.lm.counting import NgramCounter, load_counts, save_counts
from garden.lm.kneser_ney import TrainConfig, estimate_from_counter, train_model
from garden.lm.load import load_model, model_kind, resolve_path
from garden.lm.model import NgramModel, perplexity_of
from garden.lm.normalize import Normalizer
from garden.lm.tokens import TokenSpec

__all__ = ["NgramCounter", "NgramModel", "Normalizer", "TokenSpec", "TrainConfig", "estimate_from_counter",
           "load_counts", "load_model", "model_kind", "perplexity_of", "read_arpa", "resolve_path", "save_counts",
           "train_model", "write_arpa"]
