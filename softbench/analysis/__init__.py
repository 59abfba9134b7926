"""Numerical analysis of paired reference and model results."""
