"""verify with the real tools: semodule -p on a private policy root, setools on the linked policy."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath

import pytest
from conftest import compiled_from, invoke, make_project
from policy_tools import compile_module

from sitepolicy.definition.site import Site, site_from_mapping
from sitepolicy.inspect import read_payload_file
from sitepolicy.project import TargetLayout
from sitepolicy.render import render_policy
from sitepolicy.verify import verify_modules
from sitepolicy.verify.access import PolicyIndex
from sitepolicy.verify.allowlist import SHARED_TYPES
from sitepolicy.verify.cache import cache_key
from sitepolicy.verify.modules import SiteModule, modules_from_dir, modules_from_rpms
from sitepolicy.verify.policyroot import LinkedPolicy, link_policy
from sitepolicy.verify.proofs import (
    Finding,
    Proof,
    flow_sets,
    lookalike_paths,
    prove_entry,
    prove_isolation,
    prove_needs,
    prove_no_channel,
    prove_pairs,
)
from sitepolicy.verify.report import MATRIX_MAX_SITES, WEB_SERVER_ROW, Report, render_text
from sitepolicy.verify.run import VerifyFailed, check_verified, prove_all

PROJECT = Path(__file__).resolve().parent.parent
BROKEN = Path(__file__).parent / "data" / "broken-templates"
LIVE_TREES = (Path("/etc/selinux"), Path("/var/lib/selinux"))
EXAMPLE_CHECKS = 106  # both example sites, every proof (6 of proof 7 on the database sockets, 8 of proof 10 with mail)


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
    layout = TargetLayout(build.sources.parents[3], target)  # build/<target>/sites/<site>/sources
    return modules_from_rpms(layout, [b.site for b in example_builds.values()], tmp_path / "modules")


def example_base(example_runtime, target, tmp_path) -> Path:
    """The runtime's base module (issue 11): the sites' CIL modules link only with it."""
    member = f"/usr/share/selinux/packages/{target.store}/sitepolicy_base.cil.bz2"
    out = tmp_path / "sitepolicy_base.cil.bz2"
    tmp_path.mkdir(parents=True, exist_ok=True)
    out.write_bytes(read_payload_file(example_runtime.rpms[0], member))
    return out


def failures(report, proof: Proof) -> list[Finding]:
    return [f for f in report.failures if f.proof == proof]


@pytest.fixture(scope="module")
def examples_verified(example_builds, example_runtime, target, tmp_path_factory):
    """Both example sites from their built RPMs, linked and proven once (with the runtime's base module);
    the live trees hashed around it."""
    tmp = tmp_path_factory.mktemp("verify")
    base = example_base(example_runtime, target, tmp)
    before = {top: tree_digest(top) for top in LIVE_TREES}
    result = verify_modules(example_modules(example_builds, target, tmp), target.store, tmp / "verify", base=base)
    after = {top: tree_digest(top) for top in LIVE_TREES}
    return result, before, after, tmp


def test_examples_pass_every_proof(examples_verified, example_sites):
    result, *_ = examples_verified
    report = result.report
    assert result.relinked
    assert report.ok, render_text(report)
    for site in example_sites:
        own = {f.proof for f in report.findings if f.subject == site.name}
        assert own == set(Proof) - {Proof.WEB_SERVER}
        assert {f.proof for f in report.findings if f.obj == site.name and f.subject == "httpd_t"} == {Proof.WEB_SERVER}
    a, b = (s.name for s in example_sites)
    assert report.verdict(a, b) == "ok 2,3" and report.verdict(b, a) == "ok 2,3"
    assert report.verdict(a, a) == "ok 1,2,5,6,7,8,9,10" and report.verdict(WEB_SERVER_ROW, a) == "ok 4"
    assert f"all {EXAMPLE_CHECKS} checks passed" in render_text(report)


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
    modules = example_modules(example_builds, target, tmp / "again")
    again = verify_modules(modules, target.store, tmp / "verify", base=tmp / "sitepolicy_base.cil.bz2")
    assert not again.relinked and again.key == result.key
    assert (result.policy_root.stat().st_ino, kern.stat().st_mtime_ns) == stamp
    assert again.report.as_dict()["matrix"] == result.report.as_dict()["matrix"]


def test_cache_key_follows_every_module_and_definition(examples_verified, example_builds, target, tmp_path):
    result, *_ = examples_verified
    modules = example_modules(example_builds, target, tmp_path)
    base = result.policy_root.parent.parent / "sitepolicy_base.cil.bz2"  # examples_verified's tmp
    assert cache_key(modules, target.store, base=base) == result.key
    changed = tmp_path / "changed.cil.bz2"
    changed.write_bytes(modules[0].path.read_bytes() + b"\0")
    assert cache_key([SiteModule(modules[0].site, changed), *modules[1:]], target.store, base=base) != result.key
    moved = dataclasses.replace(modules[1].site, docroot=PurePosixPath("/srv/www/elsewhere"))
    assert cache_key([modules[0], SiteModule(moved, modules[1].path)], target.store, base=base) != result.key
    assert cache_key(modules[:1], target.store, base=base) != result.key


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
        "the site domain is enforcing (not permissive)",  # a type the policy does not have is not permissive
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
    assert f"all {EXAMPLE_CHECKS} checks passed" in result.stdout and "linked into" in result.stdout
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
    assert f"all {EXAMPLE_CHECKS} checks passed" in build.stderr and "not relinked" in build.stderr
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


# --------------------------------------------------------------------------- scale (hundreds of sites)


class CountingPolicy:
    """A setools policy that counts the passes over its TE rules (each pass reads every rule)."""

    def __init__(self, policy) -> None:
        self._policy = policy
        self.terule_passes = 0

    def terules(self):
        self.terule_passes += 1
        return self._policy.terules()

    def __getattr__(self, name: str):
        return getattr(self._policy, name)


def test_all_proofs_read_the_linked_rules_once(examples_verified, example_builds, target, tmp_path, monkeypatch):
    import setools

    result, *_ = examples_verified
    policies: list[CountingPolicy] = []
    real = setools.SELinuxPolicy

    def counting(path: str) -> CountingPolicy:
        policies.append(CountingPolicy(real(path)))
        return policies[-1]

    monkeypatch.setattr(setools, "SELinuxPolicy", counting)
    linked = LinkedPolicy(result.policy_root, target.store, 0.0)
    findings = prove_all(linked, example_modules(example_builds, target, tmp_path), tmp_path)
    assert [p.terule_passes for p in policies] == [1]
    assert findings == result.report.findings  # the same findings, in the same order, as the full verify


def test_pair_proofs_equal_the_pairwise_proofs_on_a_broken_policy(example_sites, target, headers, tmp_path):
    """prove_pairs (one walk per site) against prove_isolation and prove_no_channel pair by pair, where
    one site reads another's docroot and every site writes and reads /tmp."""
    import setools

    templates = tmp_path / "policy-templates"
    shutil.copytree(PROJECT / "policy-templates", templates)
    te = templates / "site.te.j2"
    for case in ("a-reads-b-docroot", "shared-tmp"):
        te.write_text(te.read_text() + (BROKEN / case / "site.te.j2.append").read_text())
    third = site_from_mapping(
        {"site": "third.example.com", "docroot": "/srv/www/third.example.com", "user": "third"},
        Path("third.example.com.yaml"),
    )
    sites = [*example_sites, third]
    modules = compiled_from(templates, sites, target, headers, tmp_path / "modules")
    linked = link_policy(tmp_path / "root", target.store, [m.path for m in modules])
    policy = CountingPolicy(setools.SELinuxPolicy(str(linked.policy_kern)))
    index = PolicyIndex(policy)
    index.preload([s.names.domain for s in sites])
    flows = {s.name: flow_sets(index, s) for s in sites}
    pairs = prove_pairs(index, sites, flows)
    assert policy.terule_passes == 1
    expected = {
        (s.name, o.name): [prove_isolation(index, s, o), prove_no_channel(s, flows[s.name], o, flows[o.name])]
        for s in sites
        for o in sites
        if o is not s
    }
    assert pairs == expected
    failed = {(f.proof, f.subject, f.obj) for found in pairs.values() for f in found if not f.ok}
    a, b = "selinux.rskeens.com", "private.rskeens.com"
    assert {f for f in failed if f[0] == Proof.ISOLATION} == {(Proof.ISOLATION, a, b)}
    assert {(Proof.CHANNELS, *pair) for pair in expected} <= failed


def synthetic_report(count: int, failing: tuple[str, str] | None = None) -> Report:
    names = tuple(f"s{i:02d}.example.com" for i in range(count))
    findings = []
    for s in names:
        findings += [Finding(Proof.ENTRY, s, s, True, "entry"), Finding(Proof.ISOLATION, s, "web content", True, "w")]
        findings.append(Finding(Proof.WEB_SERVER, "httpd_t", s, True, "httpd"))
        for o in names:
            if o != s:
                ok = (s, o) != failing
                findings.append(Finding(Proof.ISOLATION, s, o, True, "iso"))
                findings.append(Finding(Proof.CHANNELS, s, o, ok, "chan", () if ok else ("tmp_t:file written by: x",)))
    return Report(names, "default", tuple(findings), 1.0, 1.0)


def test_report_cells_are_the_findings_of_their_row_and_column():
    report = synthetic_report(4, failing=("s01.example.com", "s02.example.com"))

    def scanned(row: str, column: str) -> list[Finding]:  # the definition, one scan of all findings per cell
        if row == WEB_SERVER_ROW:
            return [f for f in report.findings if f.subject == "httpd_t" and f.obj == column]
        if row == column:
            return [f for f in report.findings if f.subject == row and f.obj in (row, "web content")]
        return [f for f in report.findings if f.subject == row and f.obj == column]

    for row in [*report.sites, WEB_SERVER_ROW]:
        for column in report.sites:
            assert report.cell(row, column) == scanned(row, column)
    assert report.verdict("s01.example.com", "s02.example.com") == "FAIL 3"
    assert report.verdict("s01.example.com", "s01.example.com") == "ok 1,2"


def test_text_report_summarises_many_sites_and_keeps_every_failure_json_keeps_the_matrix():
    small = render_text(synthetic_report(MATRIX_MAX_SITES))
    assert WEB_SERVER_ROW in small and "instead of the" not in small
    report = synthetic_report(MATRIX_MAX_SITES + 5, failing=("s03.example.com", "s07.example.com"))
    text = render_text(report)
    lines = text.splitlines()
    assert "one row per site instead of the 25 x 25 matrix" in text
    for site in report.sites:
        assert sum(line.startswith(site + " ") for line in lines) == 1
    row = next(line for line in lines if line.startswith("s03.example.com "))
    assert row.split()[1:] == ["ok", "1,2", "FAIL", "1", "of", "24", "ok", "24", "ok", "4"]
    assert "[proof 3: no channel through a shared type] s03.example.com -> s07.example.com: chan" in text
    assert "    tmp_t:file written by: x" in text and "1 of 1275 checks FAILED" in text
    data = json.loads(report.to_json())
    assert len(data["matrix"]) == 26 and all(len(cells) == 25 for cells in data["matrix"].values())
    assert data["matrix"]["s03.example.com"]["s07.example.com"] == "FAIL 3"
    assert len(data["findings"]) == len(report.findings)


@pytest.mark.slow
def test_a_hundred_and_fifty_sites_verify_and_summarise(target, headers, tmp_path):
    sites = [
        site_from_mapping(
            {"site": f"many{i:03d}.example.com", "docroot": f"/srv/www/many{i:03d}.example.com", "user": f"m{i:03d}"}
            | ({"writable": ["uploads"], "network": ["database"]} if i % 2 else {}),
            Path(f"many{i:03d}.example.com.yaml"),
        )
        for i in range(150)
    ]
    out = tmp_path / "modules"

    def compile_one(site: Site) -> None:
        directory = out / site.names.module
        render_policy(site, target).write(directory)
        compile_module(directory, headers, site.names.module)

    with ThreadPoolExecutor(os.cpu_count()) as pool:
        list(pool.map(compile_one, sites))
    result = verify_modules(modules_from_dir(out, sites), target.store, tmp_path / "verify")
    report = result.report
    assert report.ok, "\n".join(render_text(report).splitlines()[-40:])
    pairs = {(f.subject, f.obj) for f in report.findings if f.proof in (Proof.ISOLATION, Proof.CHANNELS)}
    assert len({p for p in pairs if p[1] != "web content"}) == 150 * 149
    text = render_text(report)
    assert "one row per site instead of the 150 x 150 matrix" in text and "checks passed" in text
    assert len(json.loads(report.to_json())["matrix"]) == 151
