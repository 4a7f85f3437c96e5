"""Bucket lifecycle: the rules a bucket's lifecycle configuration holds and what they do to a version (``rules``, pure)."""
