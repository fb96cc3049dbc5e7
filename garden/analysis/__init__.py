"""Corpus analysis (`garden analyze`) and the HTML reports (analysis and per-run)."""
