"""Scale-out settings: the workers' thread variables, and SLURM jobs through dask-jobqueue (no sbatch here:
the generated job script is checked as text)."""

from __future__ import annotations

import sys

import pytest
import yaml

from generator.simulate import THREAD_ENV, connect, slurm_cluster, thread_problems
from tomobench.dataset import DatasetParams, SlurmParams
from tomobench.errors import InputError


def test_thread_problems_name_each_worker_and_variable():
    good = dict(THREAD_ENV)
    assert thread_problems({"tcp://a:1": good, "tcp://b:2": good}) == []
    bad = {**good, "OMP_NUM_THREADS": "8"}
    unset = {k: v for k, v in good.items() if k != "MKL_NUM_THREADS"}
    assert thread_problems({"tcp://b:2": bad, "tcp://a:1": unset}) == \
        ["tcp://a:1: MKL_NUM_THREADS=None", "tcp://b:2: OMP_NUM_THREADS=8"]


def test_slurm_params_are_validated_at_the_edge():
    assert DatasetParams().slurm is None
    params = DatasetParams(slurm={"jobs": 50, "queue": "cpu", "walltime": "1-12:00:00"})
    assert params.slurm.jobs == 50 and params.slurm.memory == "8GB"
    for bad in ({"walltime": "2h"}, {"memory": "lots"}, {"jobs": 0}, {"cores": 4}):
        with pytest.raises(ValueError):
            SlurmParams(**bad)
    with pytest.raises(InputError, match="give one of"):
        connect(workers=2, slurm=SlurmParams())


def _directives(script: str) -> list[str]:
    return [line.removeprefix("#SBATCH ").strip() for line in script.splitlines() if line.startswith("#SBATCH")]


def test_the_slurm_job_script_holds_the_documented_configuration():
    params = SlurmParams(jobs=3, queue="cpu", account="cryoet", memory="8GB", walltime="02:00:00",
                         job_extra_directives=["--gres=gpu:1"], python="/opt/tomobench/bin/python")
    cluster = slurm_cluster(params)
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    directives = _directives(script)
    for wanted in ("-J tomobench-simulate", "-p cpu", "-A cryoet", "-n 1", "--cpus-per-task=1", "--mem=8G",
                   "-t 02:00:00", "--gres=gpu:1"):
        assert wanted in directives, (wanted, directives)
    lines = script.splitlines()
    worker = next(i for i, line in enumerate(lines) if line.startswith("/opt/tomobench/bin/python -m distributed"))
    assert "--nthreads 1" in lines[worker] and "--nanny" in lines[worker]   # the nanny sets the thread env too
    assert lines[worker].split()[3].startswith("tcp://")                 # the scheduler this process started
    for key, value in THREAD_ENV.items():                                # exported before the worker's python starts
        assert lines.index(f"export {key}={value}") < worker


def test_simulate_prints_the_job_script_of_the_params_and_submits_nothing(tmp_path, capsys, monkeypatch):
    from tomobench.cli import main

    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"dataset": {"n_tomos": 3, "n_test": 1,
                                                  "slurm": {"jobs": 2, "queue": "gpu", "walltime": "00:30:00"}}}))
    monkeypatch.chdir(tmp_path)
    assert main(["simulate", "--params", str(params), "--out", str(tmp_path / "out"), "--slurm-script"]) == 0
    script = capsys.readouterr().out
    assert {"-p gpu", "-t 00:30:00"} <= set(_directives(script)) and f"{sys.executable} -m distributed" in script
    assert not (tmp_path / "out").exists()
    params.write_text(yaml.safe_dump({"dataset": {"n_tomos": 3, "n_test": 1, "slurm": {"walltime": "2h"}}}))
    assert main(["simulate", "--params", str(params), "--out", str(tmp_path / "out"), "--slurm-script"]) == 2
    assert "dataset.slurm.walltime" in capsys.readouterr().err
