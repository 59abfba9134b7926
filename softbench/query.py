"""Read analysis documents back out of the stores and format them."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from softbench.stores import SoftbenchStores


@dataclass(frozen=True)
class QuerySpec:
    """A queryable collection: its columns and which CLI filters map to which fields."""

    collection: str
    columns: tuple[str, ...]
    filters: dict[str, str]
    sort: tuple[str, ...]
    omit: tuple[str, ...] = ()  # bulky fields left out of query output (figure data)


# CLI filter -> document field: per-material analysis documents and per-model summaries
MATERIAL_FILTERS = {
    "task": "task",
    "model": "model",
    "material": "material_id",
    "reference": "reference",
}
SUMMARY_FILTERS = {"task": "task", "model": "model", "reference": "reference"}


def query_spec(collection: str, columns: str, sort: str, omit: str = "") -> QuerySpec:
    """A QuerySpec from space-separated column and sort names.

    A collection with a ``material_id`` column is filtered per material
    (:data:`MATERIAL_FILTERS`), any other as a summary (:data:`SUMMARY_FILTERS`).
    """
    names = tuple(columns.split())
    filters = MATERIAL_FILTERS if "material_id" in names else SUMMARY_FILTERS
    return QuerySpec(collection, names, dict(filters), tuple(sort.split()), tuple(omit.split()))


QUERIES: dict[str, QuerySpec] = {
    "softening": query_spec(
        "softening",
        "material_id formula model reference task state softening_scale softening_scale_ci95 "
        "force_mae force_cmae r2 energy_mae_per_atom relative_energy_mae_per_atom n_components "
        "n_configurations reason",
        sort="task model material_id",
    ),
    "summary": query_spec(
        "softening_summary",
        "task model reference n_materials n_successful n_failed n_flagged median_softening_scale "
        "fraction_softened mean_force_mae mean_force_cmae",
        sort="task model",
    ),
    "phonons": query_spec(
        "phonons",
        "material_id formula model mode state max_freq_ratio dft_max_freq_thz "
        "model_max_freq_thz mean_freq_ratio freq_mae_thz band_mae_thz dft_heat_capacity "
        "model_heat_capacity dft_min_freq_thz model_min_freq_thz model_imaginary "
        "softening_scale reason",
        sort="mode model material_id",
    ),
    "phonon-summary": query_spec(
        "phonon_summary",
        "mode model reference n_materials n_successful n_failed n_unusable fraction_softened "
        "median_max_freq_ratio median_mean_freq_ratio mean_freq_mae_thz n_model_imaginary "
        "n_dft_imaginary",
        sort="mode model",
    ),
    "elastic": query_spec(
        "elastic",
        "material_id formula model state k_vrh_gpa dft_k_vrh_gpa k_ratio g_vrh_gpa "
        "dft_g_vrh_gpa g_ratio elastic_softening mechanically_stable relaxation_converged reason",
        sort="model material_id",
    ),
    "elastic-summary": query_spec(
        "elastic_summary",
        "model reference n_materials n_used n_failed n_unstable n_unconverged median_k_ratio "
        "median_g_ratio fraction_k_softened fraction_g_softened median_elastic_softening "
        "fraction_softened k_mae_gpa g_mae_gpa",
        sort="model reference",
    ),
    "migration": query_spec(
        "migration",
        "material_id hop_id working_ion model reference state barrier_ev dft_barrier_ev "
        "barrier_difference_ev asymmetry_ev dft_asymmetry_ev hop_distance_ang n_images paired "
        "relaxations_converged reason",
        sort="model material_id hop_id",
    ),
    "migration-summary": query_spec(
        "migration_summary",
        "model reference n_materials n_successful n_failed n_paired mae_ev "
        "mean_signed_difference_ev fraction_underpredicted mean_barrier_ev mean_dft_barrier_ev",
        sort="model reference",
    ),
    "defects": query_spec(
        "defects",
        "material_id formula label kind model state model_value dft_value error unit "
        "model_converged dft_converged reason",
        sort="model material_id label",
    ),
    "defects-summary": query_spec(
        "defects_summary",
        "model reference n_materials n_labels n_used n_flagged n_unpaired n_failed mae "
        "mean_signed_error fraction_underpredicted model_mean unit",
        sort="model reference",
    ),
    "solid-solution": query_spec(
        "solid_solution",
        "material_id label x model state model_value dft_value error unit model_converged "
        "dft_converged reason",
        sort="model material_id x label",
    ),
    "solid-solution-summary": query_spec(
        "solid_solution_summary",
        "model reference n_labels n_used n_flagged n_unpaired n_failed mae mean_signed_error "
        "fraction_underpredicted model_mean unit",
        sort="model reference",
    ),
    "amplitude": query_spec(
        "amplitude",
        "material_id formula model reference state amplitude_angstrom softening_scale "
        "softening_scale_ci95 force_mae residual_ratio roughness reason",
        sort="model material_id amplitude_angstrom",
    ),
    "amplitude-curves": query_spec(
        "amplitude_curves",
        "material_id formula model state roughness rough residual_force_rms n_atoms "
        "n_patterns warnings reason",
        sort="model material_id",
    ),
    "amplitude-summary": query_spec(
        "amplitude_summary",
        "model reference n_materials n_successful n_failed amplitudes_angstrom "
        "median_softening_scale median_roughness n_rough rough_materials",
        sort="model reference",
    ),
    "surfaces": query_spec(
        "surfaces",
        "material_id facet model reference state surface_energy_j_m2 dft_surface_energy_j_m2 "
        "error_j_m2 converged n_atoms reason",
        sort="model material_id facet",
    ),
    "surfaces-summary": query_spec(
        "surfaces_summary",
        "model reference n_materials n_surfaces n_paired n_flagged n_missing_reference n_failed "
        "mae_j_m2 mean_signed_error_j_m2 fraction_underpredicted median_ratio mean_model_j_m2",
        sort="model reference",
    ),
    "correction": query_spec(
        "correction",
        "material_id model correction method c n_labels n_test softening_scale_before "
        "softening_scale_after force_mae_before force_mae_after force_cmae_before "
        "force_cmae_after warnings",
        sort="model correction material_id",
        omit="parity",
    ),
}


def register_query(name: str, spec: QuerySpec) -> None:
    """Make a task's analysis collection available to ``softbench query <name>``."""
    QUERIES[name] = spec


def fetch(stores: SoftbenchStores, what: str, **filters: Any) -> list[dict[str, Any]]:
    """Documents of one queryable collection, filtered (comma lists allowed) and sorted."""
    spec = QUERIES[what]
    criteria: dict[str, Any] = {}
    for option, value in filters.items():
        if value is None:
            continue
        field = spec.filters[option]
        values = [v for v in str(value).split(",") if v]
        criteria[field] = values[0] if len(values) == 1 else {"$in": values}
    docs = list(stores.collection(spec.collection).query(criteria))
    for doc in docs:
        for name in ("_id", *spec.omit):
            doc.pop(name, None)
    return sorted(docs, key=lambda d: tuple(str(d.get(k, "")) for k in spec.sort))


def render(docs: Sequence[dict[str, Any]], what: str, fmt: str = "table") -> str:
    """Format documents as an aligned table, JSON (full documents) or CSV."""
    if fmt == "json":
        return json.dumps([_jsonable(d) for d in docs], indent=1)
    return table(docs, QUERIES[what].columns, fmt)


def table(docs: Sequence[dict[str, Any]], columns: Sequence[str], fmt: str = "table") -> str:
    """Documents as an aligned table (empty columns dropped) or CSV of ``columns``."""
    columns = list(columns)
    rows = [[_cell(d.get(c)) for c in columns] for d in docs]
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(columns)
        writer.writerows(rows)
        return buf.getvalue()
    if fmt != "table":
        raise ValueError(f"unknown format {fmt!r}: table, json or csv")
    header, body = _visible(columns, rows)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body, strict=False)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(x).ljust(w) for x, w in zip(r, widths, strict=True)) for r in body]
    return "\n".join(lines)


def table_cells(docs: Sequence[dict[str, Any]], what: str) -> tuple[list[str], list[list[str]]]:
    """Header and formatted cells of the table view: columns empty in every row left out."""
    columns = list(QUERIES[what].columns)
    return _visible(columns, [[_cell(d.get(c)) for c in columns] for d in docs])


def _visible(columns: list[str], rows: list[list[str]]) -> tuple[list[str], list[list[str]]]:
    keep = [i for i, _ in enumerate(columns) if any(r[i] for r in rows)]
    return [columns[i] for i in keep], [[r[i] for i in keep] for r in rows]


def jsonable(docs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Documents as plain JSON values (datetimes and enums as strings; NaN and inf as None)."""
    return [_finite(_jsonable(d)) for d in docs]


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, list | tuple):
        if not value:
            return ""
        return "[" + ", ".join(_cell(v) for v in value) + "]"
    return str(value)


def _jsonable(doc: dict[str, Any]) -> dict[str, Any]:
    from monty.json import jsanitize

    return jsanitize(doc, strict=False, enum_values=True)
