"""softbench: measure, explain and correct PES softening of universal ML potentials."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("softbench")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
