"""The example sites built with each Fedora/RHEL target's own headers pass every proof against a copy of
that target's linked targeted policy (../shared/targets, skipped with the reason when absent)."""

from __future__ import annotations

import pytest
from conftest import PROJECT, TARGET_NAMES, compiled_from, shared_target

from sitepolicy.package.headers import Headers
from sitepolicy.targets import PROFILES
from sitepolicy.verify import verify_modules
from sitepolicy.verify.proofs import Proof
from sitepolicy.verify.report import render_text


@pytest.mark.slow
@pytest.mark.parametrize("name", TARGET_NAMES)
def test_example_sites_pass_every_proof_on_the_target_policy(name, example_sites, tmp_path):
    shared = shared_target(name, need_root=True)
    target = PROFILES[name]
    headers = Headers(shared / "devel", is_host=False)
    modules = compiled_from(PROJECT / "policy-templates", example_sites, target, headers, tmp_path / "modules")
    result = verify_modules(modules, target.store, tmp_path / "verify", use_cache=False, live_root=shared / "root")
    report = result.report
    print(
        f"\n{name}: link {report.link_seconds:.1f} s, proofs {report.prove_seconds:.1f} s, "
        f"{len(report.findings)} checks, {len(report.failures)} failed"
    )
    assert report.ok, render_text(report)
    assert {f.proof for f in report.findings} == set(Proof)
    entry = [f for f in report.findings if f.proof == Proof.ENTRY and "NoNewPrivileges" in f.what]
    assert len(entry) == len(example_sites) and all(f.ok for f in entry)
    assert not (shared / "root" / "var/lib/selinux/targeted/active/modules/200").exists()  # linked into a copy
