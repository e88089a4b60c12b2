"""``archprof verify``: every spec checked against the figures from its paper.

One row per spec and check: parameters and MACs against the published figures (units stated),
the equivalence proof against the reference implementation (which is what lets the published
ImageNet accuracy of that implementation's weights stand for the spec), and, on request, a short
training run on bundled data whose held-out accuracy must reach the spec's declared bar.
Accuracy figures are listed as INFO with their source, or measured with the reference's weights on
the user's ImageNet images (:mod:`archprof.verify.accuracy`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Callable

from archprof.spec import Figure, Spec, budgets

PASS, FAIL, INFO = "PASS", "FAIL", "INFO"
ESTIMATE = "ESTIMATE"   # measured on a subset: a value with its confidence interval, neither PASS nor FAIL


@dataclass(frozen=True)
class Check:
    spec: str
    check: str
    status: str
    ours: str
    paper: str
    tolerance: str
    source: str
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fmt(value: float, unit: str) -> str:
    if unit == "count":
        return f"{value:,.0f}"
    if unit == "%":
        return f"{value:g}%"
    return f"{value:,.4g} {unit}"


def _tol_text(f: Figure) -> str:
    if isinstance(f.tol, str):
        return f"±{f.tol}"
    if f.tol == 0:
        return "exact"
    return f"±{f.tol:g} pt" if f.unit == "%" else f"±{_fmt(f.tol, f.unit)}"


def figure_checks(spec: Spec, measured: "dict[str, float] | Callable[[Figure], float | None]") -> list[Check]:
    """Params and MACs figures against measured values; other figures as INFO rows.

    ``measured`` maps a metric to the value at the spec's input, or is a function of the figure
    (so a MACs figure published at another resolution is compared at that resolution).
    """
    value_of = measured if callable(measured) else (lambda f: measured.get(f.metric))
    rows = []
    for f in spec.figures:
        label = {"params": "params", "macs": "MACs (multiply-accumulates)"}.get(f.metric, f.metric)
        value = value_of(f) if f.metric in ("params", "macs") and f.check else None
        if value is not None:
            ours = value / (1 if f.unit == "count" else {"K": 1e3, "M": 1e6, "G": 1e9}.get(f.unit, 1))
            ok = abs(value - f.scaled()) <= f.tolerance() + 1e-9
            note = "; ".join(p for p in (f.note or "", f"at {f.resolution}x{f.resolution}" if f.resolution else "") if p)
            rows.append(Check(spec.name, label, PASS if ok else FAIL, _fmt(ours, f.unit), _fmt(f.value, f.unit), _tol_text(f), f.source, note))
        else:
            why = f.note or ("another version of the architecture" if not f.check else "published figure; not measured here")
            rows.append(Check(spec.name, label, INFO, "", _fmt(f.value, f.unit), _tol_text(f), f.source,
                              "; ".join(p for p in (why, f.dataset or "") if p)))
    return rows


def measure_figures(spec: Spec, analysis) -> "Callable[[Figure], float | None]":
    """Params from the analysis; MACs at the figure's resolution when it names another one."""
    from archprof.analysis import analyze

    at_size: dict[int, int] = {analysis.input_shape[-1]: analysis.totals["macs"]}

    def value(f: Figure) -> float | None:
        if f.metric == "params":
            return analysis.totals["params"]
        if f.metric != "macs":
            return None
        size = f.resolution or analysis.input_shape[-1]
        if size not in at_size:
            at_size[size] = analyze(spec, input_shape=(analysis.input_shape[0], size, size)).totals["macs"]
        return at_size[size]

    return value


def budget_checks(spec: Spec, totals: dict) -> list[Check]:
    """One row per budget the spec declares (``budgets:``), against the analysis totals."""
    rows = []
    for rule in budgets.parse_all(spec.budgets):
        result = rule.check(totals)
        rows.append(Check(spec.name, f"budget {rule.text}", PASS if result.ok else FAIL,
                          budgets.format_figure(result.value, budgets.FIELDS[rule.field][1]), rule.text, "", "the spec's budgets",
                          result.describe()))
    return rows


def equivalence_check(spec: Spec, tol: float = 1e-4, prove=None) -> Check:
    """The equivalence row; ``prove`` (spec -> Equivalence) lets callers reuse a proof already run."""
    from archprof.verify.equivalence import check

    result = (prove or check)(spec)
    ok = result.passed(tol)
    return Check(spec.name, "equivalence", PASS if ok else FAIL,
                 f"max abs Δlogit / logit scale = {result.relative_diff:.1e}, params {result.params:,}",
                 f"{result.reference} params {result.reference_params:,}", f"≤ {tol:g}",
                 "random weights of the reference loaded into the spec",
                 f"settings differ: {result.settings}" if result.settings else
                 "same logits and training settings ⇒ the reference's published accuracy applies")


def verify(spec: Spec, *, equivalence: "bool | Callable" = True, train: bool = False, accuracy=None) -> list[Check]:
    """All checks of one spec. ``equivalence`` may be a function spec -> Equivalence (a cache);
    ``accuracy`` (an :class:`~archprof.verify.accuracy.AccuracyRun`) measures the accuracy figures."""
    from archprof.analysis import analyze

    a = analyze(spec)
    rows = figure_checks(spec, measure_figures(spec, a))
    if accuracy is not None:
        rows = accuracy.measure(spec, rows)
    if a.uncounted_ops:
        rows.append(Check(spec.name, "uncounted ops", FAIL, ", ".join(a.uncounted_ops), "none", "", "analyser"))
    rows += budget_checks(spec, a.totals)
    if equivalence and spec.reference is not None:
        proof = equivalence_check(spec, prove=equivalence if callable(equivalence) else None)
        rows += [proof, memory_check(spec, a)]
        if proof.status == PASS:
            rows = reference_accuracy_applies(spec, rows)
    if train:
        rows.append(training_check(spec))
    return rows


def reference_accuracy_applies(spec: Spec, rows: list[Check]) -> list[Check]:
    """Once the equivalence proof passed, the published accuracy of the reference's weights is the
    spec's: its INFO rows say so. ``rows`` starts with one row per figure, in order."""
    library, model = spec.reference.library, spec.reference.model

    def by_reference(f: Figure) -> bool:
        return f.metric in ("top1", "top5") and (f.weights is not None or f.source.startswith(library))

    note = f"applies: equivalence to {library}:{model} passed"
    figures = [replace(r, note=note) if r.status == INFO and by_reference(f) else r for f, r in zip(spec.figures, rows)]
    return figures + rows[len(spec.figures):]


def memory_check(spec: Spec, analysis) -> Check:
    """The spec's inference peak and saved-for-backward bytes against its reference's: equal within
    one percentage point, or differing by what the spec's ``reference.memory`` explains."""
    from archprof.text import human
    from archprof.verify.equivalence import compare_memory

    m = compare_memory(spec, analysis)
    explained = spec.reference.memory
    text = {k: f"{human(m.ours[k], 'B')} ({m.delta(k):+.1%})" for k in ("peak", "saved")}
    expected = ", ".join(f"{k} {m.expected[k]:+.1%}" for k in ("peak", "saved") if m.expected[k]) or "equal"
    return Check(spec.name, "memory (inference peak, saved for backward)", FAIL if m.failures() else PASS,
                 f"peak {text['peak']}, saved {text['saved']}",
                 f"{spec.reference.library}:{spec.reference.model} peak {human(m.reference['peak'], 'B')}, saved {human(m.reference['saved'], 'B')}",
                 f"±1 pt around {expected}", "the same meta-device trace of both models",
                 explained.note if explained else "as lean as the reference")


def training_check(spec: Spec) -> Check:
    from archprof.train.trainability import run

    result = run(spec)
    ok = result.passed
    return Check(spec.name, f"training ({result.data})", PASS if ok else FAIL,
                 f"held-out acc {result.accuracy:.1%}, loss {result.first_loss:.2f}→{result.last_loss:.2f}",
                 f"≥ {result.bar:.0%}", "", f"{result.steps} steps, {result.seconds:.0f} s",
                 result.setting + (f"; the same network as {result.shared_with}" if result.shared_with else ""))
