"""Stage 4, reports: Markdown with plots, one per spec, the zoo index, verify.md, and ``archprof diff``.

Every file written here is a pure function of the code, the specs and the optional result files
in the reports folder — no timestamps, no absolute paths, fixed number formats, stable order,
deterministic PNGs — so regenerating gives byte-identical files and a stale report shows up as
a diff. The optional inputs (all JSON, read only, :mod:`.inputs`):

* ``verify.json`` — the checks of ``archprof verify`` (written by ``archprof report --verify``,
  or ``archprof verify --format json -o reports/verify.json``); the slow equivalence proof is
  never run while reports are generated, its recorded status is shown instead;
* ``bench/<spec>.json`` and ``train/<spec>.json`` — benchmark and training results, in the
  small contract of :func:`~archprof.report.inputs.load_result` (documented in the README's
  "Reports" section).

Layout of the output folder: ``<spec>.md`` per spec (:mod:`.spec_page`),
``img/<spec>-{stages,layers,rf}.png`` (:mod:`.plots`), ``README.md`` (the zoo index, :mod:`.index`)
with ``img/zoo-*.png``, and ``verify.md``. :mod:`.folder` writes and checks a folder;
:mod:`.diff` compares two analyses stage by stage.
"""
from archprof.report.folder import (RESERVED, check, compare, generate, generated_files, refresh_command, run_verify, select,
                                    specs_of, unverified)
from archprof.report.inputs import load_result, load_verify, verified_hash
from archprof.report.markdown import MARK, REFRESH, md_table, versions_text

__all__ = ["MARK", "REFRESH", "RESERVED", "check", "compare", "generate", "generated_files", "load_result", "load_verify",
           "md_table", "refresh_command", "run_verify", "select", "specs_of", "unverified", "verified_hash", "versions_text"]
