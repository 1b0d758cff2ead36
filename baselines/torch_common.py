"""Shared plumbing of the learned baselines (U-Net, classifier CNN).

Threads, devices, seeds, checkpoints and the timing file of the contract
(``<out stem>.timing.json``). No physics or model code lives here. The device
resolver (:func:`resolve_device`) also serves template matching.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from baselines import public_data
from tomobench.errors import InputError


def add_training_arguments(parser: argparse.ArgumentParser, method: str) -> None:
    """The command-line options every learned baseline shares (checkpoints, seed, device, threads)."""
    parser.add_argument("--checkpoint-dir", default=f"data/checkpoints/{method}", help="where checkpoints go")
    parser.add_argument("--seed", type=int, help="override the seed")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], help="override the device")
    parser.add_argument("--threads", type=int, help="override the CPU threads (default 2)")
    parser.add_argument("--retrain", action="store_true", help="ignore existing checkpoints")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def setup_torch(threads: int = 2, device: str = "auto") -> torch.device:
    """Set torch's CPU thread count and pick the device.

    Limit torch to ``threads`` CPU threads (the shared machine has 2 cores) and pick a device
    (:func:`resolve_device`).
    """
    threads = max(1, int(threads))
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # may only be set once per process
        pass
    return torch.device(resolve_device(device))


def resolve_device(requested: str = "auto") -> str:
    """Resolve the ``--device`` option to a torch device name.

    The device name for ``--device``: ``auto`` gives ``cuda`` when torch sees one, else ``cpu``;
    ``cuda`` without a CUDA device is an :class:`~tomobench.errors.InputError` (a ``ValueError``).
    """
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda asked for, but torch sees no CUDA device")
    return requested


def seed_everything(seed: int) -> np.random.Generator:
    """Seed torch and Python's ``random``; return a numpy Generator for the caller to pass down."""
    random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return np.random.default_rng(seed)


def params_digest(payload: dict[str, Any]) -> str:
    """A short, stable hash of parameters (checkpoints are only resumed under the same hash)."""
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def source_digest(package_dir: str | Path | None = None) -> str:
    """A short hash of the Python sources under ``package_dir`` (default: the ``baselines`` package).

    Part of every checkpoint's digest, so a checkpoint left by older code (DVC keeps
    ``data/checkpoints`` between runs) is never resumed as if it were finished.
    """
    root = Path(package_dir) if package_dir is not None else Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write a checkpoint atomically (temporary name, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)
    return path


def load_checkpoint(path: str | Path, digest: str | None = None) -> dict[str, Any] | None:
    """Load a checkpoint, or ``None`` when absent, unreadable or made with other parameters."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception:  # a truncated or foreign file: start afresh
        return None
    if digest is not None and state.get("digest") != digest:
        return None
    return state


def rng_state(rng: np.random.Generator | None) -> dict[str, Any]:
    """The random states a checkpoint must hold: numpy's (when given), torch's CPU and every CUDA device's."""
    return {"numpy": rng.bit_generator.state if rng is not None else None, "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def restore_rng(rng: np.random.Generator | None, state: dict[str, Any]) -> None:
    """Undo :func:`rng_state` (the CUDA states only when this machine has as many CUDA devices)."""
    if rng is not None and state.get("numpy") is not None:
        rng.bit_generator.state = state["numpy"]
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


def autocast(device: torch.device | str, enabled: bool = True):
    """bf16 autocast on CUDA when ``enabled``; a no-op context on the CPU (CPU runs stay fp32, bit-exact)."""
    device = torch.device(device)
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16,
                          enabled=bool(enabled) and device.type == "cuda")


def configure_determinism(device: torch.device | str, deterministic: bool = True) -> None:
    """Make CUDA runs as repeatable as torch allows (CPU runs are deterministic already).

    With ``deterministic``: cuDNN picks deterministic algorithms and no autotuning, cuBLAS gets a fixed
    workspace, and :func:`torch.use_deterministic_algorithms` is on in warn-only mode, because some
    kernels the networks use have no deterministic CUDA version (the backward pass of ``MaxPool3d``
    and ``AdaptiveAvgPool3d`` scatter with atomic adds): those warn instead of failing, so CUDA
    results agree between runs only to a tolerance (docs/learned.md). Without it, cuDNN autotunes
    (faster, not repeatable).
    """
    if torch.device(device).type != "cuda":
        return
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.deterministic = bool(deterministic)
    torch.backends.cudnn.benchmark = not deterministic
    torch.use_deterministic_algorithms(bool(deterministic), warn_only=True)


def write_timing(out: str | Path, method: str, *, wall_s: float, train_s: float, infer_s: float,
                 device: torch.device | str, voxels: int, **extra: Any) -> Path:
    """Write ``<out stem>.timing.json`` with the keys of the contract (plus ``extra``)."""
    record = {"method": method, "wall_s": round(wall_s, 3), "train_s": round(train_s, 3),
              "infer_s": round(infer_s, 3), "device": _device_name(device), "n_rotations": None,
              "voxels": int(voxels), **extra}
    return public_data.write_timing(out, record)


def _device_name(device: torch.device | str) -> str:
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads, {os.cpu_count()} cores)"


class Stopwatch:
    """Accumulates wall-clock seconds over ``with`` blocks."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __enter__(self) -> "Stopwatch":
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds += time.perf_counter() - self._t0
