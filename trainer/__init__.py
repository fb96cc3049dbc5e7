"""Garden's pretraining backend: megatron-core GPT with TP x PP x DP, launched by `garden train`.

Only `trainer.cli`, `trainer.config`, `trainer.blend` and `trainer.launch` are importable
without torch; everything else runs inside the torchrun workers.
"""
