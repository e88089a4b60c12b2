"""Writing a reports folder, re-running verification for stale specs, and checking a folder is current."""
from __future__ import annotations

import shlex
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterable, Union

from archprof.errors import ArchprofError
from archprof.files import write_text_atomic
from archprof.report.entry import Entry, Links, source_name, spec_path_text
from archprof.report.index import index_markdown, index_plots, verify_markdown
from archprof.report.inputs import VERIFY_SCHEMA, load_result, load_verify, verified_hash
from archprof.report.markdown import MARK, REFRESH, VERSION_RE, versions_text
from archprof.report.spec_page import spec_markdown, spec_plots
from archprof.analysis.sources import Source
from archprof.spec import Spec, load_spec, zoo_names

RESERVED = {"README", "verify"}


def unverified(specs: list[Spec], verify: dict | None) -> list[Spec]:
    """The specs with no rows in verify.json, or rows recorded for another spec hash."""
    recorded: dict[str, set] = {}
    for r in (verify or {}).get("checks", []):
        recorded.setdefault(r["spec"], set()).add(r.get("verified_hash"))
    return [s for s in specs if recorded.get(s.name) != {verified_hash(s)}]


def run_verify(specs: list[Spec], previous: dict | None, progress: Callable[[str], None] = lambda m: None) -> dict:
    """Run ``archprof verify`` (with the equivalence proof) on ``specs`` and merge the rows into
    the previous verify.json: rows of the specs run now replace theirs, others are kept."""
    import timm
    import torch
    import torchvision

    import archprof
    from archprof.verify import verify

    by_spec: dict[str, list[dict]] = {}
    for r in (previous or {}).get("checks", []):
        by_spec.setdefault(r["spec"], []).append(r)
    for spec in specs:
        started = time.monotonic()
        by_spec[spec.name] = [{**c.as_dict(), "verified_hash": verified_hash(spec)} for c in verify(spec, equivalence=True)]
        progress(f"verified {spec.name} ({time.monotonic() - started:.0f} s)")
    made = {"torch": torch.__version__, "torchvision": torchvision.__version__, "timm": timm.__version__, "archprof": archprof.__version__}
    if not specs and previous and isinstance(previous.get("generated_with"), dict):
        made = previous["generated_with"]  # nothing ran: the rows are still the earlier run's
    return {"schema": VERIFY_SCHEMA,
            "generated_with": made,
            "command": "archprof report --verify",
            "checks": [r for name in sorted(by_spec) for r in by_spec[name]]}


Target = Union[Spec, Source]  # what a report is written on: a spec, or a torchvision:/timm:/file.py: source


def select(sources: Iterable[str]) -> list[Target]:
    """Specs by name or path, or library and Python-file sources (default: the whole zoo), checked
    for clashes between their report names and with the index files."""
    from archprof.analysis.sources import is_spec, open_source

    targets: list[Target] = [load_spec(s) if is_spec(s) else open_source(s) for s in (list(sources) or zoo_names())]
    seen: dict[str, str] = {}
    for t in targets:
        name, where = (t.name, spec_path_text(t)) if isinstance(t, Spec) else (source_name(t.label), t.label)
        if name in RESERVED:
            raise ArchprofError(f"report name '{name}' clashes with the report folder's own {name}.md")
        if name in seen:
            raise ArchprofError(f"two sources give the report name '{name}': {seen[name]} and {where}")
        seen[name] = where
    return targets


def specs_of(targets: list[Target]) -> list[Spec]:
    return [t for t in targets if isinstance(t, Spec)]


def refresh_command(sources: Iterable[str], out: Path) -> str:
    """The command that regenerates a reports folder, as the reports tell it: the repository's own
    for the zoo in ``reports``, else the sources and folder that were given (the index of a subset
    adds ``--index`` to it)."""
    sources = list(sources)
    if not sources and Path(out) == Path("reports"):
        return REFRESH
    return shlex.join(["archprof", "report", *(sources or ["--all"]), "--verify-stale", "--out", str(out)])


def analyse(target: Target, inputs: Path, verify: dict | None) -> Entry:
    from archprof.analysis import analyze

    if not isinstance(target, Spec):
        return Entry(spec=None, analysis=analyze(target))
    spec = target
    return Entry(spec=spec, analysis=analyze(spec),
                 checks=[r for r in (verify or {}).get("checks", []) if r["spec"] == spec.name],
                 bench=load_result(inputs / "bench" / f"{spec.name}.json", spec.name),
                 train=load_result(inputs / "train" / f"{spec.name}.json", spec.name))


def generate(specs: list[Target], out: Path, *, inputs: Path | None = None, index: bool = True,
             progress: Callable[[str], None] = lambda m: None, prune: bool = False, refresh: str = REFRESH) -> list[Path]:
    """Write the reports of ``specs`` (specs or sources) into ``out`` (and the index and verify.md
    when ``index``); result files are read from ``inputs`` (default: ``out``); ``refresh`` is the
    command the reports name for regenerating them. Returns the files written."""
    out = Path(out)
    inputs = Path(inputs) if inputs is not None else out
    if out.exists() and not out.is_dir():
        raise ArchprofError(f"{out}: not a folder")
    (out / "img").mkdir(parents=True, exist_ok=True)
    vers = versions_text()
    verify = load_verify(inputs / "verify.json")
    links = Links.beside(inputs, verify is not None and (index or (inputs / "verify.md").is_file()), refresh)
    written: list[Path] = []
    entries = []
    for target in specs:
        entry = analyse(target, inputs, verify)
        images = spec_plots(entry, out)
        write_text_atomic(out / f"{entry.name}.md", spec_markdown(entry, vers, images, links))
        written += [out / f"{entry.name}.md"] + [out / link for link in images.values()]
        entries.append(entry)
        progress(f"wrote {entry.name}.md")
    if index:
        index_plots(entries, out)
        write_text_atomic(out / "README.md", index_markdown(entries, vers, verify, links))
        written += [out / "README.md", out / "img" / "zoo-accuracy-vs-macs.png", out / "img" / "zoo-params-vs-macs.png"]
        if verify is not None:
            write_text_atomic(out / "verify.md", verify_markdown(verify, set(zoo_names())))
            written.append(out / "verify.md")
    pngs = {p.name for p in written if p.suffix == ".png"}
    if prune:
        for stale in sorted(set(generated_files(out)) - {p.resolve() for p in written}):
            stale.unlink()
            progress(f"removed stale {stale.relative_to(out.resolve())}")
    else:
        pngs |= {n for n in _manifest(out.resolve()) if (out / "img" / n).is_file()}
    write_text_atomic(out / MANIFEST, "".join(f"{n}\n" for n in sorted(pngs)))
    return written


MANIFEST = "img/.generated"   # the PNGs archprof wrote into a reports folder, one name a line


def _manifest(folder: Path) -> set[str]:
    try:
        return {line for line in (folder / MANIFEST).read_text(encoding="utf-8").splitlines() if line}
    except (OSError, UnicodeDecodeError):
        return set()


def generated_files(folder: Path) -> list[Path]:
    """Files of a reports folder that ``generate`` writes (not its inputs): markdown that starts
    with :data:`MARK`, and the PNGs named in the folder's manifest. A file of the user's own there
    is never listed, so never pruned."""
    folder = Path(folder).resolve()
    if not folder.is_dir():
        return []
    found = []
    for md in sorted(folder.glob("*.md")):
        with md.open("rb") as handle:
            if handle.read(len(MARK)) == MARK.encode():
                found.append(md)
    found += [folder / "img" / name for name in sorted(_manifest(folder)) if (folder / "img" / name).is_file()]
    return found


def compare(expected: Path, actual: Path, only: set[str] | None = None) -> tuple[list[str], bool]:
    """Generated files that differ between two folders (relative names; ``only``: just these),
    and whether the library versions matched. When the expected files name other versions than
    the running ones, the version text is ignored and PNGs are compared by name only (fonts and
    rasterisation change between matplotlib releases); everything else must match byte for byte."""
    expected, actual = Path(expected).resolve(), Path(actual).resolve()
    a = {p.relative_to(expected).as_posix(): p for p in generated_files(expected)}
    b = {p.relative_to(actual).as_posix(): p for p in generated_files(actual)}
    if only is not None:
        a = {k: v for k, v in a.items() if k in only}
    current = versions_text()
    index = expected / "README.md"
    recorded = VERSION_RE.search(index.read_text(encoding="utf-8")) if index.is_file() else None
    same_versions = recorded is None or recorded.group(0) == current
    differ = sorted(set(a) ^ set(b))
    for name in sorted(set(a) & set(b)):
        x, y = a[name].read_bytes(), b[name].read_bytes()
        if not same_versions:
            if name.endswith(".png"):
                continue
            x, y = (VERSION_RE.sub("", v.decode("utf-8")).encode() for v in (x, y))
        if x != y:
            differ.append(name)
    return sorted(differ), same_versions


def check(folder: Path, specs: list[Target], *, whole_zoo: bool = True, index: bool = False,
          refresh: str = REFRESH) -> tuple[list[str], bool]:
    """Regenerate into a temporary folder (reading the results in ``folder``) and compare; for a
    subset of the zoo only that subset's files are compared."""
    with tempfile.TemporaryDirectory(prefix="archprof-report-") as tmp:
        written = generate(specs, Path(tmp), inputs=folder, index=whole_zoo or index, refresh=refresh)
        only = None if whole_zoo else {p.resolve().relative_to(Path(tmp).resolve()).as_posix() for p in written}
        return compare(folder, Path(tmp), only)
