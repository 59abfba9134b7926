"""Running softbench at scale with FireWorks: submit flows, run workers, status, reruns.

- :mod:`~softbench.operations.submit`: a softbench flow as a FireWorks workflow
  (every firework has the ``_category`` of its environment; a last firework runs
  the builders);
- :mod:`~softbench.operations.worker`: a rocket launcher whose jobs write to the
  softbench store;
- :mod:`~softbench.operations.status`: fireworks by state, failures with their
  reason, lost runs, reruns; the store's documents by state for local runs.
"""
