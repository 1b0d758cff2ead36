"""The DVC pipeline for real: git + DVC in a temporary repository, the `tiny` preset.

One module-scoped repository runs `dvc repro package` once (structures, two
simulated tomograms, packaging); the tests then push to two local remotes,
clone and pull the public data only, check that nothing reruns, that a
parameter change reruns only what depends on it, that a serial and a
2-worker Dask simulation write identical files, and that the pipeline's
baselines reach the leaderboard (and a real browser) with no extra command.
A module-scoped release (`dvc repro` of the whole pipeline, then `tomobench
dataset release v0.1 --push`) serves the participant routes of README.md, run
as written from a path, a file:// URL and an HTTP remote, and two queued
experiments.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COPY = ["dvc.yaml", "params", "scripts/collect_results.py", "tomobench", "generator", "baselines", "scoring",
        "leaderboard", ".dvcignore"]
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)

pytestmark = pytest.mark.slow


def _env(repo: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(repo)
    env["GIT_AUTHOR_NAME"] = env["GIT_COMMITTER_NAME"] = "tomobench-test"
    env["GIT_AUTHOR_EMAIL"] = env["GIT_COMMITTER_EMAIL"] = "test@tomobench.org"
    env["DVC_NO_ANALYTICS"] = "1"
    return env


def sh(repo: Path, *argv: str, ok: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(list(argv), cwd=repo, env=_env(repo), capture_output=True, text=True)
    if ok and done.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def dvc(repo: Path, *argv: str, ok: bool = True) -> subprocess.CompletedProcess:
    return sh(repo, sys.executable, "-m", "dvc", *argv, ok=ok)


def tomobench(repo: Path, *argv: str, ok: bool = True) -> subprocess.CompletedProcess:
    return sh(repo, sys.executable, "-m", "tomobench", *argv, ok=ok)


def digests(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def remote_md5s(remote: Path) -> set[str]:
    """The md5 of every file object in a DVC 3 local remote (files/md5/ab/cdef...)."""
    return {p.parent.name + p.name for p in (remote / "files" / "md5").rglob("*")
            if p.is_file() and not p.name.endswith(".dir")}


def ran(done: subprocess.CompletedProcess) -> set[str]:
    """Stages `dvc repro` ran (it says "Running stage 'NAME':")."""
    text = done.stdout + done.stderr
    return {line.split("'")[1] for line in text.splitlines() if line.startswith("Running stage '")}


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("tomobench-dvc") / "tomobench"     # `git clone` makes ./tomobench
    repo.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for rel in COPY:
        src = ROOT / rel
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(src, repo / rel, ignore=ignore) if src.is_dir() else shutil.copyfile(src, repo / rel)
    shutil.copyfile(ROOT / ".gitignore", repo / ".gitignore")   # the real one: which data files git tracks
    sh(repo, "git", "init", "-q", "-b", "main")
    dvc(repo, "init", "-q")
    shutil.copyfile(ROOT / ".dvc" / "config", repo / ".dvc" / "config")
    tomobench(repo, "dataset", "preset", "tiny", "--write", "params.yaml", "--params", str(ROOT / "params.yaml"))
    for name in ("public", "private"):
        (repo / ".dvc-remotes" / name).mkdir(parents=True)
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-q", "-m", "tiny pipeline")
    done = dvc(repo, "repro", "package")
    assert {"structures", "simulate@tomo_000", "simulate@tomo_001", "package"} <= ran(done)
    sh(repo, "git", "add", "-A")                # dvc.lock (the outputs are git-ignored)
    sh(repo, "git", "commit", "-q", "-m", "dvc repro")
    return repo


def test_repro_is_complete_and_a_second_repro_does_nothing(repo):
    public, private = repo / "data" / "public", repo / "data" / "private"
    assert sorted(p.name for p in (public / "train").iterdir()) == ["tomo_000"]
    assert sorted(p.name for p in (public / "test" / "tomo_001").iterdir()) == \
        ["acquisition.json", "projections.mrc", "projections.rawtlt", "projections.tlt", "reconstruction.mrc",
         "tilt_angles.txt"]
    assert (private / "test" / "tomo_001" / "particle_locations.txt").is_file()
    assert (public / "README.md").read_text().startswith("# tomobench-tiny (version dev)")
    status = dvc(repo, "status", "package")
    assert "up to date" in status.stdout, status.stdout
    assert ran(dvc(repo, "repro", "package")) == set()


def test_public_remote_never_receives_the_test_truth_and_a_clone_pulls_public_only(repo, tmp_path):
    dvc(repo, "push", "package", "structures", "simulate")
    public_md5, private_md5 = remote_md5s(repo / ".dvc-remotes" / "public"), \
        remote_md5s(repo / ".dvc-remotes" / "private")
    pub_files = digests(repo / "data" / "public")
    hidden = {rel: h for rel, h in digests(repo / "data" / "private").items()
              if rel.endswith(("particle_locations.txt", "occupancy_mask.mrc", "class_mask.mrc"))}
    assert len(hidden) == 3
    assert set(pub_files.values()) <= public_md5          # every public file is in the public remote
    assert not set(hidden.values()) & public_md5          # no test truth in the public remote
    assert set(hidden.values()) <= private_md5            # it is in the private one

    clone = tmp_path / "participant"
    sh(tmp_path, "git", "clone", "-q", str(repo), str(clone))
    # a participant can read the public remote only: the private one points nowhere
    dvc(clone, "remote", "modify", "--local", "public", "url", str(repo / ".dvc-remotes" / "public"))
    dvc(clone, "remote", "modify", "--local", "private", "url", str(tmp_path / "no-access"))
    dvc(clone, "pull", "data/public")
    assert digests(clone / "data" / "public") == pub_files
    assert not (clone / "data" / "private").exists()
    assert {p.parent.name for p in clone.rglob("particle_locations.txt")} == {"tomo_000"}  # train only
    failed = dvc(clone, "pull", "data/private", ok=False)
    assert failed.returncode != 0 and "data/private" in failed.stdout + failed.stderr


def test_a_parameter_change_reruns_only_what_depends_on_it(repo):
    params = repo / "params.yaml"
    original = params.read_text()
    try:
        doc = yaml.safe_load(original)
        doc["imaging"]["acquisition"]["tilt_step_deg"] = 30.0
        params.write_text(yaml.safe_dump(doc, sort_keys=False))
        would = ran(dvc(repo, "repro", "--dry", "package"))
        assert would == {"simulate@tomo_000", "simulate@tomo_001", "package"}
        doc = yaml.safe_load(original)
        doc["dataset"]["description"] = "changed card"
        params.write_text(yaml.safe_dump(doc, sort_keys=False))
        before = digests(repo / "data" / "public" / "train")
        assert ran(dvc(repo, "repro", "package")) == {"package"}
        assert "changed card" in (repo / "data" / "public" / "README.md").read_text()
        assert digests(repo / "data" / "public" / "train") == before
    finally:
        params.write_text(original)
        dvc(repo, "repro", "package")
    assert "up to date" in dvc(repo, "status", "package").stdout


def test_serial_and_two_dask_workers_write_identical_files(repo, tmp_path):
    out = tmp_path / "dask"
    tomobench(repo, "simulate", "--preset", "default", "--params", str(repo / "params.yaml"),
              "--library", str(repo / "data" / "structures"), "--out", str(out), "--workers", "2", "--no-progress")
    for name in ("tomo_000", "tomo_001"):
        assert digests(out / name) == digests(repo / "data" / "tomograms" / name)
    assert (out / "classes.csv").read_bytes() == (repo / "data" / "tomograms" / "tomo_000" / "classes.csv").read_bytes()


def test_an_external_dask_scheduler_gives_identical_files_and_its_workers_thread_settings_are_checked(repo, tmp_path):
    """A scheduler and two workers started here (as `dask scheduler` + `dask worker` would be), used by address."""
    from distributed import LocalCluster

    argv = ["simulate", "--preset", "default", "--params", str(repo / "params.yaml"),
            "--library", str(repo / "data" / "structures"), "--no-progress"]
    # no env given: each worker's nanny sets the thread variables before the worker's python starts
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        out = tmp_path / "external"
        done = tomobench(repo, *argv, "--out", str(out), "--scheduler", cluster.scheduler_address)
        assert f"Dask scheduler {cluster.scheduler_address}" in done.stderr
    for name in ("tomo_000", "tomo_001"):
        assert digests(out / name) == digests(repo / "data" / "tomograms" / name)
    # a worker whose BLAS/OpenMP would run 4 threads: refused before any work, naming the variable
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                      env={"OMP_NUM_THREADS": "4"}) as cluster:
        never = tmp_path / "never"
        done = tomobench(repo, *argv, "--out", str(never), "--scheduler", cluster.scheduler_address, ok=False)
    assert done.returncode == 2 and "OMP_NUM_THREADS=4" in done.stderr and "--nthreads 1" in done.stderr
    assert not never.exists()


def test_bad_input_stops_before_any_work(repo, tmp_path, monkeypatch, capsys):
    from tomobench.cli import main

    monkeypatch.chdir(repo)
    out = tmp_path / "never"

    def fails(*argv: str) -> str:
        assert main(list(argv)) == 2
        return capsys.readouterr().err

    err = fails("simulate", "--preset", "shrec2099", "--out", str(out))
    assert "no preset named 'shrec2099'" in err and "tiny" in err
    bad = tmp_path / "bad.yaml"
    doc = yaml.safe_load((repo / "params.yaml").read_text())
    doc["scene"]["shape_xyz"] = "big"
    bad.write_text(yaml.safe_dump(doc, sort_keys=False))
    err = fails("simulate", "--params", str(bad), "--out", str(out))
    assert "scene.shape_xyz" in err and "bad.yaml" in err
    assert "dataset.n_tomos" in fails("simulate", "--n-tomos", "0", "--out", str(out))
    assert "beyond dataset.n_tomos" in fails("simulate", "--only", "tomo_007", "--out", str(out))
    assert "cannot reach the Dask scheduler" in fails("simulate", "--out", str(out), "--scheduler", "tcp://127.0.0.1:9")
    assert not out.exists()
    done = dvc(repo, "push", "-r", "nowhere", "package", ok=False)
    assert done.returncode != 0 and "nowhere" in done.stdout + done.stderr


@pytest.fixture(scope="module")
def release(repo) -> dict:
    """The whole pipeline (baseline, score, leaderboard on top of the fixture), then release v0.1 with --push."""
    assert ran(dvc(repo, "repro")) == {"baseline@dog", "score@dog", "leaderboard"}
    lock_before = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    tomobench(repo, "dataset", "release", "v0.1", "--push")
    return {"repo": repo, "tag": "v0.1", "lock_before": lock_before}


def test_full_pipeline_then_release_and_dvc_get(release, tmp_path):
    """Baseline, score and leaderboard stages on top; then a release and `dvc get --rev`."""
    import pandas as pd

    repo = release["repo"]
    table = pd.read_parquet(repo / "data" / "results.parquet")
    assert list(table["method"]) == ["dog"]
    for column in ("is_baseline", "dataset", "phase", "RR", "TP", "FP", "f1", "f1_small", "fbeta", "report_json",
                   "timing_json"):
        assert column in table.columns
    metrics = yaml.safe_load((repo / "data" / "metrics.json").read_text())
    assert metrics["dog"]["TP"] == table["TP"].iloc[0]
    assert (repo / "data" / "plots" / "f1_per_class.csv").read_text().startswith("method_class,method,class,f1")

    assert "v0.1" in sh(repo, "git", "tag", "--list").stdout.split()
    assert "version: \"v0.1\"" in sh(repo, "git", "show", "v0.1:params.yaml").stdout
    lock_after = yaml.safe_load(sh(repo, "git", "show", "v0.1:dvc.lock").stdout)["stages"]
    lock_before = release["lock_before"]
    changed = {name for name in lock_after if lock_after[name] != lock_before.get(name)}
    assert changed == {"package"}                        # the card changed; the baselines did not rerun
    # the release commit holds the metrics and plots (cache: false outputs tracked by git) and absolute urls
    committed = set(sh(repo, "git", "ls-tree", "-r", "--name-only", "v0.1").stdout.split())
    assert {"data/metrics.json", "data/plots/f1_per_class.csv", "data/plots/f1_size_group.csv"} <= committed
    config = sh(repo, "git", "show", "v0.1:.dvc/config").stdout
    assert f"url = {repo / '.dvc-remotes' / 'public'}" in config, config
    got = tmp_path / "v0.1"
    dvc(tmp_path, "get", str(repo), "data/public", "--rev", "v0.1", "-o", str(got))
    assert digests(got) == digests(repo / "data" / "public")
    assert (got / "README.md").read_text().startswith("# tomobench-tiny (version v0.1)")
    again = tomobench(repo, "dataset", "release", "v0.1", ok=False)
    assert again.returncode == 2 and "exists already" in again.stderr


# ---- the participant routes of README.md, as written -------------------------------------------------

README_URL, README_TAG = "https://github.com/tomobench/tomobench", "v1.0"


def readme_routes() -> dict[str, list[str]]:
    """The commands of README.md's "Get a dataset version", route by route ('# 1.' ... '# 3.')."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Get a dataset version"):]
    block = section.split("```")[1]
    routes: dict[str, list[str]] = {}
    current = None
    for line in block.splitlines():
        if match := re.match(r"# (\d)\.", line):
            current = match.group(1)
            routes[current] = []
        elif line.strip() and current:
            routes[current].append(line)
    return routes


def run_route(lines: list[str], where: Path, url: str, tag: str, *, own_project: bool) -> None:
    """Run one route's commands in a new folder, the README's repository and version replaced."""
    where.mkdir(parents=True)
    if own_project:                       # "inside your own DVC project"
        sh(where, "git", "init", "-q")
        dvc(where, "init", "-q")
    script = "\n".join(line.replace(README_URL, url).replace(README_TAG, tag) for line in lines)
    sh(where, "bash", "-euo", "pipefail", "-c", script)


def hidden_md5s(repo: Path) -> set[str]:
    """The md5 of every private file that is not also public (the test truth)."""
    hidden = set(digests(repo / "data" / "private").values()) - set(digests(repo / "data" / "public").values())
    truth = hashlib.md5((repo / "data/private/test/tomo_001/particle_locations.txt").read_bytes()).hexdigest()
    assert truth in hidden
    return hidden


def check_routes(repo: Path, tmp: Path, url: str, tag: str) -> None:
    routes = readme_routes()
    assert sorted(routes) == ["1", "2", "3"]
    public, hidden = digests(repo / "data" / "public"), hidden_md5s(repo)
    run_route(routes["1"], tmp / "get", url, tag, own_project=False)
    run_route(routes["2"], tmp / "import", url, tag, own_project=True)
    run_route(routes["3"], tmp / "clone", url, tag, own_project=False)
    for arrived in (tmp / "get" / f"tomobench-{tag}", tmp / "import" / "data" / "tomobench",
                    tmp / "clone" / "tomobench" / "data" / "public"):
        assert digests(arrived) == public, arrived
    # no test truth anywhere a participant's commands wrote, DVC caches included
    leaked = {rel for rel, h in digests(tmp).items() if h in hidden}
    assert leaked == set()
    assert not (tmp / "clone" / "tomobench" / "data" / "private").exists()
    assert "rev: " in (tmp / "import" / "data" / "tomobench.dvc").read_text()   # linked to the version


@pytest.mark.parametrize("how", ["path", "file-url"])
def test_the_readme_routes_work_as_written_from_a_local_release(release, tmp_path, how):
    repo = release["repo"]
    url = str(repo) if how == "path" else repo.as_uri()
    check_routes(repo, tmp_path, url, release["tag"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_readme_routes_work_from_an_http_remote_by_configuration_only(release, tmp_path):
    """The organizer's public remote served read-only over HTTP; participants' commands unchanged."""
    repo = release["repo"]
    folder = repo / ".dvc-remotes" / "public"
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                               "--directory", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        # participants read http://...; the organizer pushes to the folder behind it (.dvc/config.local)
        dvc(repo, "remote", "modify", "public", "url", f"http://127.0.0.1:{port}")
        dvc(repo, "remote", "modify", "--local", "public", "url", str(folder))
        done = tomobench(repo, "dataset", "release", "v0.2", "--push")
        assert "participants read it from http://127.0.0.1" in done.stderr
        assert f"url = http://127.0.0.1:{port}" in sh(repo, "git", "show", "v0.2:.dvc/config").stdout
        check_routes(repo, tmp_path, repo.as_uri(), "v0.2")
    finally:
        server.terminate()
        server.wait(timeout=10)
        dvc(repo, "remote", "modify", "--local", "--unset", "public", "url", ok=False)
        dvc(repo, "remote", "modify", "public", "url", str(folder))


def _experiments(shown: list[dict]) -> dict[float, dict]:
    """DoG threshold -> the dog metrics of each experiment in `dvc exp show --json`."""
    out = {}
    for baseline in shown:
        for exp in baseline.get("experiments") or []:
            for rev in exp["revs"]:
                data = rev["data"]
                threshold = data["params"]["params.yaml"]["data"]["baselines"]["dog"]["threshold_t"]
                out[float(threshold)] = data["metrics"]["data/metrics.json"]["data"]["dog"] | {"rev": rev["rev"]}
    return out


def test_queued_experiments_show_their_metrics(release):
    """`dvc exp run --queue` twice, `dvc exp run --run-all`: `dvc exp show` has each experiment's metrics."""
    repo = release["repo"]
    workspace = json.loads((repo / "data" / "metrics.json").read_text())["dog"]      # threshold_t 5 (tiny)
    assert yaml.safe_load((repo / "params.yaml").read_text())["baselines"]["dog"]["threshold_t"] == 5.0
    for threshold in (2.0, 8.0):
        dvc(repo, "exp", "run", "--queue", "-S", f"baselines.dog.threshold_t={threshold}")
    done = dvc(repo, "exp", "run", "--run-all")
    # stages the thresholds do not touch are restored from the cache in each experiment's workspace
    assert ran(done) == {"baseline@dog", "score@dog", "leaderboard"}, done.stdout
    exps = _experiments(json.loads(dvc(repo, "exp", "show", "--json").stdout))
    assert sorted(exps) == [2.0, 8.0]
    # a lower DoG threshold keeps more peaks: more picks reported (RR)
    assert exps[2.0]["RR"] > workspace["RR"] > exps[8.0]["RR"], (exps, workspace)
    for exp in exps.values():          # the experiment commit itself holds the metrics file
        committed = json.loads(sh(repo, "git", "show", f"{exp['rev']}:data/metrics.json").stdout)["dog"]
        assert committed["RR"] == exp["RR"] and committed["f1"] == exp["f1"]


def _serve(repo: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """`tomobench leaderboard serve` in the repository, as `make leaderboard` runs it."""
    from leaderboard.cli import wait_healthy

    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tomobench", "leaderboard", "serve", "--port", str(port)],
                            cwd=repo, env=_env(repo), stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    if wait_healthy(proc, url, timeout_s=90):
        return proc, url
    if proc.poll() is not None:
        raise AssertionError(f"the leaderboard exited ({proc.returncode}):\n{log.read_text()}")
    os.killpg(proc.pid, 9)
    raise AssertionError(f"the leaderboard did not come up in 90 s:\n{log.read_text()}")


def test_pipeline_baselines_are_on_the_leaderboard_idempotently(repo):
    """The `leaderboard` stage imports the results as baselines; re-running it duplicates nothing."""
    import pandas as pd

    from leaderboard.store import Store

    dvc(repo, "repro")
    store = Store(repo / "data" / "leaderboard")
    table = pd.read_parquet(repo / "data" / "results.parquet")
    subs = store.submissions()
    assert list(subs["method"]) == ["dog"] and list(subs["source"]) == ["pipeline"]
    assert list(subs["is_baseline"]) == [1] and list(subs["dataset"]) == ["default"]
    final = store.results("default", "final")
    assert final["f1"].tolist() == pytest.approx(table["f1"].tolist())
    assert final["fbeta"].tolist() == pytest.approx(table["fbeta"].tolist())
    assert len(store.results("default", "public")) == 1          # one test tomogram: the public phase is it
    status = sh(repo, sys.executable, "scripts/collect_results.py", "--leaderboard-status")
    assert "1 baseline(s) (dog) on dataset 'default'" in status.stdout
    assert ran(dvc(repo, "repro", "--force", "--single-item", "leaderboard")) == {"leaderboard"}
    assert len(store.submissions()) == 1 and len(store.results("default", "final")) == 1
    assert store.results("default", "final")["f1"].tolist() == final["f1"].tolist()


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (make browser)")
def test_pipeline_baselines_show_in_a_real_browser(repo, tmp_path):
    """After the pipeline, the Leaderboard page (as `make leaderboard` serves it) lists the baselines."""
    from playwright.sync_api import sync_playwright

    dvc(repo, "repro")
    proc, url = _serve(repo, tmp_path / "server.log")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"])
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1400})
                page.goto(url, wait_until="domcontentloaded", timeout=60_000)
                grid = page.locator('[data-testid="stDataFrame"]').first
                grid.wait_for(state="visible", timeout=90_000)
                header: list[str] = []
                for _ in range(60):          # glide-data-grid fills its accessible table after drawing
                    header = [h.strip() for h in grid.locator('[role="columnheader"]').all_text_contents()]
                    if "method" in header:
                        break
                    page.wait_for_timeout(1000)
                page.screenshot(path=str(tmp_path / "leaderboard.png"), full_page=True)
                assert page.get_by_text("No scored submission").count() == 0
                assert "method" in header, f"no method column in {header} (see {tmp_path / 'leaderboard.png'})"
                method = grid.locator(f'[data-testid="glide-cell-{header.index("method")}-0"]').inner_text().strip()
                assert method == "dog"
            finally:
                browser.close()
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)


def test_scoring_params_reach_the_score_stage(repo):
    """`scoring.*` of params.yaml reruns score@* and the leaderboard, with the figures the scorer gives
    for those options; a limit that refuses the submission stops `dvc repro` with the scorer's message."""
    import json

    from scoring import ScoringOptions, score_file

    dvc(repo, "repro")
    params, report_path = repo / "params.yaml", repo / "data" / "scores" / "dog.json"
    original, before = params.read_text(), json.loads(report_path.read_text())
    try:
        doc = yaml.safe_load(original)
        doc["scoring"].update(radius_multiplier=3.0, dilate=False)
        params.write_text(yaml.safe_dump(doc, sort_keys=False))
        assert ran(dvc(repo, "repro")) == {"score@dog", "leaderboard"}
        after = json.loads(report_path.read_text())
        expected = score_file(repo / "data" / "submissions" / "dog.csv", repo / "data" / "private" / "test",
                              options=ScoringOptions(radius_multiplier=3.0, dilate=False))
        assert after["fbeta"]["radius_multiplier"] == 3.0
        for key in ("RR", "TP", "FP", "FN", "MH", "AD", "f1"):
            assert after[key] == expected[key], key
        doc["scoring"]["max_picks"] = 1
        params.write_text(yaml.safe_dump(doc, sort_keys=False))
        failed = dvc(repo, "repro", ok=False)
        assert failed.returncode != 0 and "exceed the limit of 1" in failed.stdout + failed.stderr
    finally:
        params.write_text(original)
        dvc(repo, "repro")
    restored = json.loads(report_path.read_text())
    assert {k: restored[k] for k in ("TP", "AD", "fbeta")} == {k: before[k] for k in ("TP", "AD", "fbeta")}


def test_readme_results_from_the_pipeline_files(repo, tmp_path):
    """scripts/readme_results.py writes the tiny pipeline's figures between the README's markers."""
    import json

    dvc(repo, "repro")
    readme = tmp_path / "README.md"
    readme.write_text("x\n<!-- results-table:begin -->\nold\n<!-- results-table:end -->\ny\n")
    sh(repo, sys.executable, str(ROOT / "scripts" / "readme_results.py"), "--params", "params.yaml", "--data", "data",
       "--readme", str(readme))
    report = json.loads((repo / "data" / "scores" / "dog.json").read_text())
    row = next(line for line in readme.read_text().splitlines() if line.startswith("| DoG"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1:6] == [str(report[k]) for k in ("RR", "TP", "FP", "FN", "MH")]
    assert cells[9] == ("0" if report["f1"] == 0 else f"{report['f1']:.3f}")
    assert readme.read_text().startswith("x\n") and readme.read_text().endswith("y\n")
