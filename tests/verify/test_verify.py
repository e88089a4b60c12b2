"""`archprof verify` over the whole zoo: every check passes, and the committed table is current."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

import archprof
from archprof.cli import main
from archprof.verify import FAIL, verify

from conftest import ZOO, equivalence

REFRESH = "archprof report --all --verify-stale"


def test_the_whole_zoo_verifies_and_the_committed_table_is_current():
    """One test, so the zoo's verification (equivalence proofs included) runs once per session."""
    rows = []
    for name in ZOO:
        rows += [r.as_dict() for r in verify(archprof.load_spec(name), equivalence=lambda spec: equivalence(spec.name))]
    failed = [f"{r['spec']} {r['check']}: {r['ours']} vs {r['paper']}" for r in rows if r["status"] == FAIL]
    assert not failed
    assert {r["spec"] for r in rows} == set(ZOO)

    committed = json.loads((Path(__file__).resolve().parents[2] / "reports" / "verify.json").read_text())["checks"]

    def key(r):  # the equivalence row's numbers depend on the machine's float rounding; its status does not
        return (r["spec"], r["check"], r["status"], r["paper"], "" if r["check"] == "equivalence" else r["ours"])

    assert sorted(map(key, committed)) == sorted(map(key, rows)), f"reports/verify.json is stale: run `{REFRESH}`"


def test_verify_command_exit_codes(tmp_path):
    result = CliRunner().invoke(main, ["verify", "lenet5", "resnet18", "--no-equivalence", "--format", "json"])
    assert result.exit_code == 0, result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text((archprof.spec.bundled_dir() / "lenet5.yaml").read_text().replace("value: 61706", "value: 61000"))
    result = CliRunner().invoke(main, ["verify", str(bad), "--no-equivalence"])
    assert result.exit_code == 1 and "FAIL" in result.output
