"""Garden: raw text corpora → training-ready Megatron token shards → pretraining."""
__version__ = "0.1.0"
