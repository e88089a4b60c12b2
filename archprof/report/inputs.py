"""What reports read besides the specs: verify.json and the benchmark and training result files."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from archprof.errors import ArchprofError
from archprof.spec import Spec

VERIFY_SCHEMA = "archprof.verify/1"
RESULT_KINDS = ("bench", "train")
VERIFIED_FIELDS = ("input", "params", "let", "blocks", "layers", "figures", "reference")


def verified_hash(spec: Spec) -> str:
    """A hash of what ``archprof verify`` depends on: the architecture (input, params, let, blocks,
    layers), the figures and the reference, not training recipes or descriptions. verify.json rows
    carry it, so a report can tell that a recorded verification is stale."""
    data = spec.stable_dump(include=set(VERIFIED_FIELDS))
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:12]


def load_verify(path: Path) -> dict | None:
    """``verify.json``: either the list ``archprof verify --format json`` prints, or the object
    ``archprof report --verify`` writes (``{"schema", "generated_with", "checks": [...]}``)."""
    if not path.is_file():
        return None
    data = _read_json(path)
    if isinstance(data, list):
        data = {"checks": data}
    if not isinstance(data, dict) or not isinstance(data.get("checks"), list):
        raise ArchprofError(f"{path}: expected a list of checks or an object with 'checks'")
    for i, row in enumerate(data["checks"]):
        if not isinstance(row, dict) or not all(isinstance(row.get(k), str) for k in ("spec", "check", "status")):
            raise ArchprofError(f"{path}: checks[{i}] needs string fields spec, check and status")
    return data


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ArchprofError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    except UnicodeDecodeError:
        raise ArchprofError(f"{path}: not UTF-8 text") from None


def load_result(path: Path, spec_name: str) -> dict | None:
    """A benchmark or training result file, validated against the small contract::

        {"spec": "resnet50",                        # required: the spec's name
         "device": {"name": "NVIDIA H100 80GB HBM3", "type": "cuda", ...},  # required: fingerprint
         "results": [{"batch": 256, "dtype": "bf16", "throughput": 3012.5, ...}, ...],  # required
         "command": "archprof bench resnet50 ...",  # optional: how it was produced
         "spec_hash": "0123456789ab",               # optional: Spec.digest() of what was measured
         "notes": "..."}                            # optional

    ``device`` and each record of ``results`` are flat mappings of strings, numbers, booleans or
    null (``results`` may also be one mapping). In benchmark files ``throughput`` (images/s) is
    the headline that the zoo index shows for ``device.type == "cuda"``.
    """
    if not path.is_file():
        return None
    data = _read_json(path)
    if not isinstance(data, dict):
        raise ArchprofError(f"{path}: expected a JSON object with spec, device and results")
    if data.get("spec") != spec_name:
        raise ArchprofError(f"{path}: 'spec' must be '{spec_name}', got {json.dumps(data.get('spec'))}")
    results = data.get("results")
    if isinstance(results, dict):
        results = [results]
    if not isinstance(results, list) or not results:
        raise ArchprofError(f"{path}: 'results' must be a non-empty list of flat objects")
    device = data.get("device")
    if not isinstance(device, dict) or not device:
        raise ArchprofError(f"{path}: 'device' must be a non-empty object (the device fingerprint)")
    for where, record in [("device", device)] + [(f"results[{i}]", r) for i, r in enumerate(results)]:
        if not isinstance(record, dict):
            raise ArchprofError(f"{path}: {where} must be an object")
        for key, value in record.items():
            if not (value is None or isinstance(value, (str, int, float, bool))):
                raise ArchprofError(f"{path}: {where}.{key} must be a string, number, boolean or null")
    for key in ("command", "spec_hash", "notes"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise ArchprofError(f"{path}: '{key}' must be a string")
    return {**data, "results": results}


def gpu_throughput(bench: dict | None) -> str:
    """The best measured ``throughput`` on a CUDA device, with its batch and dtype when given."""
    if not bench or str(bench["device"].get("type", "")).lower() != "cuda":
        return ""
    rows = [r for r in bench["results"] if isinstance(r.get("throughput"), (int, float)) and not isinstance(r.get("throughput"), bool)]
    if not rows:
        return ""
    best = max(rows, key=lambda r: r["throughput"])
    extra = ", ".join(f"{k} {best[k]}" for k in ("dtype", "batch") if best.get(k) is not None)
    return f"{best['throughput']:,.0f} img/s" + (f" ({extra})" if extra else "")
