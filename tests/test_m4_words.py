"""m4 words in definitions (issue 13): compiled with the real devel Makefile, read back from the .pp.

Each definition below is one the issue reported: before the .fc quoted its values for m4, the module
labelled other paths (another site's), ran a shell, hung, or did not build.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from conftest import shared_target
from policy_tools import compile_module

from sitepolicy.definition.names import SELINUX_PREFIX, fc_dir
from sitepolicy.definition.site import Site, site_from_mapping
from sitepolicy.errors import ToolError, ToolTimeout
from sitepolicy.inspect import read_payload_file
from sitepolicy.m4 import M4QuoteError, m4_quote, macros_with_prefix, run_m4
from sitepolicy.package import filecontexts
from sitepolicy.package.build import build_site
from sitepolicy.package.headers import Headers
from sitepolicy.render import POLICY_TEMPLATES, render_policy
from sitepolicy.tools import run

MEMORY = Path("<memory>")


def site(**fields: object) -> Site:
    fields.setdefault("user", "pool")
    return site_from_mapping(fields, MEMORY)


# (definition, what went wrong before the fix)
ISSUE_EXAMPLES = {
    "dnl-in-name": ({"site": "my-dnl.com", "docroot": "/srv/www/my-dnl"}, "dnl ate the rest of each line"),
    "divnum-in-name": (
        {"site": "x.divnum.com", "docroot": "/srv/www/x-divnum"},
        "labelled /var/lib/sitepolicy/x.0.com: another site's paths",
    ),
    "sysval-in-docroot": (
        {"site": "shop.example.com", "docroot": "/srv/www/shop-sysval", "writable": ["uploads"]},
        "labelled /srv/www/shop-0/uploads writable: another site's docroot",
    ),
    "sinclude-writable": (
        {"site": "w.example.com", "docroot": "/srv/www/w", "writable": ["sinclude"]},
        "made the docroot itself writable",
    ),
    "esyscmd-in-docroot": ({"site": "e.example.com", "docroot": "/srv/www/x/esyscmd"}, "ran a shell during make"),
    "shiftn-in-name": ({"site": "x.shiftn.com", "docroot": "/srv/www/x-shiftn"}, "m4 looped forever"),
    "include-writable": (
        {"site": "i.example.com", "docroot": "/srv/www/i", "writable": ["include"]},
        "m4 tried to open /.*: the build failed",
    ),
}


def compile_site(s: Site, target, headers: Headers, directory: Path, templates: Path = POLICY_TEMPLATES) -> Path:
    directory.mkdir(parents=True)
    render_policy(s, target, templates).write(directory)
    return compile_module(directory, headers, s.names.module)


@pytest.mark.parametrize("example", sorted(ISSUE_EXAMPLES))
def test_issue_examples_compile_to_exactly_the_intended_file_contexts(example, target, headers, tmp_path):
    definition, _before = ISSUE_EXAMPLES[example]
    s = site(**definition)
    pp = compile_site(s, target, headers, tmp_path / "m")
    compiled = filecontexts.parse(filecontexts.compiled_text(pp.read_bytes()), pp.name)
    assert compiled == filecontexts.intended(s)
    filecontexts.check_module(s, pp.read_bytes())  # the build step passes too


def test_attacker_docroot_with_sysval_gets_no_entry_for_the_victims_docroot(target, headers, tmp_path):
    attacker = site(site="a.example.com", docroot="/srv/www/shop-sysval", writable=["uploads"])
    pp = compile_site(attacker, target, headers, tmp_path / "a")
    regexes = [e.regex for e in filecontexts.parse(filecontexts.compiled_text(pp.read_bytes()), "a")]
    assert not any(r.startswith("/srv/www/shop-0") for r in regexes), regexes
    assert "/srv/www/shop-sysval/uploads(/.*)?" in regexes


def test_esyscmd_docroot_runs_no_shell(target, headers, tmp_path):
    # esyscmd(/.*)? ran "/.*" in a shell ("sh: 1: /.: Permission denied" in make's output).
    s = site(site="e.example.com", docroot="/srv/www/x/esyscmd")
    directory = tmp_path / "m"
    directory.mkdir()
    render_policy(s, target).write(directory)
    out = run(
        [
            "make",
            "-f",
            headers.directory / "Makefile",
            f"HEADERDIR={headers.directory / 'include'}",
            f"{s.names.module}.pp",
        ],
        cwd=directory,
    )
    assert "sh: " not in out and "Permission denied" not in out


def test_the_unquoted_template_fails_the_file_context_proof(target, headers, tmp_path):
    """The proof catches what the old template did: an m4 word rewrote a path."""
    templates = tmp_path / "templates"
    shutil.copytree(POLICY_TEMPLATES, templates)
    fc = templates / "site.fc.j2"
    fc.write_text(fc.read_text().replace("| fc_tree }}", "| fc_regex }}(/.*)?"))
    s = site(site="x.divnum.com", docroot="/srv/www/x-divnum")
    pp = compile_site(s, target, headers, tmp_path / "m", templates)
    with pytest.raises(filecontexts.FileContextMismatch, match=r"missing: /var/lib/sitepolicy/x\\\.divnum"):
        filecontexts.check_module(s, pp.read_bytes())


def test_a_shipped_fc_other_than_the_intended_one_fails(target, headers, tmp_path):
    s = site(site="ok.example.com", docroot="/srv/www/ok")
    pp = compile_site(s, target, headers, tmp_path / "m")
    good = "\n".join(f"{e.regex}\tsystem_u:object_r:{e.type}:s0" for e in filecontexts.intended(s)) + "\n"
    filecontexts.check_module(s, pp.read_bytes(), good)
    with pytest.raises(filecontexts.FileContextMismatch, match="shipped for reconcile"):
        filecontexts.check_module(s, pp.read_bytes(), good.replace("/srv/www/ok", "/srv/www"))


def test_build_site_with_m4_words_ships_the_intended_contexts_for_reconcile(target, headers, tmp_path):
    s = site(site="x.divnum.com", docroot="/srv/www/dnl/esyscmd", writable=["include", "sinclude/shiftn"])
    built = build_site(s, target, headers, tmp_path / "build")
    sel = next(p for p in built.rpms if "-selinux-" in p.name)
    shipped = read_payload_file(sel, f"{fc_dir(target.store)}/{s.names.module}.fc").decode()
    assert filecontexts.parse(shipped, "shipped") == filecontexts.intended(s)
    assert "sitepolicy/x.0.com" not in shipped


def test_m4_quote_refuses_quote_characters():
    assert m4_quote("dnl") == "`dnl'"
    for bad in ("a'b", "a`b"):
        with pytest.raises(M4QuoteError):
            m4_quote(bad)


@pytest.mark.parametrize("name", ["el8", "el9", "el10", "fedora", "host"])
def test_no_macro_of_any_target_starts_with_the_identifier_prefix(name, headers):
    """Identifiers derived from the site name are m4 words with this prefix: no macro may share it."""
    directory = headers.directory if name == "host" else shared_target(name) / "devel"
    assert macros_with_prefix(directory, SELINUX_PREFIX) == set()


@pytest.mark.parametrize("name", ["el9", "fedora"])
def test_quoted_fc_through_the_targets_m4(name, target, tmp_path):
    """Fedora/EL support macros (m4 with the Makefile's -D options) leave the quoted paths alone too."""
    devel = shared_target(name) / "devel"
    for example in sorted(ISSUE_EXAMPLES):
        s = site(**ISSUE_EXAMPLES[example][0])
        render_policy(s, target).write(tmp_path / example)
        out = run_m4(devel, [tmp_path / example / f"{s.names.module}.fc"])
        assert filecontexts.parse(out, example) == filecontexts.intended(s)


def test_a_hung_tool_is_killed_with_its_children(tmp_path):
    """m4 looping forever (x.shiftn.com did that) is stopped; nothing it started survives."""
    loop = tmp_path / "loop.m4"
    loop.write_text("define(`x',`x')x\n")
    with pytest.raises(ToolTimeout, match=r"did not finish within 1 s and was killed: m4"):
        run(["m4", loop], timeout=1)
    with pytest.raises(ToolTimeout) as caught:
        run(["sh", "-c", f"m4 {loop} & echo $!; wait"], timeout=1)
    child = int(caught.value.output.split()[0])
    # m4 got SIGKILL with its group: wait (bounded) for the kernel to finish its exit.
    stat = Path(f"/proc/{child}/stat")
    deadline = time.monotonic() + 10
    while stat.exists() and not stat.read_text().split(") ")[1].startswith("Z") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not stat.exists() or stat.read_text().split(") ")[1].startswith("Z")
    assert isinstance(caught.value, ToolError)


def test_the_timeout_can_be_set_for_every_tool(monkeypatch):
    monkeypatch.setenv("SITEPOLICY_TOOL_TIMEOUT", "1")
    with pytest.raises(ToolTimeout, match="within 1 s"):
        run(["sleep", "30"])
    assert os.environ["SITEPOLICY_TOOL_TIMEOUT"] == "1"
