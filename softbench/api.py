"""Read-only HTTP API over the analysis collections: ``softbench serve`` (FastAPI).

One ``GET /<name>`` endpoint per entry of :data:`softbench.query.QUERIES` (``/softening``,
``/summary``, ``/phonons``, ``/elastic``, ``/correction``, ...), so a task that registers
a query gets an endpoint. Each takes the filters of its query (``task``, ``model``,
``material``, ``reference``; comma lists allowed, as in ``softbench query``) and
``limit`` / ``skip``, and answers ``{"data": [documents], "meta": {...}}`` in the
order of ``softbench query``. ``/openapi.json`` is FastAPI's OpenAPI spec, ``/`` lists
the endpoints. A malformed or unknown parameter is answered with HTTP 422 and the
reason; a store that cannot be read (server gone, lock timeout) with 503 and the reason.

maggma's own API framework (``maggma.api``, deprecated in favour of emmet-api) is not
used: its search endpoint runs ``aggregate`` on the raw collection, which the embedded
MontyDB store does not implement, and it would bypass the store's inter-process lock.
"""

from __future__ import annotations

import inspect
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

    from softbench.query import QuerySpec
    from softbench.stores import SoftbenchStores

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
PAGING = ("limit", "skip")
FILTER_HELP = {
    "task": "benchmark task, e.g. forces, phonons-fixed, elastic",
    "model": "model registry name, e.g. chgnet-0.3.0",
    "material": "material id, e.g. mp-1519",
    "reference": "reference label, e.g. phonopy:phonons-pbe",
}


def make_app(stores: SoftbenchStores) -> FastAPI:
    """The FastAPI application serving ``stores`` read-only."""
    from fastapi import FastAPI

    from softbench import __version__
    from softbench.query import QUERIES

    app = FastAPI(
        title="softbench results",
        version=__version__,
        description="Read-only access to softbench analysis documents (PES softening "
        "of universal ML interatomic potentials against DFT).",
    )
    lock = threading.Lock()  # one store query at a time: store connections are shared
    for name, spec in QUERIES.items():
        app.add_api_route(
            f"/{name}",
            _endpoint(stores, name, spec, lock),
            methods=["GET"],
            summary=f"{name} documents ({spec.collection} collection)",
            tags=["summaries" if "material_id" not in spec.columns else "per material"],
        )

    def index() -> dict[str, Any]:
        """The endpoints and their filters."""
        return {
            "store": stores.spec,
            "endpoints": {
                f"/{name}": {"filters": sorted(spec.filters), "columns": list(spec.columns)}
                for name, spec in QUERIES.items()
            },
            "openapi": "/openapi.json",
        }

    app.add_api_route("/", index, methods=["GET"], summary="list the endpoints")
    return app


def _endpoint(stores: SoftbenchStores, name: str, spec: QuerySpec, lock: threading.Lock) -> Any:
    """``GET /<name>``: a function whose signature FastAPI turns into query parameters."""
    from fastapi import HTTPException, Query, Request
    from pymongo.errors import PyMongoError

    from softbench.query import fetch, jsonable
    from softbench.stores import StoreConfigError

    allowed = set(spec.filters) | set(PAGING)

    def search(request: Request, **params: Any) -> dict[str, Any]:
        unknown = sorted(set(request.query_params) - allowed)
        if unknown:
            raise HTTPException(
                422,
                f"unknown query parameter(s) {', '.join(unknown)} for /{name}: "
                f"allowed are {', '.join(sorted(allowed))}",
            )
        limit, skip = params.pop("limit"), params.pop("skip")
        for option, value in params.items():
            if value is not None and not [v for v in value.split(",") if v.strip()]:
                raise HTTPException(422, f"query parameter {option} is empty")
        try:
            with lock:
                docs = fetch(stores, name, **params)
        except (StoreConfigError, PyMongoError) as exc:  # server gone, lock timeout, ...
            raise HTTPException(503, f"store unavailable: {exc}") from None
        page = docs[skip : skip + limit]
        meta = {"query": name, "total": len(docs), "skip": skip, "limit": limit}
        return {"data": jsonable(page), "meta": {**meta, "returned": len(page)}}

    keyword = inspect.Parameter.KEYWORD_ONLY
    positional = inspect.Parameter.POSITIONAL_OR_KEYWORD
    parameters = [inspect.Parameter("request", positional, annotation=Request)]
    parameters += [
        inspect.Parameter(
            option,
            keyword,
            default=Query(None, description=f"{FILTER_HELP.get(option, option)}; comma list"),
            annotation=str | None,
        )
        for option in spec.filters
    ]
    parameters += [
        inspect.Parameter(
            "limit",
            keyword,
            default=Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="page size"),
            annotation=int,
        ),
        inspect.Parameter(
            "skip", keyword, default=Query(0, ge=0, description="documents to skip"), annotation=int
        ),
    ]
    search.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    search.__name__ = f"get_{name.replace('-', '_')}"
    search.__doc__ = f"``{name}`` documents, filtered by {', '.join(spec.filters)}, paginated."
    return search
