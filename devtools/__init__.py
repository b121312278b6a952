"""Helpers for the demo, the benchmarks and the tests: never imported by the services."""
