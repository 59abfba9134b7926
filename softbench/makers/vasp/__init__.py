"""The VASP side of every task: atomate2 VASP makers with MP-compatible settings.

One module per task (``phonons``, ``elastic``, ``high_energy``); each turns
atomate2's VASP task documents into softbench reference documents.
"""
