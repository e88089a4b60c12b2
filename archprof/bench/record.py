"""``reports/bench/<spec>.json``: the benchmark file that ``archprof report`` reads (see report.inputs.load_result)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from archprof.bench.options import BenchResult
from archprof.errors import ArchprofError
from archprof.files import write_text_atomic


def _flat(mapping: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if v is None or isinstance(v, (str, int, float, bool))}


def report_record(result: BenchResult, spec_name: str, spec_hash: str | None, command: str,
                  previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """The benchmark file that ``archprof report`` shows: flat device fingerprint, one flat
    record per mode. Records of a previous file with the same device fingerprint are kept unless
    this run measured the same mode, batch, precision, layout and compile mode."""
    fp = result.fingerprint
    device = _flat({"name": fp["device"], "type": fp["device_type"], **{k: v for k, v in fp.items()
                    if k not in ("device", "device_type", "precision", "batch", "memory_format", "compile")}})
    results = []
    for run in result.runs:
        record = {
            "mode": "inference" if run["mode"] == "infer" else "training",
            "batch": run["batch"], "dtype": fp["precision"], "memory_format": fp["memory_format"], "compile": fp["compile"],
            "throughput": round(run["images_per_s"], 2), "throughput_p10": round(run["images_per_s_p10"], 2),
            "throughput_p90": round(run["images_per_s_p90"], 2), "step_ms": round(run["step_ms"], 3),
            "mfu": None if run["mfu"] is None else round(run["mfu"], 4),
            "peak_memory_bytes": run["peak_memory_bytes"], "compile_s": run["compile_s"], "steps": run["steps"],
        }
        if run["mode"] == "infer" and result.latency:
            record["latency_ms"] = round(result.latency["p50_ms"], 3)
            record["latency_p90_ms"] = round(result.latency["p90_ms"], 3)
        results.append(record)

    def key(r: dict[str, Any]) -> tuple:
        return tuple(r.get(k) for k in ("mode", "batch", "dtype", "memory_format", "compile"))

    if previous and previous.get("device") == device:
        ours = {key(r) for r in results}
        results = [r for r in previous.get("results", []) if key(r) not in ours] + results
    out = {"spec": spec_name, "device": device, "results": results, "command": command,
           "notes": "; ".join(result.notes) or None}
    if spec_hash:
        out["spec_hash"] = spec_hash
    return {k: v for k, v in out.items() if v is not None}


def write_report_record(folder: Path, result: BenchResult, spec, command: str) -> Path:


    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ArchprofError(f"--report-dir {folder}: cannot create the folder ({exc.strerror})") from None
    path = folder / f"{spec.name}.json"
    previous = None
    if path.is_file():
        try:
            previous = json.loads(path.read_text())
        except (ValueError, OSError):
            previous = None
    record = report_record(result, spec.name, spec.digest(), command, previous if isinstance(previous, dict) else None)
    write_text_atomic(path, json.dumps(record, indent=2) + "\n")
    return path
