"""``softbench serve``: the read-only HTTP API over the results (:mod:`softbench.api`)."""

from __future__ import annotations

import argparse
import socket
import sys

from softbench.cli.argtypes import non_negative_int, one_line_errors
from softbench.cli.common import add_store_option, open_cli_stores

INSTALL_HINT = "pip install 'softbench[api]'"


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand."""
    parser = sub.add_parser(
        "serve", help="serve the results read-only over HTTP (JSON, OpenAPI at /openapi.json)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=non_negative_int, default=8000, help="port (default 8000; 0: any free)"
    )
    add_store_option(parser)
    one_line_errors(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Open the store (never creating one), bind, then serve until interrupted."""
    try:
        import uvicorn

        from softbench.api import make_app
    except ImportError as exc:
        print(f"softbench: error: serve needs {exc.name} ({INSTALL_HINT})", file=sys.stderr)
        return 2
    if args.port > 65535:
        print(f"softbench: error: --port {args.port} is not a TCP port", file=sys.stderr)
        return 2
    stores = open_cli_stores(args, create=False)
    try:
        listener = socket.create_server((args.host, args.port))
    except OSError as exc:
        print(
            f"softbench: error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 2
    host, port = listener.getsockname()[:2]
    print(
        f"softbench: serving {stores.spec} read-only on http://{host}:{port} "
        "(OpenAPI: /openapi.json; Ctrl-C stops)",
        file=sys.stderr,
        flush=True,
    )
    server = uvicorn.Server(uvicorn.Config(make_app(stores), log_level="warning"))
    server.run(sockets=[listener])
    return 0
