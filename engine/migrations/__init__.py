"""Numbered SQL migrations of the store: ``NNNN_name.sql``, applied in order, each once."""
