"""Helpers for tests, benchmarks and the demo: real processes on loopback."""
