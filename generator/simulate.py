"""Simulate tomograms: structure library -> scene -> imaging -> one folder per tomogram.

One tomogram (:func:`simulate_tomogram`) is a pure function of the library, the
scene and imaging parameters, the dataset seed and the tomogram's index: its
random stream is ``SeedSequence([seed, index])``, spawned into one child for the
scene and one for the imaging (so a change of imaging parameters keeps the
sample). Many tomograms (:func:`simulate_many`) run serially or as tasks of a
Dask cluster (a local one with ``workers``, or an existing ``scheduler``); both
give byte-identical files.
"""

from __future__ import annotations

import os
import shutil
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from tomobench.classes import write_classes
from tomobench.dataset import DatasetParams, tomo_name
from tomobench.errors import InputError
from tomobench.presets import load_preset, validate_section

# Single-threaded maths in every worker process: parallelism comes from tasks, and
# results must not depend on how many BLAS/FFT threads a process happens to have.
# One tomogram = one thread: byte-identical results whatever the machine, and the fastest way to use
# N cores is N tomograms at once (--workers N).
THREADS_PER_TOMOGRAM = 1
THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _parts():
    """The generator's three parts (imported on use: each is its own package)."""
    from generator.imaging import ImagingParams, image_sample, write_imaging
    from generator.scene import build_scene, write_ground_truth
    from generator.scene.params import SceneParams
    return dict(ImagingParams=ImagingParams, image_sample=image_sample, write_imaging=write_imaging,
                build_scene=build_scene, write_ground_truth=write_ground_truth, SceneParams=SceneParams)


def _structure_params_model():
    from generator.structures.params import StructureParams
    return StructureParams


@dataclass
class SimulationConfig:
    """The validated sections of params.yaml that the generator reads."""

    dataset: DatasetParams
    structures: Any   # generator.structures.params.StructureParams
    scene: Any        # generator.scene.params.SceneParams
    imaging: Any      # generator.imaging.ImagingParams


def load_config(preset: str = "default", params_file: str | Path | None = None, *,
                overrides: dict[str, dict[str, Any]] | None = None) -> SimulationConfig:
    """Read, merge and validate the generator's sections; ``overrides`` = {section: {key: value}}."""
    from tomobench.presets import deep_merge

    doc, sources = load_preset(preset, params_file)
    if overrides:
        doc = deep_merge(doc, {s: {k: v for k, v in kv.items() if v is not None} for s, kv in overrides.items()})
        if overrides.get("dataset", {}).get("n_tomos") is not None:
            doc["dataset"].pop("tomograms", None)  # the list for dvc.yaml follows params.yaml's n_tomos
            n = int(doc["dataset"]["n_tomos"]) if str(doc["dataset"]["n_tomos"]).isdigit() else None
            if n is not None and int(doc["dataset"].get("n_test", 1)) >= n:
                doc["dataset"]["n_test"] = max(n - 1, 0)  # the split matters only when packaging
    parts = _parts()
    dataset = validate_section(DatasetParams, doc, "dataset", sources)
    return SimulationConfig(
        dataset=dataset,
        structures=validate_section(_structure_params_model(), doc, "structures", sources),
        scene=validate_section(parts["SceneParams"], doc, "scene", sources),
        imaging=validate_section(parts["ImagingParams"], doc, "imaging", sources))


def tomo_streams(seed: int, index: int) -> tuple[np.random.Generator, np.random.Generator]:
    """(scene rng, imaging rng) of tomogram ``index``: children of ``SeedSequence([seed, index])``."""
    scene_ss, imaging_ss = np.random.SeedSequence([seed, index]).spawn(2)
    return np.random.default_rng(scene_ss), np.random.default_rng(imaging_ss)


def simulate_tomogram(library, scene_params, imaging_params, seed: int, index: int, out_dir: str | Path) -> Path:
    """Simulate tomogram ``index`` into ``out_dir/tomo_<index>/`` (written to a temporary folder, then renamed)."""
    parts = _parts()
    out_dir = Path(out_dir)
    final = out_dir / tomo_name(index)
    tmp = out_dir / f".{tomo_name(index)}.partial"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    scene_rng, imaging_rng = tomo_streams(seed, index)
    with fixed_threads(THREADS_PER_TOMOGRAM):
        scene = parts["build_scene"](library, scene_params, scene_rng)
        parts["write_ground_truth"](scene, tmp)
        result = parts["image_sample"](scene.grandmodel, scene.voxel_size_a, imaging_params, imaging_rng)
        parts["write_imaging"](result, tmp)
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    return final


@contextmanager
def fixed_threads(n: int):
    """Run torch with ``n`` CPU threads (a context manager).

    Torch's parallel reductions (and thus the last bits of the results) depend on the
    thread count, so a tomogram is always computed with the same count.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def thread_environment() -> dict[str, str | None]:
    """The current process's values of the thread variables of :data:`THREAD_ENV` (None = unset)."""
    return {key: os.environ.get(key) for key in THREAD_ENV}


def thread_problems(environments: dict[str, dict[str, str | None]]) -> list[str]:
    """``worker: VAR=value`` for every worker whose thread variables differ from :data:`THREAD_ENV`.

    BLAS and OpenMP read these variables once, when numpy or torch is first
    imported, so they must hold in a worker's environment before Python starts
    (Dask's nanny sets them so by default: ``distributed.nanny.pre-spawn-environ``);
    setting them inside a task would come too late.
    """
    return [f"{worker}: {key}={env.get(key)}" for worker, env in sorted(environments.items())
            for key, wanted in THREAD_ENV.items() if env.get(key) != wanted]


def _thread_advice(problems: list[str]) -> str:
    wanted = " ".join(f"{k}={v}" for k, v in THREAD_ENV.items())
    return (f"Dask worker(s) run with other thread settings ({'; '.join(problems)}): results would depend on "
            f"the thread count. Start the workers with `dask worker ADDRESS --nthreads 1` (its nanny sets "
            f"{wanted} before Python starts) and do not override these variables, or export {wanted} first")


def _task(library, scene_params, imaging_params, seed, index, out_dir) -> str:
    problems = thread_problems({"this worker": thread_environment()})
    if problems:        # a worker that joined after the check in connect() (e.g. a SLURM job)
        raise InputError(_thread_advice(problems))
    return str(simulate_tomogram(library, scene_params, imaging_params, seed, index, out_dir))


def check_worker_threads(client) -> None:
    """Stop before any work when a worker of ``client``'s cluster has other thread settings."""
    problems = thread_problems(client.run(thread_environment))
    if problems:
        raise InputError(_thread_advice(problems))


def slurm_cluster(params):
    """A dask-jobqueue ``SLURMCluster`` of single-core, single-thread worker jobs (not yet scaled).

    ``params`` is :class:`tomobench.dataset.SlurmParams`. The job script exports
    :data:`THREAD_ENV` before the worker's Python starts. Nothing is submitted
    until ``cluster.scale(jobs=...)``; ``cluster.job_script()`` shows the script.
    """
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError:
        raise InputError('SLURM needs dask-jobqueue: pip install "tomobench[slurm]"') from None
    return SLURMCluster(
        cores=THREADS_PER_TOMOGRAM, processes=1, memory=params.memory, walltime=params.walltime,
        queue=params.queue, account=params.account, job_name="tomobench-simulate",
        job_extra_directives=list(params.job_extra_directives),
        job_script_prologue=[f"export {key}={value}" for key, value in THREAD_ENV.items()],
        python=params.python or sys.executable, local_directory=params.local_directory,
        scheduler_options={"dashboard_address": ":0"})   # any free port: several clusters per machine


def connect(workers: int = 0, scheduler: str | None = None, timeout_s: float = 5.0, *, slurm=None):
    """A Dask client to run the tomograms on; None = serial.

    A local cluster of ``workers`` processes, the one at ``scheduler``, or SLURM jobs
    (``slurm``: :class:`tomobench.dataset.SlurmParams`); give one at most.
    """
    if sum(bool(x) for x in (workers, scheduler, slurm)) > 1:
        raise InputError("give one of --workers (a local Dask cluster), --scheduler (an existing one) "
                         "or --slurm (SLURM jobs)")
    if not workers and not scheduler and not slurm:
        return None
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout=timeout_s)
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError(f"cannot reach the Dask scheduler at {scheduler!r} ({exc}); start one with "
                             f"`dask scheduler` or use --workers N for a local cluster") from None
        try:
            check_worker_threads(client)
        except InputError:
            client.close()
            raise
        return client
    if slurm:
        cluster = slurm_cluster(slurm)
        cluster.scale(jobs=slurm.jobs)
        return Client(cluster)
    import logging

    # env: set by each worker's nanny before the worker process starts, i.e. before numpy/torch load
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                           env=THREAD_ENV, silence_logs=logging.ERROR)
    return Client(cluster)


def simulate_many(library, config: SimulationConfig, indices: list[int], out_dir: str | Path, *,
                  client=None, progress: bool = True) -> list[Path]:
    """Simulate the tomograms ``indices`` into ``out_dir`` (serially, or on ``client``'s Dask cluster)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    seed, scene_p, imaging_p = config.dataset.seed, config.scene, config.imaging
    if not progress:  # --no-progress silences the imaging bars too (they do not change the outputs)
        imaging_p = imaging_p.model_copy(update={"progress": False})
    bar = tqdm(total=len(indices), desc="simulate", unit="tomo", file=sys.stderr, disable=not progress)
    done: list[Path] = []
    try:
        if client is None:
            for index in indices:
                done.append(simulate_tomogram(library, scene_p, imaging_p, seed, index, out_dir))
                bar.update()
        else:
            from distributed import as_completed

            lib = client.scatter(library, broadcast=True)
            futures = [client.submit(_task, lib, scene_p, imaging_p, seed, i, str(out_dir.resolve()),
                                     key=f"simulate-{tomo_name(i)}-{seed}", pure=False) for i in indices]
            for future in as_completed(futures):
                done.append(Path(future.result()))
                bar.update()
    finally:
        bar.close()
    return sorted(done)


def write_dataset_classes(out_dir: str | Path, first_tomo: Path, library) -> Path:
    """``out_dir/classes.csv``: the tomograms' class table (the scene's, with non-particle classes)."""
    src = Path(first_tomo) / "classes.csv"
    dst = Path(out_dir) / "classes.csv"
    if src.is_file():
        shutil.copyfile(src, dst)
        return dst
    return write_classes(library.classes, dst)
