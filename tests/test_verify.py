"""verify with the real tools: semodule -p on a private policy root, setools on the linked policy."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from pathlib import Path, PurePosixPath

import pytest
from conftest import invoke, make_project

from sitepolicy.build import TargetLayout
from sitepolicy.render import render_policy
from sitepolicy.selinux import compile_module
from sitepolicy.site import Site, site_from_mapping
from sitepolicy.verify import verify_modules
from sitepolicy.verify.access import PolicyIndex
from sitepolicy.verify.allowlist import SHARED_TYPES
from sitepolicy.verify.cache import cache_key
from sitepolicy.verify.modules import SiteModule, modules_from_dir, modules_from_rpms
from sitepolicy.verify.proofs import Finding, Proof, lookalike_paths, prove_entry, prove_needs
from sitepolicy.verify.report import WEB_SERVER_ROW, render_text
from sitepolicy.verify.run import VerifyFailed
from sitepolicy.workflow import check_verified

PROJECT = Path(__file__).resolve().parent.parent
BROKEN = Path(__file__).parent / "data" / "broken-templates"
LIVE_TREES = (Path("/etc/selinux"), Path("/var/lib/selinux"))


def tree_digest(top: Path) -> str:
    """Names, modes, mtimes and contents of every file below ``top``."""
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            st = path.lstat()
            digest.update(f"{path} {st.st_mode} {st.st_mtime_ns}\n".encode())
            if path.is_file() and not path.is_symlink():
                digest.update(path.read_bytes())
    return digest.hexdigest()


def example_modules(example_builds, target, tmp_path):
    build = next(iter(example_builds.values()))
    layout = TargetLayout(build.srpm.parent.parent.parent, target)
    return modules_from_rpms(layout, [b.site for b in example_builds.values()], tmp_path / "modules")


def compiled_from(templates: Path, sites: list[Site], target, headers, out: Path):
    for site in sites:
        directory = out / site.names.module
        render_policy(site, target, templates).write(directory)
        compile_module(directory, headers, site.names.module)
    return modules_from_dir(out, sites)


def failures(report, proof: Proof) -> list[Finding]:
    return [f for f in report.failures if f.proof == proof]


@pytest.fixture(scope="module")
def examples_verified(example_builds, target, tmp_path_factory):
    """Both example sites from their built RPMs, linked and proven once; the live trees hashed around it."""
    tmp = tmp_path_factory.mktemp("verify")
    before = {top: tree_digest(top) for top in LIVE_TREES}
    result = verify_modules(example_modules(example_builds, target, tmp), target.store, tmp / "verify")
    after = {top: tree_digest(top) for top in LIVE_TREES}
    return result, before, after, tmp


def test_examples_pass_all_six_proofs(examples_verified, example_sites):
    result, *_ = examples_verified
    report = result.report
    assert result.relinked
    assert report.ok, render_text(report)
    for site in example_sites:
        own = {f.proof for f in report.findings if f.subject == site.name}
        assert own == {Proof.ENTRY, Proof.ISOLATION, Proof.CHANNELS, Proof.NEEDS, Proof.FILE_CONTEXTS}
        assert {f.proof for f in report.findings if f.obj == site.name and f.subject == "httpd_t"} == {Proof.WEB_SERVER}
    a, b = (s.name for s in example_sites)
    assert report.verdict(a, b) == "ok 2,3" and report.verdict(b, a) == "ok 2,3"
    assert report.verdict(a, a) == "ok 1,2,5,6" and report.verdict(WEB_SERVER_ROW, a) == "ok 4"
    assert "all 74 checks passed" in render_text(report)


def test_live_policy_is_unchanged_by_verify(examples_verified):
    result, before, after, _ = examples_verified
    assert result.relinked  # semodule really ran
    assert before == after


def test_policy_root_is_private_and_linked(examples_verified, example_sites, target):
    result, *_ = examples_verified
    root = result.policy_root
    assert (root / "var/lib/selinux" / target.store / "active/policy.kern").is_file()
    fc = (root / "etc/selinux" / target.store / "contexts/files/file_contexts").read_text()
    for site in example_sites:
        assert site.names.type("content") in fc
        assert (
            site.names.type("content")
            not in Path(f"/etc/selinux/{target.store}/contexts/files/file_contexts").read_text()
        )


def test_second_verify_of_the_same_modules_does_not_relink(examples_verified, example_builds, target):
    result, _, _, tmp = examples_verified
    kern = result.policy_root / "var/lib/selinux" / target.store / "active/policy.kern"
    stamp = (result.policy_root.stat().st_ino, kern.stat().st_mtime_ns)
    again = verify_modules(example_modules(example_builds, target, tmp / "again"), target.store, tmp / "verify")
    assert not again.relinked and again.key == result.key
    assert (result.policy_root.stat().st_ino, kern.stat().st_mtime_ns) == stamp
    assert again.report.as_dict()["matrix"] == result.report.as_dict()["matrix"]


def test_cache_key_follows_every_module_and_definition(examples_verified, example_builds, target, tmp_path):
    result, *_ = examples_verified
    modules = example_modules(example_builds, target, tmp_path)
    assert cache_key(modules, target.store) == result.key
    changed = tmp_path / "changed.pp.bz2"
    changed.write_bytes(modules[0].path.read_bytes() + b"\0")
    assert cache_key([SiteModule(modules[0].site, changed), *modules[1:]], target.store) != result.key
    moved = dataclasses.replace(modules[1].site, docroot=PurePosixPath("/srv/www/elsewhere"))
    assert cache_key([modules[0], SiteModule(moved, modules[1].path)], target.store) != result.key
    assert cache_key(modules[:1], target.store) != result.key


@pytest.mark.parametrize(
    ("case", "proof", "subject", "obj", "rule"),
    [
        (
            "a-reads-b-docroot",
            Proof.ISOLATION,
            "selinux.rskeens.com",
            "private.rskeens.com",
            "allow sitepolicy_selinux_rskeens_com_t sitepolicy_private_rskeens_com_content_t:file read;",
        ),
        (
            "httpd-writes-docroot",
            Proof.WEB_SERVER,
            "httpd_t",
            "selinux.rskeens.com",
            "allow httpd_t sitepolicy_selinux_rskeens_com_content_t:file "
            "{ append getattr ioctl lock open read write };",
        ),
        (
            "shared-tmp",
            Proof.CHANNELS,
            "selinux.rskeens.com",
            "private.rskeens.com",
            "tmp_t:file written by: allow sitepolicy_private_rskeens_com_t tmp_t:file",
        ),
        (
            "unescaped-dot",
            Proof.FILE_CONTEXTS,
            "selinux.rskeens.com",
            "selinux.rskeens.com",
            "/srv/www/selinuxXrskeens.com resolves to sitepolicy_selinux_rskeens_com_content_t by: "
            "/srv/www/selinux.rskeens.com(/.*)?\tsystem_u:object_r:sitepolicy_selinux_rskeens_com_content_t:s0",
        ),
    ],
)
def test_broken_templates_fail_with_the_rule_named(
    case, proof, subject, obj, rule, example_sites, target, headers, tmp_path
):
    templates = tmp_path / "policy-templates"
    shutil.copytree(PROJECT / "policy-templates", templates)
    for path in (BROKEN / case).iterdir():
        if path.name.endswith(".append"):
            dest = templates / path.name.removesuffix(".append")
            dest.write_text(dest.read_text() + path.read_text())
        else:
            shutil.copy(path, templates / path.name)
    modules = compiled_from(templates, example_sites, target, headers, tmp_path / "modules")
    result = verify_modules(modules, target.store, tmp_path / "verify")
    report = result.report
    assert not report.ok
    broken = [f for f in failures(report, proof) if f.subject == subject and f.obj == obj]
    assert broken, render_text(report)
    assert any(rule in r for f in broken for r in f.rules), render_text(report)
    text = render_text(report)
    assert "FAIL" in text and rule.split("\t")[0] in text
    with pytest.raises(VerifyFailed) as failed:
        check_verified(result)
    assert failed.value.exit_code != 0


def test_a_domain_without_its_rules_fails_entry_and_needs_naming_the_permission(examples_verified):
    import setools

    result, *_ = examples_verified
    kern = result.policy_root / "var/lib/selinux" / result.report.store / "active/policy.kern"
    index = PolicyIndex(setools.SELinuxPolicy(str(kern)))
    ghost = site_from_mapping(
        {"site": "ghost.example.com", "docroot": "/srv/www/ghost.example.com", "user": "ghost"},
        Path("ghost.example.com.yaml"),
    )
    entry = prove_entry(index, ghost)
    # init_t executing httpd_exec_t, and no automatic transition, hold whatever the site
    assert {f.what for f in entry if f.ok} == {
        "init_t may execute httpd_exec_t",
        "no automatic transition on httpd_exec_t",
    }
    assert "no unconditional rule allows init_t sitepolicy_ghost_example_com_t:process { transition }" in {
        r for f in entry for r in f.rules
    }
    needs = prove_needs(index, ghost)
    assert needs and not any(f.ok for f in needs)
    assert any("capability { setgid setuid }" in r for f in needs for r in f.rules)


def test_lookalikes_keep_real_writable_dirs_and_the_docroot_content():
    site = site_from_mapping(
        {"site": "a.example.com", "docroot": "/srv/www/a.example.com", "user": "a", "writable": ["up", "up-old"]},
        Path("a.example.com.yaml"),
    )
    paths = dict(lookalike_paths(site))
    assert "/srv/www/aXexample.com" in paths and "/srv/www/a.example.com-old" in paths
    assert "/srv/www/a.example.com/up-old" not in paths  # a look-alike of up, but a real writable dir
    assert "/srv/www/a.example.com/up-old/index.php" not in paths
    assert paths["/srv/www/a.example.com/upX/index.php"] == {site.names.type(r) for r in site.names.types} - {
        site.names.type("content")
    }


def test_every_shared_type_has_a_reason():
    assert all(len(s.reason) > 30 and s.classes for s in SHARED_TYPES)
    assert not any("file" == c for s in SHARED_TYPES for c in s.classes if s.type.endswith("content_t"))


def test_invoke_verify_then_build_site_all_without_relinking(tmp_path, target):
    root = make_project(tmp_path)
    result = invoke(root, "verify")
    assert result.returncode == 0, result.stderr
    assert "all 74 checks passed" in result.stdout and "linked into" in result.stdout
    assert list((root / "build" / target.name / "rpms").glob("*-selinux-*.rpm"))  # built what was missing
    kern = root / "build" / target.name / "verify/policy-root/var/lib/selinux" / target.store / "active/policy.kern"
    stamp = kern.stat().st_mtime_ns

    one = invoke(root, "verify", "selinux.rskeens.com", "--json")
    assert one.returncode == 0, one.stderr
    data = json.loads(one.stdout)
    assert data["ok"] and data["findings"]
    assert all("selinux.rskeens.com" in (f["subject"], f["object"]) for f in data["findings"])

    build = invoke(root, "build-site", "--all")
    assert build.returncode == 0, build.stderr
    assert "all 74 checks passed" in build.stderr and "not relinked" in build.stderr
    assert all(Path(line).is_file() for line in build.stdout.strip().splitlines())  # paths still last
    assert kern.stat().st_mtime_ns == stamp

    unknown = invoke(root, "verify", "nope.example.com")
    assert unknown.returncode == 2 and "Traceback" not in unknown.stderr


def generated_sites(count: int) -> list[Site]:
    return [
        site_from_mapping(
            {"site": f"gen{i:02d}.example.com", "docroot": f"/srv/www/gen{i:02d}.example.com", "user": f"gen{i:02d}"}
            | ({"writable": ["uploads"]} if i % 2 else {"network": ["database"]}),
            Path(f"gen{i:02d}.example.com.yaml"),
        )
        for i in range(count)
    ]


@pytest.mark.slow
def test_fifty_generated_sites_in_one_store_install(target, headers, tmp_path):
    sites = generated_sites(50)
    start = time.monotonic()
    modules = compiled_from(PROJECT / "policy-templates", sites, target, headers, tmp_path / "modules")
    compiled = time.monotonic() - start
    result = verify_modules(modules, target.store, tmp_path / "verify")
    report = result.report
    print(
        f"\n50 sites: compile {compiled:.1f} s, link (one semodule call) {report.link_seconds:.1f} s, "
        f"proofs {report.prove_seconds:.1f} s, {len(report.findings)} checks"
    )
    assert report.ok, render_text(report)
    assert len(report.sites) == 50
    assert sum(1 for f in report.findings if f.proof == Proof.ISOLATION and f.obj != "web content") == 50 * 49
