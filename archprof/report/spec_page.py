"""The report of one spec: totals, paper figures, stages, heaviest layers, receptive field, constraints, results."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from archprof.analysis.rows import receptive_field_text
from archprof.report.entry import Entry, Links, spec_path_text, stages, verify_status
from archprof.report.inputs import verified_hash
from archprof.report.markdown import MARK, exact, fmt_value, md_cell, md_table, pct
from archprof.text import human, shape_text

TOP = 10


def _figure_rows(entry: Entry) -> list[list[str]]:
    from archprof.verify import PASS, figure_checks, measure_figures
    from archprof.verify.checks import reference_accuracy_applies

    checks = figure_checks(entry.spec, measure_figures(entry.spec, entry.analysis))
    recorded = [r for r in entry.checks if r["check"] not in {c.check for c in checks}]
    proof = next((r for r in recorded if r["check"] == "equivalence"), None)
    if proof is not None and proof["status"] == PASS and entry.spec.reference is not None:
        checks = reference_accuracy_applies(entry.spec, checks)   # as in archprof verify
    rows = [c.as_dict() for c in checks]
    out = []
    for r in rows + recorded:
        out.append([r["check"], r.get("ours", ""), r.get("paper", ""), r.get("tolerance", ""), r["status"],
                    r.get("source", ""), r.get("note", "")])
    return out


def _result_section(title: str, kind: str, entry: Entry, data: dict | None, links: Links) -> list[str]:
    lines = [f"## {title}", ""]
    if data is None:
        lines += [f"Nothing recorded: `{kind}/{entry.name}.json` is absent (its format is in {links.results()}).", ""]
        return lines
    if data.get("command"):
        lines += [f"Command: `{data['command']}`", ""]
    if data.get("spec_hash") and data["spec_hash"] != entry.spec.digest():
        lines += [f"**Stale:** measured on spec hash `{data['spec_hash']}`, the spec is now `{entry.spec.digest()}`.", ""]
    lines += ["Device fingerprint:", ""]
    lines.append(md_table(["field", "value"], [[k, fmt_value(v)] for k, v in data["device"].items()]))
    columns: list[str] = []
    for record in data["results"]:
        columns += [k for k in record if k not in columns]
    numeric = {i for i, c in enumerate(columns) if all(isinstance(r.get(c), (int, float)) for r in data["results"] if r.get(c) is not None)}
    lines.append(md_table(columns, [[fmt_value(r.get(c)) for c in columns] for r in data["results"]], right=numeric))
    if data.get("notes"):
        lines += [md_cell(data["notes"]), ""]
    return lines


def layer_cells(frame) -> list[list[str]]:
    return [[r["name"], r["type"], shape_text(r["output_shape"]), human(r["params"]), human(r["macs"]),
             human(r["flops"]), human(r["activation_bytes"], "B"), r["receptive_field"], r["notes"]]
            for r in frame.to_dict("records")]


LAYER_HEADER = ["layer", "type", "output", "params", "MACs", "FLOPs", "activations", "receptive field", "notes"]


def _rf_ratio(size: Any, side: int) -> str:
    return f"{size[0] / side:.2f}" if isinstance(size, tuple) and side else ""


def _source_head(entry: Entry, vers: str) -> list[str]:
    """The head of a report on a library or Python-file source: what was built, no paper figures."""
    a = entry.analysis
    label = str(a.source)
    built = ("the library's model with random weights, on the meta device" if label.split(":")[0] in ("torchvision", "timm")
             else "the class or factory of that Python file, on the meta device")
    head = [["source", f"`{label}` ({built})"],
            ["input", f"{a.batch}x{'x'.join(map(str, a.input_shape))} (batch {a.batch}, {a.dtype})"],
            ["versions", vers]]
    return [MARK, "", f"# {label}", "", md_table(["", ""], head),
            "Not a spec: no paper figures, verification or recorded results; the analysis below is the same as "
            f"`archprof analyze {label}`.", ""]


def spec_markdown(entry: Entry, vers: str, images: dict[str, str], links: Links = Links()) -> str:
    lines = _source_head(entry, vers) if entry.spec is None else _spec_head(entry, vers)
    lines += _body(entry, images, links)
    return "\n".join(lines)


def _spec_head(entry: Entry, vers: str) -> list[str]:
    s, a = entry.spec, entry.analysis
    name = s.name
    lines = [MARK, "", f"# {name}" + (f": {s.title}" if s.title else ""), ""]
    if s.family and s.variant:
        kind = f"`{s.variant}` of family `{s.family}`"
    else:
        kind = f"family `{s.family}`" if s.family else (f"`{s.variant}`" if s.variant else "—")
    head = [["spec", f"`{name}` ({spec_path_text(s)})"], ["variant", kind]]
    if s.paper:
        by = ", ".join(str(p) for p in (s.paper.authors, s.paper.year) if p)
        head.append(["paper", (f"[{s.paper.title}]({s.paper.url})" if s.paper.url else s.paper.title) + (f" ({by})" if by else "")])
    if s.reference:
        head.append(["reference implementation", f"`{s.reference.library}:{s.reference.model}`"])
    head += [["input", f"{a.batch}x{'x'.join(map(str, a.input_shape))} (batch {a.batch}, {a.dtype})"],
             ["spec hash", f"`{s.digest()}` (Spec.digest(): everything the spec file defines)"],
             ["versions", vers],
             ["verification", verify_status(entry) or "not in verify.json"]]
    lines.append(md_table(["", ""], head))
    if s.description:
        lines += [" ".join(s.description.split()), ""]
    return lines


def _figures(entry: Entry, links: Links) -> list[str]:
    s = entry.spec
    verify = ("read from [verify.json](verify.json) ([verify.md](verify.md))" if links.verify
              else "read from verify.json beside the reports (absent here)")
    lines = ["## Paper figures and verification", "",
             "params and MACs are measured now and compared with each figure's tolerance; accuracy and "
             "throughput figures are quoted (INFO). The equivalence proof against the reference implementation "
             f"(same weights, same logits) is slow, so it is {verify}, not run here.", ""]
    lines.append(md_table(["figure", "ours", "paper", "tolerance", "status", "source", "note"], _figure_rows(entry)))
    if s.reference is None:
        lines += ["No public reference implementation: no equivalence proof.", ""]
    elif not any(r["check"] == "equivalence" for r in entry.checks):
        lines += [f"Equivalence to `{s.reference.library}:{s.reference.model}`: not recorded in verify.json "
                  f"(run `{links.refresh}`).", ""]
    if verify_status(entry).startswith("stale"):
        lines += [f"**Stale:** verify.json was recorded for another version of this spec's architecture, figures or "
                  f"reference (verified hash now `{verified_hash(s)}`); rerun `{links.refresh}`.", ""]
    return lines


def _body(entry: Entry, images: dict[str, str], links: Links) -> list[str]:
    a, name = entry.analysis, entry.name
    t = a.totals
    lines: list[str] = []
    # totals
    rf = t["receptive_field"]
    lines += ["## Totals", "",
              f"Units as defined in {links.units()}: MACs are multiply-accumulates "
              "(what most papers call FLOPs), FLOPs are 2·MACs plus element-wise work, memory is in binary units "
              f"(1 MiB = 2^20 bytes) at batch {a.batch} in {a.dtype}.", ""]
    total_rows = [
        ["params", human(t["params"]), exact(t["params"])],
        ["trainable params", human(t["trainable_params"]), exact(t["trainable_params"])],
        ["MACs (multiply-accumulates)", human(t["macs"]), exact(t["macs"])],
        ["FLOPs", human(t["flops"]), exact(t["flops"])],
        ["activation memory written (all layer outputs)", human(t["activation_bytes"], "B"), exact(t["activation_bytes"], " B")],
        ["inference peak activation memory", human(t["peak_activation_bytes"], "B"), exact(t["peak_activation_bytes"], " B")],
        ["weights and buffers", human(t["weight_bytes"], "B"), exact(t["weight_bytes"], " B")],
        ["training memory, SGD + momentum", human(t["train_memory_sgd_bytes"], "B"), exact(t["train_memory_sgd_bytes"], " B")],
        ["training memory, AdamW", human(t["train_memory_adamw_bytes"], "B"), exact(t["train_memory_adamw_bytes"], " B")],
        ["of which saved for backward", human(t["saved_activation_bytes"], "B"), exact(t["saved_activation_bytes"], " B")],
        ["receptive field", receptive_field_text(rf), ""],
    ]
    lines.append(md_table(["quantity", "value", "exact"], total_rows, right=(1, 2)))

    if entry.spec is not None:
        lines += _figures(entry, links)

    # stages
    depth, parts = stages(a)
    lines += ["## Stages", "",
              f"The model's groups at depth {depth} (the first {'part' if depth == 1 else f'{depth} parts'} of the layer "
              f"names, as `archprof analyze {name if entry.spec is not None else a.source} --depth {depth}`); the single layers before the first group are the "
              "stem, those after the last the head, and a model without groups is split where its output resolution "
              "changes. Output and receptive field are those of the stage's last layer.", ""]
    lines.append(md_table(
        ["stage", "layers", "type", "output", "params", "% params", "MACs", "% MACs", "FLOPs", "activations", "% act.",
         "receptive field"],
        [[r["name"], r["members"], r["type"], shape_text(r["output_shape"]), human(r["params"]), pct(r["params"], t["params"]),
          human(r["macs"]), pct(r["macs"], t["macs"]), human(r["flops"]), human(r["activation_bytes"], "B"),
          pct(r["activation_bytes"], t["activation_bytes"]), r["receptive_field"]] for r in parts],
        right=range(4, 11)))
    lines += [f"![MACs and activation memory per stage of {name}]({images['stages']})", ""]

    # heaviest layers
    layers = a.layers.reset_index(drop=True)
    by_macs = layers[layers["macs"] > 0].sort_values("macs", ascending=False, kind="mergesort").head(TOP)
    by_act = layers[layers["activation_bytes"] > 0].sort_values("activation_bytes", ascending=False, kind="mergesort").head(TOP)
    lines += ["## Heaviest layers", "", f"### Top {TOP} layers by MACs", ""]
    lines.append(md_table(["#", "layer", "type", "output", "MACs", "% of MACs", "params"],
                          [[i + 1, r["name"], r["type"], shape_text(r["output_shape"]), human(r["macs"]), pct(r["macs"], t["macs"]),
                            human(r["params"])] for i, r in enumerate(by_macs.to_dict("records"))], right=(0, 4, 5, 6)))
    lines += [f"### Top {TOP} layers by activation memory", ""]
    lines.append(md_table(["#", "layer", "type", "output", "activations", "% of written"],
                          [[i + 1, r["name"], r["type"], shape_text(r["output_shape"]), human(r["activation_bytes"], "B"),
                            pct(r["activation_bytes"], t["activation_bytes"])] for i, r in enumerate(by_act.to_dict("records"))],
                          right=(0, 4, 5)))
    lines += [f"![MACs and activation memory of every layer of {name}]({images['layers']})", ""]

    # receptive field
    side = a.input_shape[-1]
    lines += ["## Receptive field", "",
              "Per stage, at its last layer: the input window one output position sees (size) and the input pixels "
              "between neighbouring positions (jump); `global` once a position sees the whole input, `unknown` where "
              "the tracker does not model an op (windowed attention, layout permutes).", ""]
    lines.append(md_table(["stage", "output", "receptive field", "jump", "window / input side"],
                          [[r["name"], shape_text(r["output_shape"]),
                            "x".join(map(str, r["rf_size"])) if isinstance(r["rf_size"], tuple) else r["receptive_field"],
                            "x".join(map(str, r["rf_jump"])) if isinstance(r["rf_jump"], tuple) else "",
                            _rf_ratio(r["rf_size"], side)] for r in parts], right=(2, 3, 4)))
    lines += [f"![Receptive field through the depth of {name}]({images['rf']})", ""]

    # input constraints, uncounted ops
    c = a.input_constraints
    lines += ["## Input constraints", "",
              f"Derived from the built model (square sizes probed up to {c['probed_up_to']}): **{c['description']}**.", ""]
    lines.append(md_table(["min size", "max size", "fixed size", "multiple of"],
                          [["x".join(map(str, c["min_size"])) if c["min_size"] else "none",
                            "x".join(map(str, c["max_size"])) if c["max_size"] else "no bound found",
                            "yes" if c["fixed_size"] else "no", c["multiple_of"]]]))
    lines += ["## Uncounted ops", ""]
    if a.uncounted_ops:
        lines += ["**Not empty: these ops have no cost rule, so MACs and FLOPs above are incomplete.**", ""]
        lines.append(md_table(["op", "calls"], sorted(a.uncounted_ops.items()), right=(1,)))
    else:
        lines += ["None: every op of the traced forward pass has a cost rule.", ""]

    if entry.spec is not None:
        lines += _result_section("Benchmark", "bench", entry, entry.bench, links)
        lines += _result_section("Training", "train", entry, entry.train, links)

    # all layers
    lines += ["## All layers", "", f"<details><summary>{len(layers)} layers (click to expand)</summary>", ""]
    lines.append(md_table(LAYER_HEADER, layer_cells(layers), right=(3, 4, 5, 6)))
    lines += ["</details>", ""]
    return lines


def spec_plots(entry: Entry, out: Path) -> dict[str, str]:
    """Draw the three plots of a spec; return their links relative to the report."""
    from archprof.report import plots as rp

    a, name = entry.analysis, entry.name
    layers = a.layers.reset_index(drop=True)
    depth, parts = stages(a)
    starts = [p["first"] for p in parts]
    names = [p["name"] for p in parts]
    links = {kind: f"img/{name}-{kind}.png" for kind in ("stages", "layers", "rf")}
    rp.stage_bars(names, [p["macs"] for p in parts], [p["activation_bytes"] for p in parts], out / links["stages"],
                  f"{name}: per stage")
    rp.layer_profile(list(layers["name"]), list(layers["macs"]), list(layers["activation_bytes"]), out / links["layers"],
                     f"{name}: per layer", stages=list(zip(starts, names)))
    rf = layers["receptive_field"].tolist()
    global_at = next((i for i, v in enumerate(rf) if v == "global"), None)
    unknown_at = next((i for i, v in enumerate(rf) if v == "unknown"), None)
    rp.rf_growth([s[0] if isinstance(s, tuple) else None for s in layers["rf_size"]],
                 [j[0] if isinstance(j, tuple) else None for j in layers["rf_jump"]],
                 a.input_shape[-1], out / links["rf"], f"{name}: receptive field through depth",
                 global_at=global_at, unknown_at=unknown_at, stages=list(zip(starts, names)))
    return links
