"""Export bundles: everything a user takes home for one candidate, and zips of a whole front.

A bundle is a folder ``artifacts/exports/<job>/<seq>-<arch_id>/`` holding

* ``arch.json`` — schema version, the architecture (space, version, genome) and its id, the input
  shape, metrics with what produced each, provenance, where the weights come from, and the size
  and sha256 of every other file;
* ``model.safetensors`` — the weights (inherited from a supernet when the candidate's accuracy
  came from one, otherwise freshly initialised with a fixed seed: ``arch.json`` says which);
* ``model.pt2`` — a `torch.export` program (`torch.export.load`);
* ``model.onnx`` — the dynamo ONNX export, checked against PyTorch in ONNX Runtime at build time
  (the largest absolute difference is recorded);
* ``model.py`` — a torch-only model definition (`service.exports.standalone`).

Bundles are built once, into a temporary folder renamed into place, and then served as files.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
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
ONNX_TOLERANCE = 1e-4
MAX_BATCH = 1024
BATCH = ({0: torch.export.Dim("batch", min=1, max=MAX_BATCH)},)  # dynamic batch for .pt2 and ONNX

# evaluator name -> (what produced a metric, architecture, task, settings) -> (model with the
# evaluator's weights, description), or None when it has none. Evaluators that hold weights register
# here (service.exports.weights); every other candidate gets freshly initialised weights, labelled so.
WeightSource = Callable[[dict[str, Any], Architecture, Task, Any], "tuple[nn.Module, dict[str, Any]] | None"]
WEIGHT_SOURCES: Registry[WeightSource] = Registry(
    "weight source", {"supernet": "service.exports.weights:supernet_weights"}
)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def bundle_dir(root: Path, job_id: str, seq: int, arch_id: str) -> Path:
    return root / "exports" / job_id / f"{seq}-{arch_id}"


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


def _onnx(model: nn.Module, example: torch.Tensor, path: Path) -> float:
    """Export with the dynamo exporter and return the largest |ONNX Runtime - PyTorch| output gap."""
    import onnxruntime as ort

    torch.onnx.export(
        model, (example,), str(path), dynamo=True, dynamic_shapes=BATCH, external_data=False, verbose=False
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: example.numpy()})
    with torch.no_grad():
        want = model(example).numpy()
    gap = float(np.abs(got - want).max())
    if gap > ONNX_TOLERANCE:
        raise RuntimeError(f"ONNX export differs from PyTorch by {gap:.2e} (tolerance {ONNX_TOLERANCE:g})")
    return gap


def build_bundle(
    root: Path,
    *,
    job: dict[str, Any],
    candidate: dict[str, Any],
    settings: Any = None,
) -> Path:
    """The candidate's bundle folder, built now unless it exists. ``job`` holds ``id`` and ``spec``;
    ``candidate`` holds ``seq``, ``arch_id``, ``arch``, ``metrics`` and ``provenance``."""
    final = bundle_dir(root, job["id"], candidate["seq"], candidate["arch_id"])
    if (final / "arch.json").exists():
        return final
    spec = job["spec"]
    arch = Architecture.from_dict(candidate["arch"])
    space = get_space(arch.space)
    info = dataset_info(spec["dataset"])
    task = Task(arch.space, info.in_channels, info.input_size, info.num_classes, spec["dataset"])
    model, weights = _model(arch, task, candidate.get("provenance", {}), settings)
    model.eval()
    # batch 2: torch.export specialises a dimension traced at size 1, and the batch is dynamic
    size = (2, info.in_channels, info.input_size, info.input_size)
    example = torch.randn(size, generator=torch.Generator().manual_seed(0))

    final.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".tmp-", dir=final.parent))
    try:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(work / "model.safetensors"))
        program = torch.export.export(model, (example,), dynamic_shapes=BATCH)
        torch.export.save(program, str(work / "model.pt2"))
        onnx_gap = _onnx(model, example, work / "model.onnx")
        title = f"{space.name} architecture {arch.arch_id} (job {job['id']}, candidate {candidate['seq']})"
        (work / "model.py").write_text(standalone_source(model, (1, *example.shape[1:]), title=title))
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
            "checks": {"onnx_max_abs_diff": onnx_gap},
            "load": {
                "weights": "space.build(arch).load_state_dict(safetensors.torch.load_file('model.safetensors'))"
                if weights.get("width", 1.0) == 1.0
                else f"a width-{weights['width']} subnet, not space.build(arch): load the weights into model.py",
                "standalone": "import model; net = model.build_model(); "
                "net.load_state_dict(safetensors.torch.load_file('model.safetensors'))",
                "pt2": "torch.export.load('model.pt2').module()",
                "onnx": "onnxruntime.InferenceSession('model.onnx')",
            },
            "files": {name: {"bytes": (work / name).stat().st_size, "sha256": _sha256(work / name)} for name in FILES},
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


def zip_front(root: Path, *, job: dict[str, Any], candidates: list[dict[str, Any]], settings: Any = None) -> Path:
    """A zip of the bundles of ``candidates`` (the front) with a ``manifest.json`` listing each
    member's metrics and every file's sha256. Rebuilt when the front changed."""
    key = hashlib.sha256(",".join(f"{c['seq']}-{c['arch_id']}" for c in candidates).encode()).hexdigest()[:12]
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
                "files": {f: _sha256(folder / f) for f in ALL_FILES},
            }
        )
    manifest = {"schema_version": SCHEMA_VERSION, "job_id": job["id"], "objectives": job["spec"]["objectives"]}
    manifest["members"] = members
    tmp = target.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", json.dumps(manifest, indent=2) + "\n")
        for m in members:
            folder = bundle_dir(root, job["id"], m["seq"], m["arch_id"])
            for f in ALL_FILES:
                z.write(folder / f, f"{m['folder']}/{f}")
    tmp.replace(target)
    return target
