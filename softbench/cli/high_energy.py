"""``softbench run high-energy``: softening on MD-sampled high-energy states.

Per material: (VASP MPRelaxSet relaxation) -> NVT MD with a uMLIP -> frames, some
strained -> VASP MPStaticSet static per frame -> reference -> model force parity.
Runs locally with jobflow; VASP jobs need VASP (atomate2's ``VASP_CMD``) and
POTCARs (pymatgen's ``PMG_VASP_PSP_DIR``). ``--dft cp2k`` uses CP2K instead: a CP2K
relaxation of cell and ions (BFGS, fmax 0.01 eV/A, at most 50 steps), then one job per
material for all frames (``cp2k.psmp`` on PATH, MPI ranks from SOFTBENCH_CP2K_RANKS,
default 2). ``--no-relax`` starts the MD from the input structure; ``--no-dft`` samples
frames only.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

from softbench.cli.argtypes import non_negative_int, positive_float, positive_int
from softbench.cli.common import (
    TaskFlow,
    UsageError,
    add_materials,
    add_run_options,
    build,
    open_cli_stores,
    print_softening,
)

TASK = "high-energy"


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand."""
    parser = sub.add_parser(
        "high-energy",
        help="softening on MD-sampled high-energy states (DFT relax + uMLIP MD + DFT statics)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--structures",
        required=True,
        help="structure file (CIF, POSCAR, ...), folder of them, JSON list of "
        "{material_id, structure} records, or a data set name (wbm-equilibrium)",
    )
    add_materials(parser, sample=True)
    parser.add_argument(
        "--max-atoms",
        type=positive_int,
        default=None,
        help="--sample draws only from materials with at most this many atoms per cell "
        "(with --dft cp2k it also draws only from materials of vetted elements)",
    )
    parser.add_argument(
        "--md-seed",
        type=int,
        default=0,
        help="seed of the MD velocities and of the strained frames",
    )
    parser.add_argument("--md-model", default="chgnet-0.3.0", help="registry model driving MD")
    parser.add_argument(
        "--md-steps", type=positive_int, default=10000, help="MD steps (default 10000)"
    )
    parser.add_argument("--time-step", type=positive_float, default=2.0, help="MD time step, fs")
    parser.add_argument(
        "--temperature", type=positive_float, default=1000.0, help="NVT temperature, K"
    )
    parser.add_argument("--frames", type=positive_int, default=10, help="frames per material")
    parser.add_argument(
        "--strained", type=non_negative_int, default=4, help="frames strained (+/- half each)"
    )
    parser.add_argument("--strain", type=float, default=0.03, help="strain fraction (0.03 = 3%%)")
    parser.add_argument(
        "--equilibration", type=float, default=0.2, help="fraction of the MD not sampled"
    )
    parser.add_argument(
        "--no-relax",
        action="store_true",
        help="start MD from the input structure (no VASP or CP2K relaxation)",
    )
    parser.add_argument(
        "--no-dft",
        action="store_true",
        help="sample frames only (implies --no-relax): store them and write them to --frames-dir",
    )
    parser.add_argument(
        "--frames-dir",
        default="high-energy-frames",
        help="with --no-dft: folder for <material>/<frame>.vasp files and frames.json",
    )
    parser.add_argument(
        "--dft",
        choices=("vasp", "cp2k"),
        default="vasp",
        help="DFT code of the relaxation and statics: vasp (atomate2, MPRelaxSet and "
        "MPStaticSet; default) or cp2k (ASE calculator, vetted GTH/MOLOPT settings; relaxes "
        "cell and ions with CP2K unless --no-relax)",
    )
    parser.add_argument(
        "--label",
        default=None,
        help="reference label (default vasp:MPStaticSet; CP2K's comes from its settings)",
    )
    parser.add_argument(
        "--work-dir", default="softbench-runs", help="folder for the job directories (VASP runs)"
    )
    manager = parser.add_mutually_exclusive_group()
    manager.add_argument(
        "--run-local",
        action="store_true",
        default=True,
        help="run the flow here with jobflow (default; `softbench submit high-energy` "
        "submits it to FireWorks)",
    )
    manager.add_argument("--dry-run", action="store_true", help="print the plan, run nothing")
    add_run_options(
        parser, run, "re-evaluate models even where predictions exist", models="chgnet-0.3.0"
    )
    parser.set_defaults(plan=plan)


def vasp_problem() -> str | None:
    """Why VASP jobs cannot run here (no VASP executable or POTCARs), or None."""
    from atomate2 import SETTINGS as ATOMATE2
    from pymatgen.core import SETTINGS as PMG

    cmd = str(ATOMATE2.VASP_CMD)
    words = shlex.split(cmd) or [""]
    binaries = [w for w in words if "vasp" in Path(w).name.lower()] or words[:1]
    missing = [b for b in binaries if shutil.which(b) is None]
    if missing:
        return (
            f"VASP is not configured: atomate2's VASP_CMD is {cmd!r} and "
            f"{', '.join(missing)} is not found on PATH. Set VASP_CMD in ~/.atomate2.yaml "
            "(or ATOMATE2_VASP_CMD), or run with --no-dft to sample frames only"
        )
    psp = PMG.get("PMG_VASP_PSP_DIR")
    if not psp or not Path(str(psp)).expanduser().is_dir():
        return (
            "VASP POTCARs are not configured: set PMG_VASP_PSP_DIR in ~/.config/.pmgrc.yaml "
            "(pymatgen) to the POTCAR folder"
        )
    return None


def plan(args: argparse.Namespace) -> TaskFlow:
    """Plan the flow (reusing stored frames, references and predictions)."""
    from softbench.ingest.structures import read_structures
    from softbench.models import get_models
    from softbench.schemas.high_energy import HighEnergySampling

    models = get_models(args.models)
    dft = not args.no_dft
    cp2k = None
    if dft and args.dft == "cp2k":
        from softbench.makers.cp2k.settings import Cp2kSettings

        cp2k = Cp2kSettings()
        if args.label and args.label != cp2k.label():
            raise UsageError(
                f"--label {args.label} with --dft cp2k: the CP2K reference "
                f"label comes from its settings ({cp2k.label()})"
            )
    structures = read_structures(
        args.structures, args.materials, args.sample, args.seed, _eligible(args, dft)
    )
    try:
        sampling = HighEnergySampling(
            md_model=args.md_model,
            temperature=args.temperature,
            n_steps=args.md_steps,
            time_step=args.time_step,
            n_frames=args.frames,
            n_strained=args.strained,
            strain=args.strain,
            equilibration=args.equilibration,
            seed=args.md_seed,
            relax=dft and not args.no_relax,
            **({"relaxed_with": cp2k.label()} if cp2k else {}),
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    from softbench.workflows.high_energy import high_energy_flow, reusable, sampling_keys
    from softbench.workflows.reuse import existing_predictions

    label = cp2k.label() if cp2k else (args.label or "vasp:MPStaticSet")
    stores = open_cli_stores(args)
    refs, frames = reusable(stores.jobs, sampling_keys(structures, sampling), label)
    skip = (
        set() if args.rerun else existing_predictions(stores.jobs, refs, [m.name for m in models])
    )
    flow, flow_plan = high_energy_flow(
        structures,
        models if dft else [],
        sampling,
        dft=dft,
        label=label,
        existing_references=refs if dft else {},
        existing_frames=frames,
        skip=skip,
        device=args.device,
        cp2k=cp2k,
    )
    message = _plan_text(structures, sampling, flow_plan, dft, label, stores.spec)
    if cp2k is not None and flow_plan.counts.get("cp2k statics"):
        # run and submit alike; the relaxation counts where one is planned
        relaxed = set(flow_plan.new_md) if flow_plan.counts.get("cp2k relax") else set()
        _warn_cp2k_cost(structures, cp2k, sampling.n_frames, relaxed)

    def report() -> None:
        print_softening(stores, TASK, list(structures), [m.name for m in models], label)

    return TaskFlow(flow, stores, [TASK] if dft else [], message, report, flow_plan)


def run(args: argparse.Namespace) -> int:
    """Plan, check VASP, run, build and print the softening results."""
    try:
        task_flow = plan(args)
    except UsageError as exc:
        print(f"softbench: error: {exc}", file=sys.stderr)
        return 2
    flow, stores, flow_plan = task_flow.flow, task_flow.stores, task_flow.details
    print(task_flow.plan, file=sys.stderr)
    if args.dry_run:
        return 0
    problem = dft_problem(flow_plan)
    if problem:
        print(f"softbench: error: {problem}", file=sys.stderr)
        return 2
    if flow.jobs:
        from softbench.run import run_flow

        work = Path(args.work_dir).expanduser().resolve()
        work.mkdir(parents=True, exist_ok=True)
        run_flow(flow, stores, root_dir=work, create_folders=True)
    if args.no_dft:
        written = write_frames(stores, flow_plan.frames_uuid, Path(args.frames_dir))
        print(f"softbench: wrote {written} frame(s) to {args.frames_dir}", file=sys.stderr)
        return 0
    if args.no_build:
        return 0
    build(stores, task_flow.tasks)
    task_flow.report()
    return 0


def _warn_cp2k_cost(
    structures: dict[str, Any], settings: Any, n_frames: int, relaxed: set[str] | None = None
) -> None:
    """One warning line per material whose CP2K estimate exceeds an hour.

    Materials in ``relaxed`` get a CP2K relaxation first, which the estimate counts.
    """
    from softbench.makers.cp2k.runner import WARN_SECONDS, cp2k_ranks, estimated_seconds

    ranks = cp2k_ranks()
    relaxed = relaxed or set()
    for mid, structure in structures.items():
        seconds = estimated_seconds(structure, settings, n_frames, ranks, relax=mid in relaxed)
        if seconds > WARN_SECONDS:
            print(
                f"softbench: warning: {mid} ({len(structure)} atoms, "
                f"{settings.n_electrons(s.specie.symbol for s in structure)} valence electrons, "
                f"k-points {settings.kpoints(structure.lattice.matrix)}): CP2K needs roughly "
                f"{seconds / 3600:.1f} h on {ranks} rank(s) (SOFTBENCH_CP2K_RANKS); consider "
                "--max-atoms, fewer --frames or more ranks",
                file=sys.stderr,
            )


def _eligible(args: argparse.Namespace, dft: bool) -> Any:
    """What ``--sample`` may draw: small enough, and computable by CP2K when it is used."""
    vetted: set[str] = set()
    if dft and args.dft == "cp2k":
        from softbench.makers.cp2k.settings import VETTED_KINDS

        vetted = set(VETTED_KINDS)
    if not vetted and args.max_atoms is None:
        return None

    def eligible(structure: Any) -> bool:
        if args.max_atoms is not None and len(structure) > args.max_atoms:
            return False
        return not vetted or {e.symbol for e in structure.composition} <= vetted

    return eligible


def dft_problem(flow_plan: Any) -> str | None:
    """Why the planned CP2K or VASP jobs cannot run on this machine, or None."""
    if flow_plan.counts.get("cp2k statics") or flow_plan.counts.get("cp2k relax"):
        from softbench.makers.cp2k.runner import cp2k_problem

        problem = cp2k_problem()
        if problem:
            return problem
    if flow_plan.counts.get("dft static") or flow_plan.counts.get("relax"):
        return vasp_problem()
    return None


def _plan_text(
    structures: dict[str, Any], sampling: Any, plan: Any, dft: bool, label: str, store: str
) -> str:
    n = len(structures)
    jobs = ", ".join(f"{v} {k}" for k, v in plan.counts.items()) or "none"
    return (
        f"softbench: high-energy states for {n} material(s): "
        f"{', '.join(list(structures)[:8])}{' ...' if n > 8 else ''}\n"
        f"  sampling: {sampling.describe()}\n"
        f"  frames at MD steps {sampling.frame_steps()}\n"
        f"  reference: {label if dft else 'none (--no-dft: frames only)'}\n"
        f"  reused from the store: {len(plan.reused_references)} reference(s), "
        f"{len(plan.reused_frames)} frame set(s)\n"
        f"  jobs to run: {jobs}\n"
        f"  store: {store}"
    )


def write_frames(stores: Any, frames_uuid: dict[str, str], folder: Path) -> int:
    """Write stored frames as ``<folder>/<material>/<frame>.vasp`` plus ``frames.json``."""
    import json

    from softbench.builders.pairing import load_output
    from softbench.schemas.high_energy import HighEnergyFramesDocument

    written = 0
    for mid, uuid in frames_uuid.items():
        try:
            doc = HighEnergyFramesDocument.model_validate(load_output(stores.jobs, uuid))
        except KeyError:
            print(f"softbench: no frames for {mid} (MD or sampling failed)", file=sys.stderr)
            continue
        target = folder / mid
        target.mkdir(parents=True, exist_ok=True)
        meta = []
        for frame in doc.frames:
            frame.structure.to(
                filename=str(target / f"{frame.configuration_id}.vasp"), fmt="poscar"
            )
            meta.append(frame.model_dump(mode="json", exclude={"structure"}))
            written += 1
        info = {"material_id": mid, "sampling": doc.sampling.model_dump(), "frames": meta}
        (target / "frames.json").write_text(json.dumps(info, indent=1))
    return written
