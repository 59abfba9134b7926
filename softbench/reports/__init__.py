"""Figures and tables written by ``softbench report <task>``."""
