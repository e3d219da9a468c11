"""Issue 11's upgrade path: a host holding today's per-site .pp modules (the packages as they were built before
the switch, from tests/data/legacy-pp) moves to the new shape (the runtime's base module and a CIL module per
site) in ONE rpm transaction: one semodule call installs the base and replaces every site's module, with only
-i (no module is ever removed, so no site is ever without one). The recorded calls are replayed with the real
`semodule -p` on a private copy of the host's policy store, as tests/test_transactions.py does."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from rpmroot import RpmRoot, build_host_package, make_policy_root, semodule_argv_for_replay, store_modules
from test_transactions import definition

from sitepolicy.definition.names import RUNTIME_PACKAGE
from sitepolicy.definition.site import Site, load_site
from sitepolicy.package.build import _build_package, build_runtime, build_site
from sitepolicy.project import TargetLayout
from sitepolicy.render import (
    RELEASE_PLACEHOLDER,
    SPEC_TEMPLATES,
    Rendered,
    SiteSources,
    _package_files,
    _spec,
    render_policy,
    render_runtime,
    site_context,
)
from sitepolicy.shape.names import BASE_MODULE

pytestmark = pytest.mark.slow

LEGACY = Path(__file__).parent / "data" / "legacy-pp"
SITES = ("alpha.example.com", "bravo.example.com")


def legacy_site(site: Site, target, headers, build_dir: Path) -> Path:
    """The site's -selinux package as built before the switch: its .pp compiled from site.te.j2 in %build."""
    context = site_context(site, target, RELEASE_PLACEHOLDER)
    policy = render_policy(site, target)
    files = _package_files(context, site, SPEC_TEMPLATES)
    spec = _spec(context, [*policy.files, *files.files], LEGACY)
    sources = SiteSources(site, target, policy, files, spec)
    layout = TargetLayout(build_dir, target)
    built = _build_package(
        site.name, lambda d: sources.write(d, "1"), layout, layout.site_dir(site), headers, "1", "", no_verify=True
    )
    return next(p for p in built.rpms if p.name.startswith(site.names.selinux_package + "-1"))


def legacy_runtime(target, build_dir: Path) -> Path:
    """sitepolicy-selinux-runtime as it was before the switch (no base module), release 1."""
    rendered = render_runtime(target, "1", LEGACY)
    layout = TargetLayout(build_dir, target)

    def render(directory: Path) -> Path:
        Rendered({k: v for k, v in rendered.files.items() if not k.startswith(BASE_MODULE)}).write(directory)
        return directory / f"{RUNTIME_PACKAGE}.spec"

    built = _build_package(RUNTIME_PACKAGE, render, layout, layout.runtime_dir, None, "1", "", no_verify=True)
    return built.rpms[0]


def semodule_calls(root: RpmRoot) -> list:
    return [c for c in root.calls() if c.tool == "semodule"]


def test_a_host_with_pp_modules_moves_to_the_new_shape_in_one_transaction(tmp_path, target, headers):
    sites = []
    for name in SITES:
        (tmp_path / "defs").mkdir(exist_ok=True)
        (tmp_path / "defs" / f"{name}.yaml").write_text(definition(name, ""))
        sites.append(load_site(tmp_path / "defs" / f"{name}.yaml"))
    old = [legacy_site(s, target, headers, tmp_path / "old") for s in sites]
    old_runtime = legacy_runtime(target, tmp_path / "old-runtime")
    new = []
    for site in sites:
        built = build_site(site, target, headers, tmp_path / "new", "2")
        new.append(next(p for p in built.rpms if p.name.startswith(site.names.selinux_package + "-1")))
    new_runtime = build_runtime(target, tmp_path / "new-runtime", "2").rpms[0]

    root = RpmRoot(tmp_path / "root", target.store)
    policy = make_policy_root(tmp_path / "policy")
    assert root.rpm("-i", build_host_package(tmp_path / "host", target)).returncode == 0

    def replay() -> list[tuple[str, ...]]:
        calls = semodule_calls(root)
        for call in calls:
            argv = semodule_argv_for_replay(call, root.path, policy)
            result = subprocess.run(argv, capture_output=True, text=True, check=False)
            assert result.returncode == 0, f"{argv}: {result.stdout}{result.stderr}"
        root.clear_calls()
        return [c.args for c in calls]

    def lang_ext(module: str) -> str:
        return (policy / "var/lib/selinux" / target.store / "active/modules/200" / module / "lang_ext").read_text()

    # Today's host: the old runtime and both sites' .pp modules, in one call.
    result = root.rpm("-i", old_runtime, *old)
    assert result.returncode == 0, result.stderr
    (call,) = replay()
    assert [Path(a).name for a in call if a.endswith(".bz2")] == [f"{s.names.module}.pp.bz2" for s in sites]
    modules = {s.names.module for s in sites}
    assert {m for m in store_modules(policy, target.store) if m.startswith("sitepolicy_")} == modules
    assert {lang_ext(m) for m in modules} == {"pp"}

    # The upgrade: the new runtime and both sites in one transaction, one semodule call, only installs.
    result = root.rpm("-U", new_runtime, *new)
    assert result.returncode == 0, result.stderr
    assert "was not installed" not in result.stderr, result.stderr
    (call,) = replay()
    assert "-r" not in call  # nothing removed: each site's module replaced in place
    installed = [Path(a).name for a in call if a.endswith(".bz2")]
    assert sorted(installed) == sorted([f"{BASE_MODULE}.cil.bz2", *(f"{s.names.module}.cil.bz2" for s in sites)])
    assert {m for m in store_modules(policy, target.store) if m.startswith("sitepolicy_")} == modules | {BASE_MODULE}
    assert {lang_ext(m) for m in modules | {BASE_MODULE}} == {"cil"}
    status = root.chroot("/usr/libexec/sitepolicy/reconcile", "--status")
    assert status.stdout == "nothing pending\n", status.stdout
