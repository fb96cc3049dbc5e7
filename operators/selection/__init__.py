"""Selection by a language model: `train_lm`, the `perplexity` filter and DSIR importance sampling.

This `__init__` is the family's public face: code outside `operators/selection/` imports only
from here (or from its public operator modules), never from its private `_*` modules."""

