"""``softbench worker``: run submitted fireworks of one environment here.

FireWorks' rocket launcher with an FWorker of category ``--environment`` and
jobflow's JOB_STORE set to ``--store``, the store ``softbench query`` reads.
A mace worker runs from ``.venv`` with ``SOFTBENCH_ENV_MACE=.venv-mace/bin/python``
(model jobs then evaluate there), or from a ``.venv-mace`` with the fireworks extra.
On a cluster it is the ``rocket_launch`` command of a FireWorks queue adapter
(``qlaunch``; see examples/fireworks/).
"""

from __future__ import annotations

import argparse
import sys

from softbench.cli.argtypes import non_negative_int, one_line_errors, positive_int
from softbench.cli.common import add_store_option, open_cli_stores
from softbench.cli.submit import add_launchpad_option


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand."""
    from softbench.operations.worker import ENVIRONMENTS

    parser = sub.add_parser(
        "worker",
        help="run submitted fireworks of one environment (FireWorks rocket launcher)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--environment",
        choices=ENVIRONMENTS,
        default=None,
        help="category of fireworks to run (default: the --fworker file's, else default)",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="run one firework, then stop")
    mode.add_argument(
        "--rapidfire",
        action="store_true",
        help="run fireworks until none of this environment is ready (default)",
    )
    parser.add_argument(
        "--nlaunches",
        type=non_negative_int,
        default=0,
        help="rapidfire: stop after N fireworks (0: until none is ready)",
    )
    parser.add_argument(
        "--timeout",
        type=positive_int,
        default=None,
        help="rapidfire: take no new firework after N seconds",
    )
    parser.add_argument(
        "--poll",
        type=positive_int,
        default=None,
        metavar="SECONDS",
        help="rapidfire: when nothing is ready, look again every SECONDS instead of "
        "stopping (until --timeout or Ctrl-C); for fireworks that wait on other workers",
    )
    parser.add_argument(
        "--fworker", default=None, help="FireWorks fworker yaml (name, query, env; optional)"
    )
    parser.add_argument(
        "--work-dir", default=".", help="folder for the launch directories (default: here)"
    )
    add_launchpad_option(parser)
    add_store_option(parser)
    one_line_errors(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Launch rockets; report how many ran."""
    from softbench.launchpad import describe, open_launchpad
    from softbench.operations.worker import make_fworker, run_worker

    stores = open_cli_stores(args)
    lp = open_launchpad(args.launchpad, stores.spec)
    fworker = make_fworker(args.environment, args.fworker)
    print(
        f"softbench: worker {fworker.name} (category {fworker.category}) on {describe(lp)}, "
        f"writing to store {stores.spec}",
        file=sys.stderr,
    )
    ran = run_worker(
        lp,
        stores,
        fworker,
        rapidfire=not args.once,
        work_dir=args.work_dir,
        nlaunches=args.nlaunches,
        timeout=args.timeout,
        poll=args.poll,
    )
    print(f"softbench: worker ran {ran} firework(s); see `softbench status`", file=sys.stderr)
    return 0
