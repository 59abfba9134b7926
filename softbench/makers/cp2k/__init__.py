"""The CP2K side of the high-energy task: vetted settings and an ASE-calculator maker.

``settings.py`` holds the per-element pseudopotential/basis table and the numerics;
``high_energy.py`` the maker that validates an element set and computes every frame
of one material in one job.
"""
