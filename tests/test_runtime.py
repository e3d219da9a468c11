"""sitepolicy-selinux-runtime: the package, and its reconcile script's decisions against a real store layout."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from rpmroot import LOG, RpmRoot, build_host_package, make_policy_root, semodule_argv_for_replay, store_modules

from sitepolicy.inspect import check_scriptlets_expanded, read_package, read_payload_file
from sitepolicy.package.build import build_runtime
from sitepolicy.render import render_runtime

PROJECT = Path(__file__).resolve().parent.parent
RECONCILE = "/usr/libexec/sitepolicy/reconcile"


@pytest.fixture(scope="module")
def runtime(tmp_path_factory, target):
    return build_runtime(target, tmp_path_factory.mktemp("runtime"))


def test_runtime_package_contents_and_triggers(runtime, target):
    (rpm,) = runtime.rpms
    info = read_package(rpm)
    assert info.name == "sitepolicy-selinux-runtime" and info.version == "0.1.0"
    assert RECONCILE in info.files and f"/usr/share/selinux/packages/{target.store}" in info.files
    assert f"/usr/share/sitepolicy/fc/{target.store}" in info.files and "/var/lib/sitepolicy/runtime" in info.files
    assert {"policycoreutils", "coreutils", "diffutils", "grep", "sed"} <= set(info.requires)
    check_scriptlets_expanded(info)
    assert info.scriptlets["preun"].strip().splitlines()[-3:] == [
        'if [ "$1" -eq 0 ]; then',
        f"    {RECONCILE} --remove-all",
        "fi",
    ]
    triggers = subprocess.run(["rpm", "-qp", "--filetriggers", str(rpm)], capture_output=True, text=True, check=True)
    module_dir = f"/usr/share/selinux/packages/{target.store}"
    assert f"transfiletriggerin scriptlet (using /bin/sh) -- {module_dir}\n{RECONCILE}\n" in triggers.stdout
    assert f"transfiletriggerpostun scriptlet (using /bin/sh) -- {module_dir}\n{RECONCILE}\n" in triggers.stdout
    shipped = read_payload_file(rpm, RECONCILE).decode()
    assert shipped == render_runtime(target, "1").files["reconcile"]
    for shell in ("dash", "bash"):  # POSIX sh: both parse it
        subprocess.run([shell, "-n", "-c", shipped], check=True)
    # -T is asked of the installed restorecon, not assumed per target
    assert "if restorecon -T 1 -n -- / >/dev/null 2>&1; then" in shipped
    assert 'restorecon -R -T 0 -- "$@"' in shipped and 'restorecon -R -- "$@"' in shipped


def test_runtime_passes_rpmlint(runtime):
    spec = next((runtime.record_dir / "sources").glob("*.spec"))
    result = subprocess.run(
        ["rpmlint", "-c", str(PROJECT / "rpmlint.toml"), *map(str, runtime.outputs), str(spec)],
        capture_output=True,
        text=True,
    )
    assert " 0 errors" in result.stdout.strip().splitlines()[-1], result.stdout


@pytest.mark.slow
def test_reconcile_checks_its_records_against_a_real_store(runtime, example_builds, target, tmp_path):
    """Where the host has a real store (policy.kern), a recorded module missing from it is installed
    again, and a record of a module removed by hand is dropped instead of failing every run."""
    root = RpmRoot(tmp_path / "root", target.store, keep_store=False)  # this test plays the store by hand
    assert root.rpm("-i", build_host_package(tmp_path / "host", target), *runtime.rpms).returncode == 0
    # The runtime's own file trigger installs its base module (issue 11), which the site's CIL module needs.
    (base_call,) = [c for c in root.calls() if c.tool == "semodule"]
    base = f"/usr/share/selinux/packages/{target.store}/sitepolicy_base.cil.bz2"
    assert base_call.args == ("-n", "-s", target.store, "-X", "200", "-i", base)
    build = example_builds["selinux.rskeens.com"]
    module = build.site.names.module
    sel = next(p for p in build.rpms if p.name.startswith(build.site.names.selinux_package + "-1"))
    pp = f"/usr/share/selinux/packages/{target.store}/{module}.cil.bz2"
    (root.path / pp.lstrip("/")).write_bytes(read_payload_file(sel, pp))

    def reconcile() -> list[tuple[str, ...]]:
        root.clear_calls()
        result = root.chroot(RECONCILE)
        assert result.returncode == 0, result.stderr
        return [c.args for c in root.calls() if c.tool == "semodule"]

    (call,) = reconcile()
    assert call == ("-n", "-s", target.store, "-X", "200", "-i", pp)
    policy = make_policy_root(tmp_path / "policy")
    for replayed in (base_call, root.calls()[0]):
        subprocess.run(semodule_argv_for_replay(replayed, root.path, policy), check=True, capture_output=True)
    assert module in store_modules(policy, target.store)

    assert reconcile() == []  # recorded, and no real store to contradict it
    active = root.path / "var/lib/selinux" / target.store / "active"
    (active / "modules/200/sitepolicy_base").mkdir(parents=True)
    (active / "policy.kern").write_bytes(b"")
    assert reconcile() == [call]  # the real store lacks it: installed again
    (active / "modules/200" / module).mkdir()
    assert reconcile() == []
    (root.path / pp.lstrip("/")).unlink()
    (active / "modules/200" / module).rmdir()  # removed from the store by hand, and its file is gone
    assert reconcile() == []
    assert root.chroot(RECONCILE, "--status").stdout == "nothing pending\n"


# policycoreutils 3.3 (EL 9.0) and 2.9 (EL 8): getopt refuses -T, restorecon prints its usage and exits 255.
OLD_RESTORECON = f"""#!/bin/sh
{{ printf 'CALL\\trestorecon'; for arg in "$@"; do printf '\\t%s' "$arg"; done; printf '\\n'; }} >> /{LOG}
for arg in "$@"; do
    if [ "$arg" = -T ]; then
        echo "restorecon: invalid option -- 'T'" >&2; echo "usage:  restorecon [-iIDFmnprRv0x] ..." >&2; exit 255
    fi
done
exit 0
"""


@pytest.mark.parametrize("has_threads", [True, False], ids=["restorecon-3.4", "restorecon-3.3"])
def test_reconcile_asks_restorecon_whether_it_has_threads(runtime, example_builds, target, tmp_path, has_threads):
    """One relabel call either way: with -T 0 where restorecon takes it, without where it does not."""
    root = RpmRoot(tmp_path / "root", target.store)
    assert root.rpm("-i", build_host_package(tmp_path / "host", target), *runtime.rpms).returncode == 0
    if not has_threads:
        (root.path / "usr/sbin/restorecon").write_text(OLD_RESTORECON)
    build = example_builds["selinux.rskeens.com"]
    site, n = build.site, build.site.names
    sel = next(p for p in build.rpms if p.name.startswith(n.selinux_package + "-1"))
    for member in (
        f"/usr/share/selinux/packages/{target.store}/{n.module}.cil.bz2",
        f"/usr/share/sitepolicy/fc/{target.store}/{n.module}.fc",
    ):
        (root.path / member.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (root.path / member.lstrip("/")).write_bytes(read_payload_file(sel, member))
    for path in site.relabel_paths:
        (root.path / str(path).lstrip("/")).mkdir(parents=True, exist_ok=True)
    root.clear_calls()
    result = root.chroot(RECONCILE)
    assert result.returncode == 0, result.stderr
    runs = [c.args for c in root.calls() if c.tool == "restorecon"]
    probe, *relabels = runs
    assert probe == ("-T", "1", "-n", "--", "/")
    (relabel,) = relabels
    assert relabel[: relabel.index("--")] == (("-R", "-T", "0") if has_threads else ("-R",))
    assert set(relabel[relabel.index("--") + 1 :]) == {str(p) for p in site.relabel_paths}
