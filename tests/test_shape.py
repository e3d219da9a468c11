"""Issue 11's policy shape: the shared base module (base.te.j2, compiled per target) and the per-site CIL
modules (site.cil.j2) grant every site exactly what today's per-site .pp modules grant, and pass every
proof of verify, on Debian's policy and on each ../shared target policy."""

from __future__ import annotations

import bz2
import dataclasses
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import EXAMPLES, PROJECT, TARGET_NAMES, compiled_from, shared_target

from sitepolicy.definition.site import load_sites, site_from_mapping
from sitepolicy.errors import SitepolicyError, ToolError
from sitepolicy.package.headers import Headers, resolve_headers
from sitepolicy.render import cil_string, render_site_cil
from sitepolicy.shape import basecil
from sitepolicy.shape.base import compile_base
from sitepolicy.shape.basecil import BaseCilError, BaseNames, base_cil
from sitepolicy.shape.equivalence import SiteView, differences, policy_views, site_types
from sitepolicy.shape.names import BASE_MODULE, base_attributes, base_names
from sitepolicy.targets import PROFILES, host_target
from sitepolicy.tools import run
from sitepolicy.verify import verify_modules
from sitepolicy.verify.modules import SiteModule, cil_file_contexts
from sitepolicy.verify.policyroot import link_policy
from sitepolicy.verify.proofs import Proof
from sitepolicy.verify.report import render_text

MAIL_SITE = site_from_mapping(
    {"site": "mail.example.com", "docroot": "/srv/www/mail.example.com", "user": "mailexample", "mail": "sendmail"},
    Path("mail.example.com.yaml"),
)
TRIAL_SITE = site_from_mapping(
    {"site": "trial.example.com", "docroot": "/srv/www/trial.example.com", "user": "trialex", "mode": "permissive"},
    Path("trial.example.com.yaml"),
)


def test_site_cil_declares_the_site_types_and_joins_only_sitepolicy_attributes():
    own = set(base_attributes())
    for site in [*load_sites(EXAMPLES), MAIL_SITE, TRIAL_SITE]:
        text = render_site_cil(site).files[f"{site.names.module}.cil"]
        declared = set(re.findall(r"^\(type (\S+)\)$", text, re.MULTILINE))
        assert declared == set(site_types(site))
        joined = set(re.findall(r"^\(typeattributeset (\S+) ", text, re.MULTILINE))
        assert joined and joined <= own, joined - own
        # every rule is between the site's own domain and its own types, with the base's permission sets
        for source, target, perms in re.findall(r"^\(allow (\S+) (\S+) (\S+)\)$", text, re.MULTILINE):
            assert source == site.names.domain and target in declared and perms.startswith("sitepolicy_")
        assert "require" not in text and "`" not in text  # no require walk, nothing for m4
        assert cil_file_contexts(text).count("\n") == text.count("(filecon ")
        assert ("(typepermissive " in text) == site.permissive


@pytest.mark.parametrize("value", ['/srv/a"b', "/srv/a\nb", "/srv/a\x00b", "/srv/a\tb"])
def test_a_cil_string_refuses_what_would_end_it(value):
    with pytest.raises(SitepolicyError):
        cil_string(value)


COMPILED = """(type sitepolicy_domain)
(roletype object_r sitepolicy_domain)
(type sitepolicy_perm_exec)
(roletype object_r sitepolicy_perm_exec)
(type sitepolicy_perm_exec_on)
(typeattributeset file_type (sitepolicy_domain sitepolicy_perm_exec_on httpd_exec_t))
(typeattributeset entry_type (sitepolicy_perm_exec_on))
(allow sitepolicy_perm_exec sitepolicy_perm_exec_on (file (entrypoint)))
(allow sitepolicy_domain self (process (fork)))
(type sitepolicy_pair_mail)
(roletype object_r sitepolicy_pair_mail)
(type sitepolicy_pair_mail_on)
(allow sitepolicy_pair_mail sitepolicy_pair_mail_on (process (transition)))
(typetransition sitepolicy_pair_mail shell_exec_t process sitepolicy_pair_mail_on)
"""


def _exec_only() -> BaseNames:
    names = base_names()
    return dataclasses.replace(names, perm_sets=tuple(p for p in names.perm_sets if p[2] == "sitepolicy_exec_perms"))


def test_the_base_cil_turns_placeholders_into_attributes_and_permission_sets(tmp_path):
    out = base_cil(COMPILED, _exec_only())
    assert out.splitlines() == [
        "(typeattribute sitepolicy_domain)",
        "(roletype object_r sitepolicy_domain)",
        "(classpermission sitepolicy_exec_perms)",
        "(typeattributeset file_type (sitepolicy_domain httpd_exec_t))",
        "(classpermissionset sitepolicy_exec_perms (file (entrypoint)))",
        "(allow sitepolicy_domain self (process (fork)))",
        "(macro sitepolicy_mail_pair ((type sitepolicy_pair_mail) (type sitepolicy_pair_mail_on))",
        "    (allow sitepolicy_pair_mail sitepolicy_pair_mail_on (process (transition)))",
        "    (typetransition sitepolicy_pair_mail shell_exec_t process sitepolicy_pair_mail_on)",
        ")",
    ]
    with pytest.raises(BaseCilError, match="placeholder"):
        base_cil(COMPILED + "(allow httpd_t sitepolicy_perm_exec_on (file (read)))\n", _exec_only())
    with pytest.raises(BaseCilError, match="onto"):
        base_cil(COMPILED + "(allow sitepolicy_perm_exec httpd_t (file (read)))\n", _exec_only())
    with pytest.raises(BaseCilError, match="pair placeholder"):
        base_cil(COMPILED + "(typeattributeset domain (sitepolicy_pair_mail_on))\n", _exec_only())
    with pytest.raises(BaseCilError, match="no permissions"):
        base_cil(
            COMPILED.replace("(allow sitepolicy_perm_exec sitepolicy_perm_exec_on (file (entrypoint)))\n", ""),
            _exec_only(),
        )
    # The same file runs without sitepolicy, as the runtime package's %build runs it: names as JSON.
    script = tmp_path / "basecil.py"
    script.write_text(Path(basecil.__file__).read_text())
    (tmp_path / "names.json").write_text(_exec_only().to_json())
    ran = subprocess.run(
        [sys.executable, "-I", str(script), str(tmp_path / "names.json")],
        input=COMPILED,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert ran.returncode == 0 and ran.stdout == out, ran.stderr
    bad = subprocess.run(
        [sys.executable, "-I", str(script), str(tmp_path / "names.json")],
        input=COMPILED + "(allow httpd_t sitepolicy_perm_exec_on (file (read)))\n",
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1 and "placeholder" in bad.stderr and not bad.stdout


def _view(rules: set[tuple[str, str, str, str, str]]) -> SiteView:
    return SiteView("a.example.com", frozenset(rules), (), (), frozenset({"system_r"}), False, frozenset())


def test_the_comparison_names_a_permission_one_shape_lacks():
    rule = ("allow", "sitepolicy_a_example_com_content_t", "file", "map", "")
    other = ("allow", "sitepolicy_a_example_com_content_t", "file", "read", "")
    assert differences(_view({rule, other}), _view({rule, other})) == []
    found = differences(_view({rule, other}), _view({other}))
    assert found and "only in the old shape" in found[0] and "map" in found[0]


def _policies():
    yield pytest.param("host", id="host")
    for name in TARGET_NAMES:
        yield pytest.param(name, id=name, marks=pytest.mark.slow)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(_policies()))
def test_the_new_shape_grants_the_same_and_passes_every_proof(name, example_sites, tmp_path):
    """Old shape (a .pp per site) and new shape (base + CIL per site) linked into copies of the same
    policy: each site's expanded rules, attributes, roles and file contexts are identical, and verify's
    proofs all pass on the new shape. The examples, a site with mail: sendmail (its helper domain) and a
    trial run (mode: permissive: its domain permissive in both shapes, reported as a trial by verify)."""
    example_sites = [*example_sites, MAIL_SITE, TRIAL_SITE]
    if name == "host":
        target = host_target()
        headers, live_root = resolve_headers(target, None), Path("/")
    else:
        shared = shared_target(name, need_root=True)
        target, headers, live_root = PROFILES[name], Headers(shared / "devel", is_host=False), shared / "root"
    old_modules = compiled_from(PROJECT / "policy-templates", example_sites, target, headers, tmp_path / "old")
    old = link_policy(tmp_path / "old-root", target.store, [m.path for m in old_modules], live_root)

    base = compile_base(target, headers.directory, tmp_path / "base")
    new_modules = []
    for site in example_sites:
        render_site_cil(site).write(tmp_path / "new")
        new_modules.append(SiteModule(site, tmp_path / "new" / f"{site.names.module}.cil"))
    result = verify_modules(new_modules, target.store, tmp_path / "verify", False, live_root, base=base)
    assert result.report.ok, render_text(result.report)
    assert {f.proof for f in result.report.findings} == set(Proof)

    store = Path("var/lib/selinux") / target.store
    new_kern = result.policy_root / store / "active" / "policy.kern"
    new_fc = result.policy_root / "etc/selinux" / target.store / "contexts/files/file_contexts"
    olds = policy_views(old.policy_kern, old.file_contexts, example_sites)
    news = policy_views(new_kern, new_fc, example_sites)
    for before, after in zip(olds, news):
        print(
            f"\n{name} {before.site}: {before.allow_count} allow + {before.dontaudit_count} dontaudit tuples of the "
            f"domain, {sum(len(r) for _, r in before.type_rules)} on its types, {len(before.file_contexts)} contexts"
        )
        assert before.domain_rules and all(rules for _, rules in before.type_rules)
        assert differences(before, after) == []
    assert (result.policy_root / store / "active/modules/200" / BASE_MODULE).is_dir()


def _installed(root: Path, store: str) -> dict[str, str]:
    """Module name -> language of every module at priority 200 in the private root."""
    out = run(["semodule", "-p", root, "-s", store, "-lfull"])
    return {f[1]: f[2] for f in (line.split() for line in out.splitlines()) if len(f) >= 3 and f[0] == "200"}


@pytest.mark.slow
def test_a_host_with_todays_modules_moves_to_the_new_shape_in_one_call(example_sites, target, headers, tmp_path):
    """The upgrade path: the base and every site's CIL module replace the .pp modules in ONE semodule call
    (.cil.bz2, as packages ship them); a call that cannot link (the base missing) changes nothing, so a
    site is never without its module."""
    old_modules = compiled_from(PROJECT / "policy-templates", example_sites, target, headers, tmp_path / "old")
    old = link_policy(tmp_path / "root", target.store, [m.path for m in old_modules])
    before = policy_views(old.policy_kern, old.file_contexts, example_sites)
    pp = {s.names.module: "pp" for s in example_sites}
    assert _installed(old.root, target.store) == pp

    packed = tmp_path / "packed"
    packed.mkdir()
    base = compile_base(target, headers.directory, tmp_path / "base")
    shipped = [packed / f"{BASE_MODULE}.cil.bz2"]
    shipped[0].write_bytes(bz2.compress(base.read_bytes()))
    for site in example_sites:
        text = render_site_cil(site).files[f"{site.names.module}.cil"]
        shipped.append(packed / f"{site.names.module}.cil.bz2")
        shipped[-1].write_bytes(bz2.compress(text.encode()))

    semodule = ["semodule", "-p", old.root, "-s", target.store, "-n", "-X", "200", "-i"]
    with pytest.raises(ToolError):
        run([*semodule, *shipped[1:]])  # the site modules without the base do not link
    assert _installed(old.root, target.store) == pp  # and nothing changed

    run([*semodule, *shipped])
    assert _installed(old.root, target.store) == {BASE_MODULE: "cil", **{m: "cil" for m in pp}}
    after = policy_views(old.policy_kern, old.file_contexts, example_sites)
    for a, b in zip(before, after):
        assert differences(a, b) == []


@dataclass(frozen=True)
class CilChange:
    key: str
    cil: str  # appended to site.cil.j2
    proof: Proof
    obj: str  # "a", "b" or "web content"
    cause: str


CIL_BREAKING = (
    CilChange("perm", "(typepermissive {{ t.domain }})\n", Proof.ENTRY, "a", "permissive sitepolicy_a__perm_"),
    # a rule written on sitepolicy's own attribute reaches every other site's type of that role
    CilChange(
        "attr",
        "(allow {{ t.domain }} sitepolicy_content sitepolicy_content_perms)\n",
        Proof.ISOLATION,
        "b",
        "sitepolicy_b__attr_example_com_content_t is in the attribute sitepolicy_content",
    ),
    CilChange(
        "web",
        "(typeattributeset httpdcontent ({{ t.content }}))\n",
        Proof.ISOLATION,
        "web content",
        "sitepolicy_a__web_example_com_content_t is in the attribute httpdcontent",
    ),
    CilChange(
        "parent",
        '(filecon "/var/lib/sitepolicy(/.*)?" any (system_u object_r {{ t.tmp }} ((s0) (s0))))\n',
        Proof.FILE_CONTEXTS,
        "a",
        "/var/lib/sitepolicy is outside the paths of a-parent.example.com",
    ),
)


@pytest.mark.slow
def test_verify_catches_a_site_cil_module_that_breaks_isolation(target, headers, tmp_path):
    """The proofs read the CIL shape as they read .pp modules: each change to site.cil.j2 that breaks
    isolation fails the proof it breaks, naming its cause (the variants linked in one call)."""
    modules, sites_of = [], {}
    for change in CIL_BREAKING:
        templates = tmp_path / "templates" / change.key
        shutil.copytree(PROJECT / "policy-templates", templates)
        (templates / "site.cil.j2").write_text((templates / "site.cil.j2").read_text() + change.cil)
        sites = []
        for side in ("a", "b"):
            name = f"{side}-{change.key}.example.com"
            site = site_from_mapping(
                {"site": name, "docroot": f"/srv/www/{name}", "user": f"{side}{change.key}", "writable": ["uploads"]},
                Path(f"{name}.yaml"),
            )
            render_site_cil(site, templates if side == "a" else PROJECT / "policy-templates").write(tmp_path / "cil")
            modules.append(SiteModule(site, tmp_path / "cil" / f"{site.names.module}.cil"))
            sites.append(site)
        sites_of[change.key] = sites
    base = compile_base(target, headers.directory, tmp_path / "base")
    report = verify_modules(modules, target.store, tmp_path / "verify", False, base=base).report
    text = render_text(report)
    for change in CIL_BREAKING:
        a, b = (s.name for s in sites_of[change.key])
        obj = {"a": a, "b": b}.get(change.obj, change.obj)
        broken = [f for f in report.failures if f.proof == change.proof and f.subject == a and f.obj == obj]
        assert broken, f"{change.key}: no failing proof {int(change.proof)} finding\n" + text[-3000:]
        shown = [f.what for f in broken] + [r for f in broken for r in f.rules]
        assert any(change.cause in line for line in shown), f"{change.key}: cause not in:\n" + "\n".join(shown)
