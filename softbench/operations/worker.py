"""A FireWorks rocket launcher whose jobs write to the softbench store."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

ENVIRONMENTS = ("default", "mace")


def make_fworker(environment: str | None, fworker_file: str | None = None) -> Any:
    """An FWorker that pulls the fireworks of one environment (``_category``).

    ``fworker_file`` (FireWorks' ``my_fworker.yaml``) gives name, query and env;
    ``environment`` overrides its category.
    """
    from fireworks.core.fworker import FWorker

    from softbench.stores import StoreConfigError

    if fworker_file:
        try:
            fworker = FWorker.from_file(fworker_file)
        except Exception as exc:
            raise StoreConfigError(f"fworker file {fworker_file}: {exc}") from None
    else:
        fworker = FWorker(name=f"softbench-{environment or 'default'}@{socket.gethostname()}")
    if environment or not fworker.category:
        fworker.category = environment or "default"
    return fworker


def run_worker(
    lp: Any,
    stores: Any,
    fworker: Any,
    rapidfire: bool = True,
    work_dir: str | Path = ".",
    nlaunches: int = 0,
    timeout: int | None = None,
    poll: int | None = None,
) -> int:
    """Launch rockets with jobflow's JOB_STORE set to ``stores.jobs``; return rockets run.

    ``rapidfire``: until no firework of the worker's category is ready or about to
    be (or ``nlaunches``, or ``timeout`` seconds); with ``poll``, look again every
    ``poll`` seconds instead of stopping (fireworks that wait for another
    environment's worker). Otherwise one rocket in ``work_dir``.
    """
    import jobflow
    from fireworks.core.rocket_launcher import launch_rocket
    from fireworks.core.rocket_launcher import rapidfire as fw_rapidfire

    from softbench.run import _log_jobs_to_stderr

    jobflow.SETTINGS.JOB_STORE = stores.jobs  # JobFiretask's store when the workflow has none
    _log_jobs_to_stderr()
    work = Path(work_dir).expanduser().resolve()
    work.mkdir(parents=True, exist_ok=True)
    before = _launch_count(lp, fworker.name)
    cwd = Path.cwd()
    try:
        if rapidfire:
            fw_rapidfire(
                lp,
                fworker,
                m_dir=str(work),
                nlaunches=nlaunches or (-1 if poll else 0),  # -1: FireWorks' "infinite"
                sleep_time=poll,
                timeout=timeout,
                strm_lvl="INFO",
            )
        else:
            os.chdir(work)
            launch_rocket(lp, fworker, strm_lvl="INFO")
    finally:
        os.chdir(cwd)
    return _launch_count(lp, fworker.name) - before


def _launch_count(lp: Any, name: str) -> int:
    from softbench.operations.status import snapshot

    with snapshot(lp):
        return int(lp.launches.count_documents({"fworker.name": name}))
