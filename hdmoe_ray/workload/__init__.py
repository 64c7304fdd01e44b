"""Workloads: routing traces (real and synthetic), their importers and statistics."""
