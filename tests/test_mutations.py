"""Template changes a plausible author could write, each applied to a copy of policy-templates/, built and
verified: every one that really breaks isolation fails with a message naming its cause (issue 12), and
every harmless one passes (zero false positives).

Each change is built as a pair of differently named sites, and all the pairs of a set are linked in one
semodule call: the proofs are per site and per pair, so the variants do not need a link each. Both sets
run against this host's policy and against RHEL 9's (../shared/targets/el9, skipped when absent).
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import PROJECT, shared_target
from policy_tools import compile_module

from sitepolicy.definition.site import Site, site_from_mapping
from sitepolicy.package.headers import Headers
from sitepolicy.render import render_policy
from sitepolicy.targets import PROFILES, Target
from sitepolicy.verify import verify_modules
from sitepolicy.verify.modules import modules_from_dir
from sitepolicy.verify.proofs import Finding, Proof
from sitepolicy.verify.report import Report, render_text


@dataclass(frozen=True)
class Change:
    key: str  # a DNS label: the variant's sites are a-KEY.example.com (network: database) and b-KEY.example.com
    te: str = ""  # appended to site.te.j2
    fc: str = ""  # appended to site.fc.j2
    proof: Proof | None = None  # the proof that must fail (None: a harmless change, everything passes)
    subject: str = "a"  # whose finding fails: "a", "b" (the site) or "httpd_t"
    obj: str = "a"  # "a", "b", or "web content"
    cause: str = ""  # text the failing finding must show (its rule, attribute or entry)


def site_name(side: str, key: str) -> str:
    return f"{side}-{key}.example.com"


REQ = "gen_require(`\n\ttype {types};\n')\n"

BREAKING = (
    Change("perm", te="permissive {{ t.domain }};\n", proof=Proof.ENTRY, cause="permissive sitepolicy_a__perm_"),
    Change(
        "key",
        te="type {{ n.module }}_key_t;\nmiscfiles_cert_type({{ n.module }}_key_t)\n"
        "miscfiles_read_all_certs({{ t.domain }})\n",
        proof=Proof.ISOLATION,
        obj="b",
        cause="sitepolicy_b__key_example_com_key_t is in the attribute cert_type",
    ),
    Change(
        "dom",
        te="type {{ n.module }}_helper_t;\ndomain_type({{ n.module }}_helper_t)\n"
        "role system_r types {{ n.module }}_helper_t;\nfiles_read_all_files({{ n.module }}_helper_t)\n",
        proof=Proof.ISOLATION,
        obj="b",
        cause="allow sitepolicy_a__dom_example_com_helper_t file_type:file",
    ),
    Change(
        "fcother",
        fc='{% if site.name.startswith("a-") %}\n/srv/www/b-fcother\\.example\\.com/uploads/evil(/.*)?\t'
        "gen_context(system_u:object_r:{{ t.rw }},s0)\n{% endif %}\n",
        proof=Proof.FILE_CONTEXTS,
        cause="/srv/www/b-fcother.example.com/uploads/evil is outside the paths of a-fcother.example.com",
    ),
    Change(
        "parent",
        fc='{% if site.name.startswith("a-") %}\n/var/lib/sitepolicy\t'
        "gen_context(system_u:object_r:{{ t.sessions }},s0)\n{% endif %}\n",
        proof=Proof.FILE_CONTEXTS,
        cause="/var/lib/sitepolicy is outside the paths of a-parent.example.com",
    ),
    Change(
        "trans",
        te=REQ.format(types="httpd_t") + "domtrans_pattern({{ t.domain }}, httpd_exec_t, httpd_t)\n",
        proof=Proof.DOMAINS,
        cause="may enter: httpd_t",
    ),
    Change(
        "huge",
        te=REQ.format(types="hugetlbfs_t")
        + "allow {{ t.domain }} hugetlbfs_t:dir { search add_name write };\n"
        "allow {{ t.domain }} hugetlbfs_t:file { create open read write };\n",
        proof=Proof.CHANNELS,
        obj="b",
        cause="hugetlbfs_t:file is on the shared-type allow-list only without { create",
    ),
    Change(
        "content",
        te="gen_require(`\n\tattribute httpdcontent;\n')\ntypeattribute {{ t.content }} httpdcontent;\n",
        proof=Proof.ISOLATION,
        obj="web content",
        cause="sitepolicy_a__content_example_com_content_t is in the attribute httpdcontent",
    ),
    Change(
        "link",
        te="manage_lnk_files_pattern({{ t.domain }}, {{ t.rw }}, {{ t.rw }})\n",
        proof=Proof.DEPUTY,
        cause="sitepolicy_a__link_example_com_rw_t:lnk_file created by",
    ),
    Change("nss", te="auth_use_nsswitch({{ t.domain }})\n", proof=Proof.NETWORK, subject="b", obj="b", cause="_socket"),
    Change(
        "ports",
        te="corenet_tcp_connect_all_ports({{ t.domain }})\n",
        proof=Proof.NETWORK,
        cause="port_type:tcp_socket name_connect",
    ),
    # Side b has no `database`: the local database servers are out of its reach (issue 14).
    Change(
        "dbsock",
        te="optional_policy(`\n\tmysql_stream_connect({{ t.domain }})\n')\n",
        proof=Proof.NETWORK,
        subject="b",
        obj="b",
        cause="mysqld_t:unix_stream_socket connectto",
    ),
    # Side a has `database`: its sockets, not the server's data files.
    Change(
        "dbfiles",
        te=REQ.format(types="mysqld_db_t") + "read_files_pattern({{ t.domain }}, mysqld_db_t, mysqld_db_t)\n",
        proof=Proof.NETWORK,
        cause="mysqld_db_t:file",
    ),
    Change(
        "conf",
        te=REQ.format(types="httpd_t") + "read_files_pattern(httpd_t, {{ t.conf }}, {{ t.conf }})\n",
        proof=Proof.WEB_SERVER,
        subject="httpd_t",
        cause="sitepolicy_a__conf_example_com_conf_t:file",
    ),
)

HARMLESS = (
    Change("dontaudit", te="dontaudit {{ t.domain }} self:capability { sys_admin sys_resource };\n"),
    Change("auditallow", te="auditallow {{ t.domain }} {{ t.rw }}:file write;\n"),
    Change("alias", te="typealias {{ t.content }} alias {{ n.module }}_docroot_t;\n"),
    Change(
        "own",
        te="allow {{ t.domain }} {{ t.log }}:file map;\nallow {{ t.domain }} {{ t.content }}:file watch;\n"
        "allow {{ t.domain }} {{ t.conf }}:file map;\n",
    ),
)


def variant_sites(change: Change) -> list[Site]:
    return [
        site_from_mapping(
            {"site": name, "docroot": f"/srv/www/{name}", "user": f"{side}{change.key}"[:16]}
            | ({"network": ["database"], "writable": ["uploads"]} if side == "a" else {"writable": ["uploads"]}),
            Path(f"{name}.yaml"),
        )
        for side, name in (("a", site_name("a", change.key)), ("b", site_name("b", change.key)))
    ]


@dataclass(frozen=True)
class Policy:
    target: Target
    headers: Headers
    root: Path  # the policy root linked into (a copy of it)


@pytest.fixture(scope="module", params=["host", "el9"])
def policy(request, target, headers) -> Policy:
    if request.param == "host":
        return Policy(target, headers, Path("/"))
    shared = shared_target(request.param, need_root=True)
    return Policy(PROFILES[request.param], Headers(shared / "devel", is_host=False), shared / "root")


def build_and_verify(changes: tuple[Change, ...], policy: Policy, tmp: Path) -> Report:
    """Every change in its own copy of the templates, its two sites compiled; all linked in ONE semodule call."""
    jobs = []
    for change in changes:
        templates = tmp / "templates" / change.key
        shutil.copytree(PROJECT / "policy-templates", templates)
        for name, extra in (("site.te.j2", change.te), ("site.fc.j2", change.fc)):
            path = templates / name
            path.write_text(path.read_text() + extra)
        jobs += [(templates, site) for site in variant_sites(change)]

    def compile_one(job: tuple[Path, Site]) -> Site:
        templates, site = job
        directory = tmp / "modules" / site.names.module
        render_policy(site, policy.target, templates).write(directory)
        compile_module(directory, policy.headers, site.names.module)
        return site

    with ThreadPoolExecutor(2) as pool:
        sites = list(pool.map(compile_one, jobs))
    modules = modules_from_dir(tmp / "modules", sites)
    result = verify_modules(modules, policy.target.store, tmp / "verify", use_cache=False, live_root=policy.root)
    return result.report


def _who(change: Change, side: str) -> str:
    return side if side in ("httpd_t", "web content") else site_name(side, change.key)


def broken_by(report: Report, change: Change) -> list[Finding]:
    subject, obj = _who(change, change.subject), _who(change, change.obj)
    return [f for f in report.failures if f.proof == change.proof and f.subject == subject and f.obj == obj]


@pytest.fixture(scope="module")
def breaking_report(policy, tmp_path_factory) -> Report:
    return build_and_verify(BREAKING, policy, tmp_path_factory.mktemp("breaking"))


@pytest.mark.slow
@pytest.mark.parametrize("change", BREAKING, ids=[c.key for c in BREAKING])
def test_a_change_that_breaks_isolation_fails_naming_its_cause(change, breaking_report):
    broken = broken_by(breaking_report, change)
    text = render_text(breaking_report)
    assert broken, f"{change.key}: no failing proof {int(change.proof)} finding\n" + text[-3000:]
    shown = [f.what for f in broken] + [r for f in broken for r in f.rules]
    assert any(change.cause in line for line in shown), f"{change.key}: cause not named in:\n" + "\n".join(shown)
    assert change.cause in text  # the printed report names it too


@pytest.mark.slow
def test_harmless_changes_pass_every_proof(policy, tmp_path):
    report = build_and_verify(HARMLESS, policy, tmp_path)
    assert report.ok, render_text(report)
    assert len(report.sites) == 2 * len(HARMLESS)
