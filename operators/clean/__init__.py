"""Cleaning: text normalisation, HTML to text, length/field filters, sampling, blocklists.

This `__init__` is the family's public face: code outside `operators/clean/` imports only
from here (or from its public operator modules), never from its private `_*` modules."""

