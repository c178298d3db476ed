"""Benchmarks, run as ``python -m benchmarks.<name>``; each can write its section of docs/BENCHMARKS.md."""
