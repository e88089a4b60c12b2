"""``archprof diff A B``: two specs (or any two sources) side by side, per stage, with ratios.

Stages, by default, are runs of consecutive layers at the same output resolution (112x112,
56x56, ... as in the papers' stage tables), so that different families line up: ResNet-50's
layer1 and ConvNeXt-T's stages.0 both sit in the 56x56 row. A stage ends when the resolution
drops: a layer that still works at the higher resolution after the first downsampling of its
block (RegNet's and ResNet's 1x1 convolutions before the strided one, run after the shortcut's
projection) counts toward the lower one. Layers whose output has no image axes (token
sequences, reshapes inside attention) stay in the current stage; the head is the trailing run of pooled
layers (outputs without image or token axes). With ``--depth N`` the stages are instead the
name roll-up of ``archprof analyze --depth N``, paired by name (for variants of one family).
Rows present on one side only are shown with the other side empty.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from archprof.analysis.rows import receptive_field_text
from archprof.text import human, shape_text

HEAD = "head"


@dataclass(frozen=True)
class Stage:
    name: str
    layers: int
    output_shape: Any
    params: int
    macs: int
    flops: int
    activation_bytes: int
    receptive_field: str


@dataclass(frozen=True)
class Diff:
    labels: tuple[str, str]
    grouping: str
    totals: list[tuple[str, str, str, str]]  # quantity, A, B, B/A
    rows: list[tuple[Stage | None, Stage | None]]


def _first_shape(shape: Any) -> tuple[int, ...]:
    if isinstance(shape, (tuple, list)) and shape and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape or ())


def _resolution(shape: tuple[int, ...], batch: int, aspect: float) -> tuple[int, int] | None:
    """(H, W) of an NCHW or NHWC output whose image axes have the input's aspect ratio."""
    if len(shape) != 4 or shape[0] != batch:
        return None
    _, a, b, c = shape
    if b > 1 and c > 1 and abs(b / c - aspect) < 1e-9:
        return (b, c)
    if a > 1 and b > 1 and abs(a / b - aspect) < 1e-9:
        return (a, b)
    return None


def _pooled(shape: tuple[int, ...]) -> bool:
    return sum(1 for d in shape[1:] if d > 1) <= 1


def _stage(name: str, rows: list[dict]) -> Stage:
    return Stage(name, len(rows), rows[-1]["output_shape"], sum(r["params"] for r in rows), sum(r["macs"] for r in rows),
                 sum(r["flops"] for r in rows), sum(r["activation_bytes"] for r in rows), rows[-1]["receptive_field"])


def stages_by_resolution(analysis) -> list[Stage]:
    rows = analysis.layers.to_dict("records")
    height, width = analysis.input_shape[-2], analysis.input_shape[-1]
    aspect = height / width
    shapes = [_first_shape(r["output_shape"]) for r in rows]
    head_from = len(rows)
    while head_from > 0 and _pooled(shapes[head_from - 1]):
        head_from -= 1
    groups: list[tuple[str, list[dict]]] = []
    current = (height, width)
    for i, row in enumerate(rows):
        if i >= head_from:
            key = HEAD
        else:
            res = _resolution(shapes[i], analysis.batch, aspect)
            if res is not None and res[0] * res[1] < current[0] * current[1]:
                current = res   # stages only go down in resolution: a 1x1 conv before a block's stride
            key = f"{current[0]}x{current[1]}"
        if groups and groups[-1][0] == key:
            groups[-1][1].append(row)
        else:
            groups.append((key, [row]))
    return [_stage(k, g) for k, g in groups]


def stages_by_name(analysis, depth: int) -> list[Stage]:
    groups: list[tuple[str, list[dict]]] = []
    for row in analysis.layers.to_dict("records"):
        key = ".".join(str(row["name"]).split(".")[:depth])
        if groups and groups[-1][0] == key:
            groups[-1][1].append(row)
        else:
            groups.append((key, [row]))
    return [_stage(k, g) for k, g in groups]


def pair(left: list[Stage], right: list[Stage]) -> list[tuple[Stage | None, Stage | None]]:
    """Align two stage lists by name, keeping both orders (a sequence alignment)."""
    matcher = difflib.SequenceMatcher(a=[s.name for s in left], b=[s.name for s in right], autojunk=False)
    out: list[tuple[Stage | None, Stage | None]] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out += list(zip(left[i1:i2], right[j1:j2]))
        else:
            out += [(s, None) for s in left[i1:i2]] + [(None, s) for s in right[j1:j2]]
    return out


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None:
        return ""
    if a == 0:
        return "" if b == 0 else "—"
    return f"{b / a:.2f}x"


def _rf_total(t: dict) -> str:
    return receptive_field_text(t["receptive_field"])


def diff(a, b, *, depth: int | None = None) -> Diff:
    """Compare two analyses (:class:`archprof.analysis.Analysis`)."""
    labels = (a.source, b.source) if a.source != b.source else (f"{a.source} (A)", f"{b.source} (B)")
    ta, tb = a.totals, b.totals
    totals = [("input", f"{a.batch}x{'x'.join(map(str, a.input_shape))}", f"{b.batch}x{'x'.join(map(str, b.input_shape))}", "")]
    for label, key, unit in (("params", "params", ""), ("MACs", "macs", ""), ("FLOPs", "flops", ""),
                             ("activations written", "activation_bytes", "B"), ("inference peak", "peak_activation_bytes", "B"),
                             ("weights", "weight_bytes", "B"), ("training memory (AdamW)", "train_memory_adamw_bytes", "B")):
        totals.append((label, human(ta[key], unit), human(tb[key], unit), ratio(ta[key], tb[key])))
    totals.append(("receptive field", _rf_total(ta), _rf_total(tb), ""))
    totals.append(("input sizes", a.input_constraints["description"], b.input_constraints["description"], ""))
    if depth is None:
        grouping = "stages by output resolution (a stage ends where the resolution drops; head = pooled layers)"
        rows = pair(stages_by_resolution(a), stages_by_resolution(b))
    else:
        grouping = f"layers rolled up to depth {depth}, paired by name"
        rows = pair(stages_by_name(a, depth), stages_by_name(b, depth))
    return Diff(labels, grouping, totals, rows)


def frames(d: Diff):
    """The totals and the stage table as DataFrames of display strings."""
    import pandas as pd

    la, lb = d.labels
    totals = pd.DataFrame(d.totals, columns=["quantity", la, lb, "B/A"])

    def side(s: Stage | None, attr: str, unit: str | None = None) -> str:
        if s is None:
            return ""
        value = getattr(s, attr)
        if attr == "output_shape":
            return shape_text(value)
        if attr == "receptive_field":
            return value
        return human(value, unit or "")

    records = []
    for x, y in d.rows:
        records.append({
            "stage": (x or y).name,
            "A layers": str(x.layers) if x else "", "B layers": str(y.layers) if y else "",
            "A output": side(x, "output_shape"), "B output": side(y, "output_shape"),
            "A params": side(x, "params"), "B params": side(y, "params"),
            "params B/A": ratio(x and x.params, y and y.params),
            "A MACs": side(x, "macs"), "B MACs": side(y, "macs"),
            "MACs B/A": ratio(x and x.macs, y and y.macs),
            "A activations": side(x, "activation_bytes", "B"), "B activations": side(y, "activation_bytes", "B"),
            "act. B/A": ratio(x and x.activation_bytes, y and y.activation_bytes),
            "A RF": side(x, "receptive_field"), "B RF": side(y, "receptive_field"),
        })
    stages = pd.DataFrame.from_records(records, columns=["stage", "A layers", "B layers", "A output", "B output", "A params", "B params",
                                                         "params B/A", "A MACs", "B MACs", "MACs B/A", "A activations",
                                                         "B activations", "act. B/A", "A RF", "B RF"])
    return totals, stages


RIGHT = ("A layers", "B layers", "A params", "B params", "params B/A", "A MACs", "B MACs", "MACs B/A",
         "A activations", "B activations", "act. B/A", "B/A")


SHORT = {"A activations": "A act.", "B activations": "B act."}
DROP = (("A RF", "B RF"), ("A layers", "B layers"), ("A activations", "B activations", "act. B/A"), ("A output", "B output"))


def render(d: Diff, fmt: str, *, columns: list[str] | None = None, width: int | None = None, color: bool = False) -> str:
    from archprof.text import rich_table

    totals, stages = frames(d)
    la, lb = d.labels
    legend = f"A = {la}, B = {lb}; {d.grouping}; RF = receptive field (size /jump)."
    if fmt == "md":
        from archprof.report.markdown import md_table

        def table(frame):
            return md_table(list(frame.columns), frame.itertuples(index=False),
                            right=[i for i, c in enumerate(frame.columns) if c in RIGHT or c in (la, lb)])

        return (f"## {la} vs {lb}\n\n{legend}\n\n### Totals\n\n" + table(totals) + "\n### Stages\n\n" + table(stages))
    return (rich_table(totals, f"archprof diff: A = {la}, B = {lb}", RIGHT + (la, lb), width=width, color=color)
            + rich_table(stages, "per stage", RIGHT, footer=[legend], width=width, drop=DROP, short=SHORT, columns=columns, color=color))
