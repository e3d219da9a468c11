"""mail: sendmail (issue 14): PHP's mail() runs `/bin/sh -c "sendmail -t -i"`. With the field, a shell the site
starts enters a helper domain that may only run the target's sendmail (into the target's mail domain); without
it a shell stays denied. Proof 10 checks it on the linked policy of every target, and these template changes
an attacker would want each fail it, naming the rule."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import PROJECT, TARGET_NAMES, shared_target
from policy_tools import compile_module

from sitepolicy.definition.site import MAIL_METHODS, Site, check_distinct, site_from_mapping
from sitepolicy.errors import DefinitionError
from sitepolicy.package.headers import Headers
from sitepolicy.render import render_policy
from sitepolicy.targets import PROFILES, Target
from sitepolicy.verify import verify_modules
from sitepolicy.verify.modules import modules_from_dir
from sitepolicy.verify.proofs import Proof
from sitepolicy.verify.report import Report, render_text


def make_site(name: str, **fields: object) -> Site:
    mapping = {"site": name, "docroot": f"/srv/www/{name}", "user": name.split(".")[0].replace("-", "")[:16]}
    return site_from_mapping({**mapping, **fields}, Path(f"{name}.yaml"))


# --------------------------------------------------------------------------- the field


def test_mail_accepts_sendmail_and_defaults_to_none():
    assert MAIL_METHODS == ("sendmail",)
    assert make_site("m.example.com", mail="sendmail").mail == "sendmail"
    assert make_site("m.example.com").mail is None


@pytest.mark.parametrize("value", ["postfix", "Sendmail", "sendmail ", ["sendmail"], {"x": 1}, True, 1, "dnl", ""])
def test_mail_refuses_anything_else_naming_the_field_and_the_choices(value):
    with pytest.raises(DefinitionError) as refused:
        make_site("m.example.com", mail=value)
    assert refused.value.field == "mail"
    assert "sendmail" in str(refused.value)


def test_the_helper_name_is_reserved_even_without_mail():
    """x.example.com's helper type is sitepolicy_x_example_com_mail_t, the domain of a site x.example.com.mail:
    the pair is refused whether or not mail is on (turning it on later must not collide)."""
    with pytest.raises(DefinitionError) as refused:
        check_distinct([make_site("x.example.com"), make_site("x.example.com.mail")])
    assert "sitepolicy_x_example_com_mail_t" in str(refused.value)


@pytest.mark.parametrize("target_name", sorted(PROFILES))
def test_the_helper_is_rendered_only_when_asked(target_name):
    target = PROFILES[target_name]
    site = make_site("m.example.com", mail="sendmail")
    te = render_policy(site, target).files[f"{site.names.module}.te"]
    helper, domain = site.names.mail_helper, site.names.domain
    assert f"type {helper};" in te
    assert f"corecmd_shell_domtrans({domain}, {helper})" in te
    assert f"mta_send_mail({helper})" in te
    # the descriptors a domain transition pattern gives (the exec maps the shell through the parent's file)
    assert f"allow {helper} {domain}:fd use;" in te and f"allow {helper} {domain}:process sigchld;" in te
    for quiet in (make_site("q.example.com"), make_site("q.example.com", network=["smtp"])):
        text = render_policy(quiet, target).files[f"{quiet.names.module}.te"]
        te = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
        assert "_mail_t" not in te and "shell_exec_t" not in te and "mta_" not in te and "system_mail_t" not in te


# --------------------------------------------------------------------------- proof 10 on the linked policies


@dataclass(frozen=True)
class Change:
    key: str  # the site is KEY.example.com with mail: sendmail (unless mail is False)
    te: str = ""  # appended to site.te.j2 for that site alone
    mail: bool = True
    proof: Proof = Proof.MAIL
    cause: str = ""  # text the failing finding must show


BREAKING = (
    Change("m-exec", te="corecmd_exec_bin({{ t.mail }})\n", cause="bin_t"),
    Change(
        "m-net",
        te="allow {{ t.mail }} self:tcp_socket create_stream_socket_perms;\n"
        "corenet_tcp_connect_smtp_port({{ t.mail }})\n",
        cause="smtp_port_t",
    ),
    Change("m-read", te="read_files_pattern({{ t.mail }}, {{ t.sessions }}, {{ t.sessions }})\n", cause="sessions_t"),
    Change(
        "m-leak",
        te="gen_require(`\n\ttype system_mail_t;\n')\nread_files_pattern(system_mail_t, {{ t.conf }}, {{ t.conf }})\n",
        cause="m__leak_example_com_conf_t",
    ),
    Change("m-shell", te="corecmd_exec_shell({{ t.domain }})\n", mail=False, cause="shell_exec_t"),
    Change("m-direct", te="mta_send_mail({{ t.domain }})\n", proof=Proof.DOMAINS, cause="system_mail_t"),
)


@dataclass(frozen=True)
class Policy:
    target: Target
    headers: Headers
    root: Path


def _policy(name: str, target: Target, headers: Headers) -> Policy:
    if name == "host":
        return Policy(target, headers, Path("/"))
    shared = shared_target(name, need_root=True)
    return Policy(PROFILES[name], Headers(shared / "devel", is_host=False), shared / "root")


def link(changes: tuple[Change, ...], policy: Policy, tmp: Path) -> Report:
    sites = []
    for change in changes:
        templates = tmp / "templates" / change.key
        shutil.copytree(PROJECT / "policy-templates", templates)
        te = templates / "site.te.j2"
        te.write_text(te.read_text() + change.te)
        site = make_site(
            f"{change.key}.example.com", writable=["uploads"], **({"mail": "sendmail"} if change.mail else {})
        )
        directory = tmp / "modules" / site.names.module
        render_policy(site, policy.target, templates).write(directory)
        compile_module(directory, policy.headers, site.names.module)
        sites.append(site)
    modules = modules_from_dir(tmp / "modules", sites)
    return verify_modules(modules, policy.target.store, tmp / "verify", use_cache=False, live_root=policy.root).report


@pytest.mark.slow
@pytest.mark.parametrize("name", ["host", *TARGET_NAMES])
def test_a_site_with_mail_and_one_without_pass_proof_10_on_every_target(name, target, headers, tmp_path):
    policy = _policy(name, target, headers)
    report = link((Change("sender"), Change("quiet", mail=False)), policy, tmp_path)
    assert report.ok, render_text(report)
    mail = [f for f in report.findings if f.proof == Proof.MAIL]
    sender = [f.what for f in mail if f.subject == "sender.example.com"]
    assert any("enters sitepolicy_sender_example_com_mail_t" in w for w in sender)
    assert any("may enter system_mail_t (the target's sendmail) and no other domain" in w for w in sender)
    # The mail domain under NoNewPrivileges enters no further domain on any target: it is the only one.
    assert any(w.startswith("the mail domains (system_mail_t) hold nothing") for w in sender), sender
    quiet = [f.what for f in mail if f.subject == "quiet.example.com"]
    assert quiet == ["without mail: the site may not run a shell (no execute on shell_exec_t), and no helper domain"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["host", "el9"])
def test_what_an_attacker_would_add_to_the_helper_fails_proof_10_naming_it(name, target, headers, tmp_path):
    report = link(BREAKING, _policy(name, target, headers), tmp_path)
    text = render_text(report)
    for change in BREAKING:
        subject = f"{change.key}.example.com"
        broken = [f for f in report.failures if f.proof == change.proof and f.subject == subject]
        assert broken, f"{change.key}: proof {int(change.proof)} did not fail\n{text[-3000:]}"
        shown = [f.what for f in broken] + [r for f in broken for r in f.rules]
        assert any(change.cause in line for line in shown), f"{change.key}: {change.cause} not in\n" + "\n".join(shown)
