"""maggma Builders that pair reference and model results and summarise them."""

from softbench.builders.softening import SofteningBuilder, SofteningSummaryBuilder

__all__ = ["SofteningBuilder", "SofteningSummaryBuilder"]
