"""Flows that tie reference and model makers together for each benchmark task."""
