"""Evaluate structures for a model here: ``python -m softbench.models.worker IN OUT``.

Used when a model lives in another environment than the workflow (MACE).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from softbench.models.errors import (
    ModelError,
    ModelUnavailableError,
    UnsupportedElementsError,
)
from softbench.models.evaluate import decode_structure, encode_evaluation, evaluate_here
from softbench.models.registry import spec_from_dict


def main(argv: list[str] | None = None) -> int:
    """Read the request, evaluate, write the result (errors included)."""
    args = sys.argv[1:] if argv is None else argv
    inp, out = Path(args[0]), Path(args[1])
    request = json.loads(inp.read_text())
    spec = spec_from_dict(request["spec"])
    structures = [decode_structure(s) for s in request["structures"]]
    try:
        result = encode_evaluation(
            evaluate_here(
                spec,
                structures,
                request.get("device"),
                labels=request.get("labels"),
                description=request.get("description", ""),
                stress=request.get("stress", True),
            )
        )
    except UnsupportedElementsError as exc:
        result = {
            "error": str(exc),
            "error_type": "unsupported_elements",
            "elements": exc.elements,
            "where": exc.where,
        }
    except ModelUnavailableError as exc:
        result = {"error": str(exc), "error_type": "unavailable"}
    except ModelError as exc:
        result = {"error": str(exc), "error_type": "model"}
    out.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
