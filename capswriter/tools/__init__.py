"""Benchmarks, stress and load tests, resource monitor and reports."""
