"""Benchmarks and diagnostics: measure the product, never imported by it."""
