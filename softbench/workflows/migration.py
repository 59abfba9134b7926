"""Migration flows: a reference job per hop, then one model ApproxNEB job per (hop, model).

The reference is ingested DFT data, a model-only hop definition, or computed by VASP
or CP2K (``dft``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from jobflow import Flow, Job, JobStore, OutputReference

from softbench.builders.pairing import newest
from softbench.makers.migration import HopReferenceMaker, ModelMigrationMaker
from softbench.models import ModelSpec, model_ref
from softbench.schemas.base import MIGRATION_PREDICTION, MIGRATION_REFERENCE, doc_type_query
from softbench.schemas.migration import TASK
from softbench.workflows.forces import route

#: a DFT reference maker: (hop record) -> (job or flow, the job whose output is the reference)
DftReference = Callable[[dict[str, Any]], tuple[Job | Flow, Job]]


def hop_name(record: dict[str, Any]) -> str:
    """``host#hop_id`` of a hop record."""
    return f"{record['host']}#{record['hop_id']}"


def migration_model_job(
    spec: ModelSpec,
    reference: OutputReference | dict[str, Any],
    reference_uuid: str | None,
    hop: str,
    device: str | None = None,
    options: dict[str, Any] | None = None,
) -> Job:
    """One model ApproxNEB job, named after hop and model, routed to the model's env."""
    maker = ModelMigrationMaker(
        name=f"{spec.name} migration {hop}", model=model_ref(spec), device=device, **(options or {})
    )
    return route(maker.make(reference, reference_uuid=reference_uuid), spec, TASK, hop)


def migration_flow(
    records: Sequence[dict[str, Any]],
    models: Sequence[ModelSpec],
    label: str,
    existing_references: dict[str, str] | None = None,
    skip: set[tuple[str, str]] | None = None,
    device: str | None = None,
    options: dict[str, Any] | None = None,
    dft: DftReference | None = None,
) -> Flow:
    """Per hop: the reference (reused, computed by ``dft``, or read), then the models.

    ``existing_references``: ``host#hop`` -> uuid of a stored reference to reuse;
    ``skip``: (``host#hop``, model) pairs already predicted on it.
    """
    existing_references, skip = existing_references or {}, skip or set()
    jobs: list[Job | Flow] = []
    for record in records:
        hop = hop_name(record)
        if hop in existing_references:
            ref_uuid = existing_references[hop]
            ref_output: Any = OutputReference(ref_uuid)
        elif dft is not None:
            work, last = dft(record)
            jobs.append(work)
            ref_uuid, ref_output = last.uuid, last.output
        else:
            ingest = HopReferenceMaker(name=f"migration reference {hop}", label=label).make(record)
            ingest.metadata.update({"softbench": {"task": TASK, "material_id": hop}})
            jobs.append(ingest)
            ref_uuid, ref_output = ingest.uuid, ingest.output
        for spec in models:
            if (hop, spec.name) not in skip:
                jobs.append(migration_model_job(spec, ref_output, ref_uuid, hop, device, options))
    return Flow(jobs, name="softbench migration")


def reusable_hop_references(
    jobs: JobStore, label: str, records: Sequence[dict[str, Any]]
) -> dict[str, str]:
    """``host#hop`` -> uuid of the newest stored reference made from the same data."""
    wanted = {hop_name(r): r.get("source_checksum") for r in records}
    docs = jobs.query(
        {
            "output.doc_type": doc_type_query(MIGRATION_REFERENCE),
            "output.reference": label,
            "output.material_id": {"$in": sorted({str(r["host"]) for r in records})},
        },
        properties=[
            "uuid",
            "output.material_id",
            "output.hop_id",
            "output.source_checksum",
            "output.created_at",
        ],
    )

    def key(doc: dict[str, Any]) -> str | None:
        out = doc["output"]
        hop = f"{out['material_id']}#{out.get('hop_id')}"
        return hop if hop in wanted and wanted[hop] == out.get("source_checksum") else None

    return {hop: doc["uuid"] for hop, doc in newest(docs, key).items()}


def existing_hop_predictions(
    jobs: JobStore, reference_uuids: dict[str, str], models: Sequence[str]
) -> set[tuple[str, str]]:
    """(``host#hop``, model) pairs with a successful prediction on the given references."""
    if not reference_uuids:
        return set()
    docs = jobs.query(
        {
            "output.doc_type": doc_type_query(MIGRATION_PREDICTION),
            "output.reference_uuid": {"$in": list(reference_uuids.values())},
            "output.model.name": {"$in": list(models)},
            "output.state": "successful",
        },
        properties=["output.material_id", "output.hop_id", "output.model.name"],
    )
    return {
        (f"{d['output']['material_id']}#{d['output']['hop_id']}", d["output"]["model"]["name"])
        for d in docs
    }
