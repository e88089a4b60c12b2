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
    """One test, so the zoo's verification (equivalence proofs included) runs once per session.

    Its rows include, for every spec with a reference, the memory check: the inference peak and
    the saved-for-backward bytes of the compiled spec equal the reference's within one percentage
    point, or differ by what the spec's ``reference.memory`` explains (measured, within one point).
    """
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


def test_the_proof_sees_training_settings_that_logits_do_not():
    """Same weights, same eval logits: a BatchNorm momentum, a dropout or a drop-path rate that
    differs from the reference's still fails the proof, naming both modules."""
    from archprof.verify.equivalence import check

    for name, params, message in [
        ("efficientnet_b0", {"bn_momentum": 0.2}, "features.0.1 (BatchNorm2d) momentum 0.2, the reference's features.0.1 (BatchNorm2d) 0.1"),
        ("vgg11", {"drop_rate": 0.4}, "dropout rate of classifier.dropout_1 0.4, of the reference's classifier.2 0.5"),
        ("efficientnet_b0", {"stochastic_depth_prob": 0.3}, "drop-path rate of features.2.1.stochastic_depth 0.0375"),
    ]:
        result = check(archprof.load_spec(name, params=params))
        assert result.relative_diff <= 1e-4 and not result.passed(), (name, params)
        assert result.settings.startswith(message), result.settings
    row = [r for r in verify(archprof.load_spec("vgg11", params={"drop_rate": 0.4})) if r.check == "equivalence"][0]
    assert row.status == FAIL and "settings differ: dropout rate" in row.note


def test_an_unexplained_memory_difference_fails():
    from archprof.analysis import analyze
    from archprof.verify.checks import memory_check

    spec = archprof.load_spec("resnet18")
    a = analyze(spec)
    assert memory_check(spec, a).status != FAIL
    from archprof.spec.schema import Reference

    claimed = Reference.model_validate({**spec.reference.model_dump(), "memory": {"peak": "+5.0%", "note": "a wrong explanation"}})
    wrong = spec.model_copy(update={"reference": claimed})
    row = memory_check(wrong, a)
    assert row.status == FAIL and "±1 pt around peak +5.0%" in row.tolerance
