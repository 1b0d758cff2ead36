"""``tomobench leaderboard``: serve the app and the organizer's commands.

    tomobench leaderboard serve [--port P] [--address A] [--data-dir D] [--params FILE]
    tomobench leaderboard team add NAME          (prints the token once; only its hash is stored)
    tomobench leaderboard team list | team token NAME | team revoke NAME
    tomobench leaderboard organizer token        (prints the Organizer page's token once)
    tomobench leaderboard import [--results data/results.parquet]
    tomobench leaderboard export OUT.csv|OUT.parquet [--phase public|final|all] [--dataset V]
    tomobench leaderboard rescore [--id N ...]
    tomobench leaderboard phase [show|public|final|reveal]
    tomobench leaderboard blind on|off
    tomobench leaderboard demo --out DIR         (a tiny synthetic dataset + baselines to try the app)
"""  # noqa: D208 -- the indented usage lines are the argparse description, printed as written

from __future__ import annotations

import argparse
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from tomobench.errors import InputError


def _refusals_as_input_errors(func):
    """End the command on a :class:`~leaderboard.store.Refused` as on bad input.

    A refusal (e.g. a read-only store) prints one sentence and exits with code 2, no traceback.
    """
    import functools

    @functools.wraps(func)
    def run(args) -> int:
        from leaderboard.store import Refused

        try:
            return func(args)
        except Refused as exc:
            raise InputError(str(exc)) from None
    return run


def register(subparsers) -> None:
    """Add the ``leaderboard`` command and its actions to the ``tomobench`` command line.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The ``tomobench`` parser's sub-command group.
    """
    p = subparsers.add_parser("leaderboard", help="the Streamlit leaderboard and its organizer commands",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", help="store directory (default: leaderboard.data_dir of params.yaml)")
    common.add_argument("--params", help="parameter file with a 'leaderboard' section (default: ./params.yaml "
                                         "when present)")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    s = sub.add_parser("serve", parents=[common], help="run the Streamlit app")
    s.add_argument("--port", type=int, default=8501)
    s.add_argument("--address", default="127.0.0.1", help="interface to listen on (0.0.0.0 for all)")
    s.set_defaults(func=_refusals_as_input_errors(_serve))

    t = sub.add_parser("team", help="create and list teams")
    tsub = t.add_subparsers(dest="team_action", metavar="add|list|token|revoke", required=True)
    ta = tsub.add_parser("add", parents=[common], help="create a team and print its token (once)")
    ta.add_argument("name")
    ta.set_defaults(func=_refusals_as_input_errors(_team_add))
    tl = tsub.add_parser("list", parents=[common], help="list teams")
    tl.set_defaults(func=_refusals_as_input_errors(_team_list))
    tt = tsub.add_parser("token", parents=[common], help="replace a team's token and print the new one")
    tt.add_argument("name")
    tt.set_defaults(func=_refusals_as_input_errors(_team_token))
    tr = tsub.add_parser("revoke", parents=[common], help="make a team's token invalid (its submissions stay)")
    tr.add_argument("name")
    tr.set_defaults(func=_refusals_as_input_errors(_team_revoke))

    o = sub.add_parser("organizer", help="the Organizer page's token")
    osub = o.add_subparsers(dest="organizer_action", metavar="token", required=True)
    ot = osub.add_parser("token", parents=[common], help="issue the organizer token (replaces any earlier one)")
    ot.set_defaults(func=_refusals_as_input_errors(_organizer_token))

    i = sub.add_parser("import", parents=[common], help="import the DVC pipeline's results table")
    i.add_argument("--results", help="results.parquet (default: leaderboard.results_path)")
    i.set_defaults(func=_refusals_as_input_errors(_import))

    e = sub.add_parser("export", parents=[common], help="export the leaderboard as CSV or Parquet")
    e.add_argument("out", help="OUT.csv or OUT.parquet")
    e.add_argument("--phase", choices=["public", "final", "all"], default="all")
    e.add_argument("--dataset", help="dataset version (default: all)")
    e.set_defaults(func=_refusals_as_input_errors(_export))

    r = sub.add_parser("rescore", parents=[common], help="score stored submissions again")
    r.add_argument("--id", type=int, nargs="*", help="only these submissions")
    r.set_defaults(func=_refusals_as_input_errors(_rescore))

    ph = sub.add_parser("phase", parents=[common], help="show or set the phase (reveal = final)")
    ph.add_argument("to", nargs="?", choices=["show", "public", "final", "reveal"], default="show")
    ph.set_defaults(func=_refusals_as_input_errors(_phase))

    b = sub.add_parser("blind", parents=[common], help="hide (on) or show (off) all scores")
    b.add_argument("state", choices=["on", "off"])
    b.set_defaults(func=_refusals_as_input_errors(_blind))

    d = sub.add_parser("demo", help="write a tiny synthetic dataset with scored baselines, to try the app")
    d.add_argument("--out", required=True)
    d.add_argument("--seed", type=int, default=0)
    d.set_defaults(func=_refusals_as_input_errors(_demo))


def _params(args):
    import os

    from leaderboard.config import ENV_PARAMS, load_params

    params_file = args.params or ("params.yaml" if Path("params.yaml").is_file() else None)
    if params_file:
        # scoring in this process (import, rescore) reads its options from the same file, as `serve` does
        os.environ[ENV_PARAMS] = str(Path(params_file).resolve())
    return load_params(params_file, args.data_dir), params_file


def _store(args):
    from leaderboard.store import Store

    params, _ = _params(args)
    return params, Store(params.data_dir)


def _check_port_free(address: str, port: int) -> None:
    """Fail early, before starting Streamlit, when the port is taken."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # as Tornado does: a port held only by closed connections (TIME_WAIT) is free; a listener is not
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError as exc:
            raise InputError(f"cannot listen on {address}:{port} ({exc.strerror}); another program uses the port: "
                             f"stop it or choose another with --port") from None


def wait_healthy(proc: subprocess.Popen, url: str, timeout_s: float = 120) -> bool:
    """Poll Streamlit's ``/_stcore/health`` at ``url`` until it answers 200.

    Returns True once it does; False when ``proc`` exits first or ``timeout_s`` seconds pass.
    Shared by ``serve``, the tests and the leaderboard benchmark, so all wait the same way.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return True
        except OSError:
            time.sleep(0.3)
    return False


def _stop_child(proc: subprocess.Popen, timeout_s: float = 10) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def streamlit_command(app: Path, params, address: str, port: int) -> list[str]:
    """The ``streamlit run`` command line: errors shown without details, upload size = the page's limit."""
    return [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(port),
            "--server.address", address, "--server.headless", "true",
            # Streamlit's MB is 2**20 bytes, as max_file_mb; an integer: the next whole MB (submit() is exact)
            "--server.maxUploadSize", str(max(1, math.ceil(params.max_file_mb))),
            "--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer",
            "--client.showErrorDetails", "none"]


def _serve(args) -> int:
    import leaderboard
    from leaderboard.config import ENV_DATA_DIR, ENV_PARAMS

    params, params_file = _params(args)
    _check_port_free(args.address, args.port)
    env = dict(os.environ)
    env[ENV_DATA_DIR] = str(Path(params.data_dir).resolve())
    if params_file:
        env[ENV_PARAMS] = str(Path(params_file).resolve())
    root = str(Path(leaderboard.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    app = Path(leaderboard.__file__).with_name("app.py")
    proc = subprocess.Popen(streamlit_command(app, params, args.address, args.port), env=env)
    received: list[int] = []

    def stop(signum, _frame):
        # SIGTERM / SIGINT: pass it on as SIGTERM and let the main thread's wait() see the child exit (a
        # wait() here would deadlock on Popen's lock); a child still running after 10 s is killed
        received.append(signum)
        if proc.poll() is None:
            proc.terminate()
            threading.Timer(10, lambda: proc.poll() is None and proc.kill()).start()

    old = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        host = "127.0.0.1" if args.address in ("0.0.0.0", "::") else args.address
        if wait_healthy(proc, f"http://{host}:{args.port}") and not received:
            print(f"leaderboard on http://{args.address}:{args.port} (store {params.data_dir})", file=sys.stderr)
        code = proc.wait()
        return 128 + received[0] if received else code
    finally:
        _stop_child(proc)
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _team_add(args) -> int:
    _, store = _store(args)
    token = store.add_team(args.name)
    store.audit("cli", "team add", args.name.strip())
    print(f"team {args.name!r} created. Its token (shown only now; give it to the team):", file=sys.stderr)
    print(token)
    return 0


def _team_token(args) -> int:
    _, store = _store(args)
    print(store.replace_token(args.name))
    store.audit("cli", "team token", args.name)
    return 0


def _team_revoke(args) -> int:
    _, store = _store(args)
    store.revoke_token(args.name)
    store.audit("cli", "team revoke", args.name)
    print(f"team {args.name!r}: token revoked", file=sys.stderr)
    return 0


def _organizer_token(args) -> int:
    _, store = _store(args)
    token = store.set_organizer_token()
    store.audit("cli", "organizer token", "issued (earlier ones no longer work)")
    print("organizer token (shown only now; it opens the Organizer page):", file=sys.stderr)
    print(token)
    return 0


def _team_list(args) -> int:
    _, store = _store(args)
    teams = store.teams()
    print(teams.to_string(index=False) if not teams.empty else "no team yet")
    return 0


def _import(args) -> int:
    from leaderboard.exchange import import_results

    params, store = _store(args)
    for line in import_results(store, params, args.results):
        print(line)
    return 0


def _export(args) -> int:
    from leaderboard.config import PHASES
    from leaderboard.exchange import export

    _, store = _store(args)
    out = export(store, args.out, args.dataset, list(PHASES) if args.phase == "all" else [args.phase])
    print(out)
    return 0


def _rescore(args) -> int:
    from leaderboard.submit import rescore, rescore_all

    params, store = _store(args)
    failed = 0
    if args.id:
        statuses = rescore(store, params, args.id)
        store.audit("cli", "rescore", f"submissions {args.id}: " + "; ".join(f"#{i} {s}" for i, s in statuses))
    else:
        statuses, _ = rescore_all(store, params, "cli")
    for sub_id, status in statuses:
        print(f"submission {sub_id}: {status}")
        failed += status != "ok" and not status.startswith("no stored file")
    return 1 if failed else 0


def _phase(args) -> int:
    from leaderboard.phases import current_phase, is_blind, set_phase

    _, store = _store(args)
    if args.to in ("public", "final", "reveal"):
        set_phase(store, "final" if args.to == "reveal" else args.to)
        store.audit("cli", "phase", args.to)
    print(f"phase: {current_phase(store)}" + (" (blind: scores hidden)" if is_blind(store) else ""))
    return 0


def _blind(args) -> int:
    from leaderboard.phases import set_blind

    _, store = _store(args)
    set_blind(store, args.state == "on")
    store.audit("cli", "blind", args.state)
    print(f"blind: {args.state}")
    return 0


def _demo(args) -> int:
    from leaderboard import demo
    from leaderboard.config import load_params
    from leaderboard.exchange import import_results
    from leaderboard.store import Store

    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise InputError("the folder exists and is not empty; choose a new one", out)
    demo.make_dataset(out, n_train=1, n_test=2, shape_zyx=(40, 64, 64), n_particles=20, seed=args.seed)
    demo.write_results(out, {"dog": {"recall": 0.7, "wrong_class": 0.5}, "tm": {"recall": 0.8, "wrong_class": 0.2},
                             "unet": {"recall": 0.9, "wrong_class": 0.1}, "cnn": {"recall": 0.85}},
                       seed=args.seed + 1)
    params_file = demo.demo_params_yaml(out)
    params = load_params(params_file)
    for line in import_results(Store(params.data_dir), params):
        print(line)
    print(f"demo ready; try: tomobench leaderboard serve --params {params_file}", file=sys.stderr)
    return 0
