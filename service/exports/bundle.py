"""Export bundles: everything a user takes home for one candidate, and zips of a whole front.

A bundle is a folder ``artifacts/exports/<job>/<seq>-<arch_id>/`` holding

* ``arch.json`` — schema version, the architecture (space, version, genome) and its id, the input
  shape, metrics with what produced each, provenance, where the weights come from, and the size
  and sha256 of every other file;
* ``model.safetensors`` — the weights (inherited from a supernet when the candidate's accuracy
  came from one, otherwise freshly initialised with a fixed seed: ``arch.json`` says which);
* ``model.pt2`` — a `torch.export` program (`torch.export.load`);
* ``model.onnx`` — the dynamo ONNX export, checked against PyTorch in ONNX Runtime at build time
  relative to the output's scale (`ONNX_RTOL`; the differences are recorded);
* ``model.py`` — a torch-only model definition (`service.exports.standalone`).

Each format is built on its own: one that fails (an exporter error, an ONNX Runtime mismatch) is
left out and recorded with its reason under ``failed`` in ``arch.json``, and the other files are
still served. Bundles are built once, into a temporary folder renamed into place, and then served
as files.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from core.registry import Registry
from evaluators.base import Task
from evaluators.datasets import dataset_info
from search_spaces import Architecture, get_space
from service.exports.standalone import standalone_source

SCHEMA_VERSION = 1
FILES = ("model.safetensors", "model.pt2", "model.onnx", "model.py")
ALL_FILES = ("arch.json", *FILES)
INIT_SEED = 0
# ONNX Runtime and PyTorch may differ by at most this share of the output's scale (max |PyTorch|):
# their float32 kernels sum in different orders, measured at 1e-7 to 2e-6 of the scale (NASNet
# outputs near 300 differ by 2e-4 in absolute terms), while a wrong graph differs by O(1) of it.
# A fixed absolute bound failed correct NASNet exports and passed anything for outputs near 1e-23.
ONNX_RTOL = 1e-4
# outputs whose scale lies outside this range (fresh weights of deep spaces: 1e-26 for a sparse
# network) say little about the graph, so a copy with BatchNorm statistics re-estimated on random
# inputs (outputs O(1)) is exported and checked as well, where the network has BatchNorm
O1_RANGE = (1e-3, 1e3)
CALIBRATION_BATCH = 32
REASON_CHARS = 2000  # a failed format's recorded reason is cut to this length
MAX_BATCH = 1024
BATCH = ({0: torch.export.Dim("batch", min=1, max=MAX_BATCH)},)  # dynamic batch for .pt2 and ONNX

# evaluator name -> (what produced a metric, architecture, task, settings) -> (model with the
# evaluator's weights, description), or None when it has none. Evaluators that hold weights register
# here (service.exports.weights); every other candidate gets freshly initialised weights, labelled so.
WeightSource = Callable[[dict[str, Any], Architecture, Task, Any], "tuple[nn.Module, dict[str, Any]] | None"]
WEIGHT_SOURCES: Registry[WeightSource] = Registry(
    "weight source", {"supernet": "service.exports.weights:supernet_weights"}
)
log = logging.getLogger(__name__)
# torch.fx tracing patches `nn.Module.__call__` for the whole process, and two traces at once restore
# each other's patch: the loser's tracer stays installed and every later forward pass in the process
# fails ("module is not installed as a submodule"). torch.export and the dynamo ONNX exporter hold
# process-wide state too, so the model files of one bundle are built at a time.
_TRACING = threading.Lock()


class OnnxMismatchError(RuntimeError):
    """ONNX Runtime computes other outputs than PyTorch for the exported model."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def bundle_dir(root: Path, job_id: str, seq: int, arch_id: str, trained: bool = False) -> Path:
    """A bundle's folder; a finalist's trained bundle has its own (the one built before it was trained stays)."""
    return root / "exports" / job_id / f"{seq}-{arch_id}{'-trained' if trained else ''}"


def _trained(arch: Architecture, task: Task, trained: dict[str, Any], root: Path) -> tuple[nn.Module, dict]:
    """A finalist's network with the weights its training from scratch ended with."""
    from safetensors.torch import load_file

    from evaluators.scratch import network

    width = float(trained.get("options", {}).get("width", 1.0))
    model = network(arch, task, width)
    model.load_state_dict(load_file(str(root / trained["weights"])))
    return model, {
        "source": "finalist",
        "evaluator": trained.get("evaluator", "train"),
        "schedule": trained.get("options", {}),
        "epochs": trained["epochs"],
        "accuracy": trained["accuracy"],
        "width": width,
        "note": "trained from scratch as a finalist of the job (BatchNorm re-estimated); 'accuracy' is "
        "these weights' validation accuracy",
    }


def _model(arch: Architecture, task: Task, provenance: dict[str, Any], settings: Any) -> tuple[nn.Module, dict]:
    for produced in provenance.values():
        name = produced.get("evaluator", "") if isinstance(produced, dict) else ""
        if name in WEIGHT_SOURCES and (found := WEIGHT_SOURCES.get(name)(produced, arch, task, settings)) is not None:
            return found
    torch.manual_seed(INIT_SEED)
    model = get_space(arch.space).build(arch, **task.shape)
    return model, {
        "source": "initialised",
        "seed": INIT_SEED,
        "note": "freshly initialised (He-normal convs, unit BatchNorm): no evaluator trained these weights",
    }


def _ort_check(model: nn.Module, example: torch.Tensor, path: Path) -> dict[str, float]:
    """ONNX Runtime's outputs for ``example`` against PyTorch's: the largest absolute gap, the output
    scale (max |PyTorch|) and the gap as a share of that scale."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: example.numpy()})
    with torch.no_grad():
        want = model(example).numpy()
    gap = float(np.abs(got - want).max())
    scale = float(np.abs(want).max())
    relative = gap / max(scale, float(np.finfo(np.float32).tiny))
    return {"max_abs_diff": gap, "output_scale": scale, "relative_diff": relative}


def _export_and_check(model: nn.Module, example: torch.Tensor, path: Path, what: str) -> dict[str, float]:
    torch.onnx.export(
        model, (example,), str(path), dynamo=True, dynamic_shapes=BATCH, external_data=False, verbose=False
    )
    check = _ort_check(model, example, path)
    if not check["relative_diff"] <= ONNX_RTOL:  # NaN fails too
        raise OnnxMismatchError(
            f"ONNX Runtime differs from PyTorch on {what} by {check['max_abs_diff']:.3g}, "
            f"{check['relative_diff']:.3g} of the output scale {check['output_scale']:.3g} "
            f"(allowed: {ONNX_RTOL:g} of it)"
        )
    return check


def _normalised_copy(model: nn.Module, example: torch.Tensor) -> nn.Module | None:
    """A copy of ``model`` whose BatchNorm statistics are re-estimated on random inputs, so that every
    BatchNorm output, and the network's output, is O(1); None when the network has no BatchNorm."""
    twin = copy.deepcopy(model)
    norms = [m for m in twin.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return None
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average: one batch sets the statistics
    batch = torch.randn(CALIBRATION_BATCH, *example.shape[1:], generator=torch.Generator().manual_seed(1))
    twin.train()
    with torch.no_grad():
        twin(batch)
    return twin.eval()


def _onnx(model: nn.Module, example: torch.Tensor, path: Path) -> dict[str, Any]:
    """Export with the dynamo exporter and check it in ONNX Runtime against PyTorch, relative to the
    output scale (`ONNX_RTOL`); where that scale is far from 1 (`O1_RANGE`), a BatchNorm-recalibrated
    copy with O(1) outputs is exported and checked as well. Returns what was measured; raises
    `OnnxMismatchError` when a check fails."""
    check: dict[str, Any] = _export_and_check(model, example, path, "the exported weights")
    check["rtol"] = ONNX_RTOL
    low, high = O1_RANGE
    if not low <= check["output_scale"] <= high:
        twin = _normalised_copy(model, example)
        if twin is None:
            check["o1_check"] = "skipped: no BatchNorm to bring the outputs to O(1)"
        else:
            scratch = path.with_name(".o1-check.onnx")
            try:
                what = "a copy with BatchNorm re-estimated for O(1) outputs"
                check["o1_check"] = _export_and_check(twin, example, scratch, what)
            finally:
                scratch.unlink(missing_ok=True)
    return check


def _write_safetensors(model: nn.Module, example: torch.Tensor, path: Path, title: str) -> dict[str, Any]:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return {}


def _write_pt2(model: nn.Module, example: torch.Tensor, path: Path, title: str) -> dict[str, Any]:
    torch.export.save(torch.export.export(model, (example,), dynamic_shapes=BATCH), str(path))
    return {}


def _write_onnx(model: nn.Module, example: torch.Tensor, path: Path, title: str) -> dict[str, Any]:
    check = _onnx(model, example, path)
    return {"onnx": check, "onnx_max_abs_diff": check["max_abs_diff"]}


def _write_py(model: nn.Module, example: torch.Tensor, path: Path, title: str) -> dict[str, Any]:
    path.write_text(standalone_source(model, (1, *example.shape[1:]), title=title))
    return {}


# file name -> (model, example input, path, title) -> what to record under ``checks``; each format is
# built on its own, and one that raises is left out of the bundle and recorded under ``failed``
Builder = Callable[[nn.Module, torch.Tensor, Path, str], dict[str, Any]]
BUILDERS: dict[str, Builder] = {
    "model.safetensors": _write_safetensors,
    "model.pt2": _write_pt2,
    "model.onnx": _write_onnx,
    "model.py": _write_py,
}


def _reason(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 3] + "..."


def build_bundle(
    root: Path,
    *,
    job: dict[str, Any],
    candidate: dict[str, Any],
    settings: Any = None,
) -> Path:
    """The candidate's bundle folder, built now unless it exists. ``job`` holds ``id`` and ``spec``;
    ``candidate`` holds ``seq``, ``arch_id``, ``arch``, ``metrics`` and ``provenance``, and for a
    finalist trained with the full schedule ``trained`` (its weights' path under ``root``, accuracy,
    epochs, evaluator and options): the bundle then carries those weights."""
    trained = candidate.get("trained")
    final = bundle_dir(root, job["id"], candidate["seq"], candidate["arch_id"], trained=trained is not None)
    if (final / "arch.json").exists():
        return final
    spec = job["spec"]
    arch = Architecture.from_dict(candidate["arch"])
    space = get_space(arch.space)
    info = dataset_info(spec["dataset"])
    task = Task(arch.space, info.in_channels, info.input_size, info.num_classes, spec["dataset"])
    if trained is not None:
        model, weights = _trained(arch, task, trained, root)
    else:
        model, weights = _model(arch, task, candidate.get("provenance", {}), settings)
    model.eval()
    # batch 2: torch.export specialises a dimension traced at size 1, and the batch is dynamic
    size = (2, info.in_channels, info.input_size, info.input_size)
    example = torch.randn(size, generator=torch.Generator().manual_seed(0))

    final.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".tmp-", dir=final.parent))
    try:
        title = f"{space.name} architecture {arch.arch_id} (job {job['id']}, candidate {candidate['seq']})"
        checks: dict[str, Any] = {}
        failed: dict[str, str] = {}
        with _TRACING:
            if (final / "arch.json").exists():  # built by the request this one waited for
                return final
            for name in FILES:
                try:
                    checks.update(BUILDERS[name](model, example, work / name, title))
                except Exception as e:  # one format's failure must not take the other files down
                    log.warning("candidate %s of job %s: %s not built: %s", candidate["seq"], job["id"], name, e)
                    (work / name).unlink(missing_ok=True)
                    failed[name] = _reason(e)
        built = [name for name in FILES if name not in failed]
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "arch_id": arch.arch_id,
            "architecture": arch.model_dump(mode="json"),
            "summary": space.summary(arch),
            "input": {
                "dataset": spec["dataset"],
                "shape": ["batch", *example.shape[1:]],
                "batch": f"dynamic, 1 to {MAX_BATCH} (pt2, onnx)",
                "num_classes": info.num_classes,
            },
            "metrics": candidate.get("metrics", {}),
            "produced_by": candidate.get("provenance", {}),
            "weights": weights,
            "provenance": {
                "job_id": job["id"],
                "candidate": candidate["seq"],
                "seed": spec.get("seed"),
                "strategy": spec.get("strategy"),
                "device": spec.get("device"),
                "service_version": version("nas-service"),
                "torch": torch.__version__,
                "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
            },
            "checks": checks,
            "load": {
                "weights": "space.build(arch).load_state_dict(safetensors.torch.load_file('model.safetensors'))"
                if weights.get("width", 1.0) == 1.0
                else f"a width-{weights['width']} subnet, not space.build(arch): load the weights into model.py",
                "standalone": "import model; net = model.build_model(); "
                "net.load_state_dict(safetensors.torch.load_file('model.safetensors'))",
                "pt2": "torch.export.load('model.pt2').module()",
                "onnx": "onnxruntime.InferenceSession('model.onnx')",
            },
            "files": {name: {"bytes": (work / name).stat().st_size, "sha256": _sha256(work / name)} for name in built},
            "failed": failed,  # file name -> why it could not be built (absent from the bundle)
        }
        (work / "arch.json").write_text(json.dumps(manifest, indent=2) + "\n")
        try:
            work.rename(final)
        except OSError:  # built concurrently by another request: keep theirs
            if not (final / "arch.json").exists():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final


def failed_files(folder: Path) -> dict[str, str]:
    """The bundle's formats that could not be built, with the reasons ``arch.json`` records."""
    return dict(json.loads((folder / "arch.json").read_text()).get("failed", {}))


def zip_front(
    root: Path,
    *,
    job: dict[str, Any],
    candidates: list[dict[str, Any]],
    settings: Any = None,
    extra: dict[str, str] | None = None,
) -> Path:
    """A zip of the bundles of ``candidates`` (the front) with a ``manifest.json`` listing each
    member's metrics, every file's sha256 and the formats that failed (``failed``, as in
    ``arch.json``; those files are absent), and the ``extra`` files (name -> text). Rebuilt when
    the front changed."""
    key = hashlib.sha256(
        ",".join(f"{c['seq']}-{c['arch_id']}{'-trained' if c.get('trained') else ''}" for c in candidates).encode()
    ).hexdigest()[:12]
    target = root / "exports" / job["id"] / f"front-{key}.zip"
    if target.exists():
        return target
    members = []
    for c in candidates:
        folder = build_bundle(root, job=job, candidate=c, settings=settings)
        name = folder.name
        members.append(
            {
                "folder": name,
                "seq": c["seq"],
                "arch_id": c["arch_id"],
                "metrics": c.get("metrics", {}),
                "files": {f: _sha256(folder / f) for f in ALL_FILES if (folder / f).exists()},
                "failed": failed_files(folder),
            }
        )
    manifest = {"schema_version": SCHEMA_VERSION, "job_id": job["id"], "objectives": job["spec"]["objectives"]}
    manifest["members"] = members
    # a name of its own per request: concurrent requests each write theirs, and the atomic
    # replace leaves one complete zip whichever finishes last
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out, zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
            z.writestr("manifest.json", json.dumps(manifest, indent=2) + "\n")
            for extra_name, text in (extra or {}).items():
                z.writestr(extra_name, text)
            for m in members:
                folder = bundle_dir(root, job["id"], m["seq"], m["arch_id"])
                for f in m["files"]:
                    z.write(folder / f, f"{m['folder']}/{f}")
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
