"""Hoard's benchmark suite: Hoard against a peer S3 server and this machine's ceilings.

Run with ``python -m benchmarks`` (full) or ``python -m benchmarks --quick``; see README.md.
"""
