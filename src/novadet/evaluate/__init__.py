"""Metrics and diagnosis: the same protocol for every model artifact."""
