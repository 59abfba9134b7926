"""Test doubles shipped with softbench (usable in downstream test suites too)."""
