"""Fault injection: no fault takes a healthy site down, leaves a half state, or loses pending work (issue 15).

Real rpm in a throwaway root (tests/rpmroot.py): the packages' real scriptlets and file triggers, the real
flock, and a semodule stand-in that keeps a store (so reconcile's own store checks run) and fails, all or
nothing like the real one, any call that installs a module listed as never linking. Each case asserts the
end state (the store, the units, the pending list from `reconcile --status`, the journal line) and replays
the recorded semodule calls with the real `semodule -p` on a private copy of the policy: a call the stand-in
failed must fail there too, every other must succeed, and the real store must end with the same modules.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from rpmroot import Call, RpmRoot, build_host_package, make_policy_root, semodule_argv_for_replay, store_modules
from test_transactions import all_paths, build_variants, module, operations, relabelled

from sitepolicy.definition.site import Site
from sitepolicy.inspect import read_payload_file
from sitepolicy.package.build import build_runtime

pytestmark = pytest.mark.slow

RECONCILE = "/usr/libexec/sitepolicy/reconcile"
A, B, C = "alpha.example.com", "bravo.example.com", "charlie.example.com"
E, F = "echo.example.com", "foxtrot.example.com"
BAD = "delta.example.com"  # its module requires a type no policy has: it never links
VARIANTS: dict[tuple[str, int], str] = {
    (A, 1): "",
    (B, 1): "",
    (C, 1): "",
    (E, 1): "",
    (F, 1): "",
    (A, 2): "network: [smtp]\n",
    (B, 2): "network: [http]\n",
    (C, 2): "writable: [uploads, cache]\n",  # one new .fc entry: /srv/www/charlie.example.com/cache
}

BAD_TE = """module {module} 1.0;
require {{ type sitepolicy_no_such_type_t; class file read; }}
allow sitepolicy_no_such_type_t sitepolicy_no_such_type_t:file read;
"""

STAND_IN_RPM_SPEC = """Name:           {name}
Version:        {version}
Release:        1
Summary:        TEST ONLY
License:        MIT
BuildArch:      noarch
{extra}

%description
TEST ONLY (sitepolicy tests/test_runtime_faults.py).

%install
{install}

%files
{files}
"""


@dataclass(frozen=True)
class Builds:
    selinux: dict[tuple[str, int], Path]
    fpm: dict[tuple[str, int], Path]
    sites: dict[tuple[str, int], Site]
    bad: Path  # a -selinux package whose module never links
    runtime: Path
    host: Path
    php_fpm: dict[int, Path]  # a stand-in package owning the target's php-fpm binary, versions 1 and 2
    php_ext: dict[int, Path]  # a stand-in PHP extension package (its .so and its ini file), versions 1 to 3
    unrelated: Path  # other files in the directories the runtime's php trigger watches


def stand_in_rpm(directory: Path, name: str, version: int, files: dict[str, str], extra: str = "") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    install = "\n".join(
        f"mkdir -p %{{buildroot}}{Path(path).parent}\necho '{text}' > %{{buildroot}}{path}"
        for path, text in files.items()
    )
    spec = directory / f"{name}-{version}.spec"
    spec.write_text(
        STAND_IN_RPM_SPEC.format(name=name, version=version, extra=extra, install=install, files="\n".join(files))
    )
    out = directory / "rpms"
    subprocess.run(
        ["rpmbuild", "-bb", "--define", f"_topdir {directory / 'top'}", "--define", f"_rpmdir {out}", str(spec)],
        check=True,
        capture_output=True,
    )
    return next(out.rglob(f"{name}-{version}-1.noarch.rpm"))


def bad_package(directory: Path, store: str) -> Path:
    """sitepolicy-delta.example.com-selinux: a real compiled module (checkmodule) that does not link."""
    directory.mkdir(parents=True, exist_ok=True)
    name = module(BAD)
    (directory / f"{name}.te").write_text(BAD_TE.format(module=name))
    subprocess.run(["checkmodule", "-M", "-m", "-o", f"{name}.mod", f"{name}.te"], cwd=directory, check=True)
    subprocess.run(["semodule_package", "-o", f"{name}.pp", "-m", f"{name}.mod"], cwd=directory, check=True)
    subprocess.run(["bzip2", "-9", "-f", f"{name}.pp"], cwd=directory, check=True)
    spec = directory / "bad.spec"
    spec.write_text(
        STAND_IN_RPM_SPEC.format(
            name=f"sitepolicy-{BAD}-selinux",
            version=1,
            extra="",
            install=(
                f"install -D -m 0644 {directory}/{name}.pp.bz2 %{{buildroot}}/usr/share/selinux/packages/{store}/"
                f"{name}.pp.bz2\nmkdir -p %{{buildroot}}/usr/share/sitepolicy/fc/{store}\n"
                f"echo '/srv/www/{BAD}(/.*)?  system_u:object_r:httpd_sys_content_t:s0' > "
                f"%{{buildroot}}/usr/share/sitepolicy/fc/{store}/{name}.fc"
            ),
            files=f"/usr/share/selinux/packages/{store}/{name}.pp.bz2\n/usr/share/sitepolicy/fc/{store}/{name}.fc",
        )
    )
    out = directory / "rpms"
    subprocess.run(
        ["rpmbuild", "-bb", "--define", f"_topdir {directory / 'top'}", "--define", f"_rpmdir {out}", str(spec)],
        check=True,
        capture_output=True,
    )
    return next(out.rglob(f"sitepolicy-{BAD}-selinux-1-1.noarch.rpm"))


@pytest.fixture(scope="module")
def builds(tmp_path_factory, target, headers) -> Builds:
    base = tmp_path_factory.mktemp("faults")
    selinux, fpm, sites = build_variants(base, VARIANTS, target, headers)
    php_fpm = {
        v: stand_in_rpm(base / "php-fpm", "testonly-php-fpm", v, {str(target.php_fpm): f"php-fpm {v}"}) for v in (1, 2)
    }
    (modules, so), (ini_dir, ini) = target.php_extensions
    php_ext = {
        v: stand_in_rpm(
            base / "php-ext",
            "testonly-php-redis",
            v,
            {f"{modules}/redis{so}": f"redis {v}", f"{ini_dir}/50-redis{ini}": ""},
        )
        for v in (1, 2, 3)
    }
    unrelated = stand_in_rpm(
        base / "unrelated",
        "testonly-unrelated",
        1,
        {
            f"{target.php_fpm}-tool": "not php-fpm",  # same directory, a name that merely starts like it
            f"{modules}/README": "not an extension",
            f"{ini_dir}/50-redis{ini}.rpmsave-notes": "not an ini file",
        },
    )
    return Builds(
        selinux,
        fpm,
        sites,
        bad_package(base / "bad", target.store),
        build_runtime(target, base / "build").rpms[0],
        build_host_package(base / "host", target),
        php_fpm,
        php_ext,
        unrelated,
    )


class Host:
    """An rpm root, and the private policy root its semodule calls are replayed on."""

    def __init__(self, tmp_path: Path, builds: Builds, store: str, active: str | None = None) -> None:
        self.root = RpmRoot(tmp_path / "root", store, active=active)
        self.tmp = tmp_path
        self.builds = builds
        self.store = store
        self.replayed = 0
        assert self.root.rpm("-i", builds.host).returncode == 0
        for site in builds.sites.values():  # the site's directories exist, as on a host that serves it
            for path in (*site.relabel_paths, *site.writable_dirs):
                (self.root.path / str(path).lstrip("/")).mkdir(parents=True, exist_ok=True)

    def rpm(self, *args: str | Path, ok: bool = True) -> tuple[list[Call], str]:
        self.root.clear_calls()
        result = self.root.rpm(*args)
        if ok:
            assert result.returncode == 0, result.stdout + result.stderr
        return self.root.calls(), result.stdout + result.stderr

    def reconcile(self, *args: str) -> subprocess.CompletedProcess[str]:
        self.root.clear_calls()
        return self.root.chroot(RECONCILE, *args)

    def status(self) -> subprocess.CompletedProcess[str]:
        return self.root.chroot(RECONCILE, "--status")

    def unit_file(self, name: str) -> Path:
        return self.root.path / "usr/lib/systemd/system" / self.builds.sites[(name, 1)].names.unit

    def replay(self, calls: list[Call], never_links: str = "") -> None:
        """Every recorded semodule call against the real semodule: the stand-in's verdict must hold there."""
        if not hasattr(self, "policy"):
            self.policy = make_policy_root(self.tmp / "policy")
        for call in (c for c in calls if c.tool == "semodule"):
            argv = semodule_argv_for_replay(call, self.root.path, self.policy)
            result = subprocess.run(argv, capture_output=True, text=True, check=False)
            self.replayed += 1
            bad = bool(never_links) and any(arg.endswith(f"/{never_links}.pp.bz2") for arg in call.args)
            assert (result.returncode != 0) == bad, f"{argv}: {result.stdout}{result.stderr}"

    def real_modules(self) -> set[str]:
        return sites_only({m for m in store_modules(self.policy, self.store) if m.startswith("sitepolicy_")})

    def modules(self) -> set[str]:
        """What the stand-in's store holds."""
        return sites_only({m for m in self.root.store_modules() if m.startswith("sitepolicy_")})


BASE = "sitepolicy_base"


def sites_only(modules: set[str]) -> set[str]:
    """The site modules of a store; never one without the runtime's base module (issue 11)."""
    sites = modules - {BASE}
    assert not sites or BASE in modules, f"site modules without {BASE}: {sites}"
    return sites


def existing(host: Host, site: Site) -> set[str]:
    """The site's paths (its file contexts' entries) that exist in the root: what reconcile relabels."""
    paths = all_paths(site) | {str(site.upload_tmp_dir)}
    return {p for p in paths if (host.root.path / p.lstrip("/")).exists()}


def unit_text(rpm: Path, unit: str) -> bytes:
    return read_payload_file(rpm, f"/usr/lib/systemd/system/{unit}")


def semodule_calls(calls: list[Call]) -> list[Call]:
    return [c for c in calls if c.tool == "semodule"]


def journal(calls: list[Call], level: str) -> list[str]:
    """The messages reconcile sent to the journal at ``level`` (user.err, user.notice)."""
    return [c.args[-1] for c in calls if c.tool == "logger" and c.args[:4] == ("-t", "sitepolicy", "-p", level)]


def systemctl(calls: list[Call], verb: str) -> list[tuple[str, ...]]:
    return [c.args[1:] for c in calls if c.tool == "systemctl" and c.args[:1] == (verb,)]


def test_a_module_that_never_links_holds_back_only_itself(builds, tmp_path, target):
    host = Host(tmp_path, builds, target.store)
    bad = module(BAD)
    host.root.never_links(bad)
    calls, output = host.rpm("-i", builds.runtime, builds.selinux[(A, 1)], builds.bad, builds.selinux[(B, 1)])
    # rpm still exits 0 (a failed trigger is a warning); the output names the module and why
    assert f"module {bad} was not installed" in output and "Failed to resolve" in output, output
    (error,) = journal(calls, "user.err")
    assert bad in error and "Failed to resolve" in error and "the others were" in error
    # the batch failed, then halves: the healthy two went in, the bad one alone failed
    semodules = semodule_calls(calls)
    assert operations(semodules[0]) == ({module(A), module(B), bad}, set())
    assert len(semodules) == 5, [c.args for c in semodules]
    # The runtime's new base module (issue 11) is in every call, and every half, until one went in: the sites'
    # CIL modules link only with it (the replay below proves each verdict with the real semodule).
    with_base = [any(a.endswith(f"/{BASE}.cil.bz2") for a in c.args) for c in semodules]
    assert with_base == [True, True, False, False, False], [c.args for c in semodules]
    assert host.modules() == {module(A), module(B)}
    assert [c.tool for c in calls].count("load_policy") == 1
    assert relabelled(calls) == [all_paths(builds.sites[(A, 1)]) | all_paths(builds.sites[(B, 1)])]
    status = host.status()
    assert status.returncode == 1
    assert f"install {bad} (failed: Failed to resolve" in status.stdout
    assert module(A) not in status.stdout and module(B) not in status.stdout
    host.replay(calls, never_links=bad)
    assert host.real_modules() == {module(A), module(B)}

    # Next transaction: install charlie, erase alpha. The bad module fails again; the healthy erase and
    # install are not blocked.
    calls, output = host.rpm("-e", builds.sites[(A, 1)].names.selinux_package)
    calls2, output2 = host.rpm("-i", builds.selinux[(C, 1)])
    assert host.modules() == {module(B), module(C)}
    assert f"module {bad} was not installed" in output and f"module {bad} was not installed" in output2
    host.replay(calls + calls2, never_links=bad)
    assert host.real_modules() == {module(B), module(C)}
    status = host.status()
    assert status.returncode == 1 and status.stdout.startswith(f"install {bad} (failed:")

    # Once the module goes (its package erased), nothing is pending.
    calls, _ = host.rpm("-e", f"sitepolicy-{BAD}-selinux")
    assert semodule_calls(calls) == [] and host.status().stdout == "nothing pending\n"


def test_a_failed_stop_at_erase_leaves_the_site_whole(builds, tmp_path, target):
    """%preun's `systemctl disable --now` fails: rpm keeps -php-fpm, erases -selinux, and reconcile keeps the
    module while the unit is installed. Erasing -php-fpm later completes the erase."""
    host = Host(tmp_path, builds, target.store)
    n = builds.sites[(A, 1)].names
    calls, _ = host.rpm("-i", builds.runtime, builds.selinux[(A, 1)], builds.fpm[(A, 1)])
    assert systemctl(calls, "start") == [("--no-block", n.unit)]
    host.replay(calls)  # now: the erase takes the module file away
    host.root.fail_next("systemctl")
    calls, output = host.rpm("-e", n.selinux_package, n.php_fpm_package, ok=False)
    assert "%preun(" in output and "scriptlet failed" in output, output
    assert systemctl(calls, "disable") == [("--now", n.unit)]  # the one that failed; nothing else disabled it
    assert host.root.rpm("-q", n.php_fpm_package).returncode == 0  # kept, with its unit
    assert host.root.rpm("-q", n.selinux_package).returncode != 0
    assert host.unit_file(A).exists()
    assert semodule_calls(calls) == [] and host.modules() == {n.module}  # the domain stays
    (held,) = journal(calls, "user.err")
    assert n.module in held and n.unit in held
    status = host.status()
    assert status.returncode == 1
    assert status.stdout == f"remove {n.module} (held: its unit {n.unit} is still installed)\n"

    calls, _ = host.rpm("-e", n.php_fpm_package)  # the stop works now: the held removal follows
    (call,) = semodule_calls(calls)
    assert operations(call) == (set(), {n.module})
    assert relabelled(calls) == [existing(host, builds.sites[(A, 1)])]
    assert host.modules() == set() and host.status().stdout == "nothing pending\n"
    host.replay(calls)
    assert host.real_modules() == set()


@pytest.mark.parametrize("tool", ["restorecon", "load_policy"])
def test_a_failed_relabel_or_load_is_retried_and_the_unit_then_starts(builds, tmp_path, target, tool):
    host = Host(tmp_path, builds, target.store)
    n = builds.sites[(A, 1)].names
    host.root.fail_next(tool, times=100)  # every call in this transaction (each trigger runs reconcile)
    calls, output = host.rpm("-i", builds.runtime, builds.selinux[(A, 1)], builds.fpm[(A, 1)])
    host.root.fail_next(tool, times=0)
    assert f"{tool} failed" in output and systemctl(calls, "start") == []
    assert host.modules() == {n.module}
    status = host.status()
    assert status.returncode == 1 and f"start {n.unit}" in status.stdout
    assert f"relabel {n.module}" in status.stdout
    if tool == "load_policy":
        assert "load_policy\n" in status.stdout

    retry = host.reconcile()
    assert retry.returncode == 0, retry.stderr
    after = host.root.calls()
    assert semodule_calls(after) == [] and [c.tool for c in after].count("load_policy") == (tool == "load_policy")
    assert relabelled(after) == [existing(host, builds.sites[(A, 1)])]
    assert systemctl(after, "start") == [("--no-block", n.unit)]
    starts = [i for i, c in enumerate(after) if c.tool == "systemctl" and c.args[:1] == ("start",)]
    assert starts[0] > max(i for i, c in enumerate(after) if c.tool in ("restorecon", "load_policy"))
    assert host.status().stdout == "nothing pending\n"
    host.replay(calls)
    assert host.real_modules() == {n.module}


def test_noscripts_and_notriggers_leave_nothing_unseen(builds, tmp_path, target):
    """The runtime and a site installed with their triggers skipped, then a site erased with its scripts and
    triggers skipped: --status shows every module the store lacks or holds that no installed package has.
    (A site's CIL module links only with the runtime's base, issue 11: the base is pending with it.)"""
    host = Host(tmp_path, builds, target.store)
    a, b = builds.sites[(A, 1)].names, builds.sites[(B, 1)].names
    host.rpm("-i", "--notriggers", builds.runtime)
    assert host.status().stdout == f"install {BASE}\n"  # not yet installed by the runtime
    calls, _ = host.rpm("-i", "--noscripts", "--notriggers", builds.selinux[(A, 1)])
    assert calls == [] and set(host.status().stdout.splitlines()) == {f"install {BASE}", f"install {a.module}"}
    retry = host.reconcile()
    assert retry.returncode == 0, retry.stderr
    calls = host.root.calls()
    (call,) = semodule_calls(calls)
    assert operations(call) == ({a.module}, set()) and call.args.count("-i") == 2  # the base in the same call
    host.replay(calls)
    calls, _ = host.rpm("-i", "--noscripts", "--notriggers", builds.selinux[(B, 1)])
    assert calls == [] and host.status().stdout == f"install {b.module}\n"
    host.rpm("-e", "--noscripts", "--notriggers", "--nodeps", a.selinux_package)
    status = host.status()
    assert status.returncode == 1 and status.stdout == f"install {b.module}\nremove {a.module}\n"
    assert host.modules() == {a.module}

    retry = host.reconcile()
    assert retry.returncode == 0, retry.stderr
    (call,) = semodule_calls(host.root.calls())
    assert operations(call) == ({b.module}, {a.module})
    assert host.modules() == {b.module} and host.status().stdout == "nothing pending\n"
    host.replay([call])
    assert host.real_modules() == {b.module}


def test_a_full_disk_never_loses_a_relabel(builds, tmp_path, target):
    """The runtime's state on a tiny tmpfs, filled up: reconcile fails loudly and keeps the relabel pending;
    once there is room, the retry relabels exactly the changed entry."""
    host = Host(tmp_path, builds, target.store)
    calls, _ = host.rpm("-i", builds.runtime, builds.selinux[(C, 1)])
    host.replay(calls)  # now: the upgrade replaces the module file
    replay: list[Call] = []
    state = host.root.path / "var/lib/sitepolicy/runtime" / target.store
    saved = {p.name: p.read_bytes() for p in state.iterdir() if p.is_file()}
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "sitepolicy-test", str(state)], check=True)
    try:
        for name, data in saved.items():
            (state / name).write_bytes(data)
        with open(state / "filler", "wb", buffering=0) as filler:
            try:
                while True:
                    filler.write(b"x" * 4096)
            except OSError:
                pass
        calls, output = host.rpm("-U", builds.selinux[(C, 2)])
        replay += calls
        assert "pending work kept" in output and "cannot" in output, output
        assert relabelled(calls) == []
        (state / "filler").unlink()
        status = host.status()
        # the module went in, but its record could not be written: reinstalled, and relabelled after it
        assert status.returncode == 1 and f"install {module(C)}" in status.stdout
        retry = host.reconcile()
        assert retry.returncode == 0, retry.stderr
        assert relabelled(host.root.calls()) == [{f"/srv/www/{C}/cache"}]
        replay += host.root.calls()
        fc = host.root.path / f"usr/share/sitepolicy/fc/{target.store}/{module(C)}.fc"
        assert (state / f"{module(C)}.fc").read_bytes() == fc.read_bytes()
        assert host.status().stdout == "nothing pending\n"
    finally:
        subprocess.run(["umount", str(state)], check=True)
    host.replay(replay)
    assert host.real_modules() == {module(C)}


def test_php_fpm_upgrade_restarts_every_pool_once(builds, tmp_path, target):
    """Five sites; a php-fpm upgrade: one daemon-reload and one try-restart of all five pools, no policy work.
    Three -php-fpm upgrades: one semodule call and one try-restart of those three."""
    host = Host(tmp_path, builds, target.store)
    sites = (A, B, C, E, F)
    units = [builds.sites[(s, 1)].names.unit for s in sites]
    packages = [p for s in sites for p in (builds.selinux[(s, 1)], builds.fpm[(s, 1)])]
    calls, output = host.rpm("-i", builds.runtime, builds.php_fpm[1], *packages)
    assert "scriptlet failed" not in output, output
    (call,) = semodule_calls(calls)
    replay = [call]
    assert operations(call) == ({module(s) for s in sites}, set())
    presets = [c.args for c in calls if c.tool == "systemctl" and c.args[:2] == ("--no-reload", "preset")]
    assert sorted(presets) == sorted(("--no-reload", "preset", u) for u in units)
    (start,) = systemctl(calls, "start")
    assert start[0] == "--no-block" and sorted(start[1:]) == sorted(units)

    calls, output = host.rpm("-U", builds.php_fpm[2])
    assert semodule_calls(calls) == [] and "scriptlet failed" not in output, output
    assert systemctl(calls, "daemon-reload") == [()]
    (restart,) = systemctl(calls, "try-restart")
    assert restart[0] == "--no-block" and sorted(restart[1:]) == sorted(units)
    assert systemctl(calls, "start") == [] and host.status().stdout == "nothing pending\n"

    # Three site upgrades. alpha's installed unit is made to differ from its new one (a unit change between
    # releases): it is restarted; the others, whose unit is the same, are reloaded (no gap in serving).
    unit_dir = host.root.path / "usr/lib/systemd/system"
    with open(unit_dir / units[0], "a") as unit:
        unit.write("# an older release of this unit\n")
    same = [
        u for s, u in zip((A, B, C), units[:3]) if unit_text(builds.fpm[(s, 1)], u) == unit_text(builds.fpm[(s, 2)], u)
    ]
    calls, output = host.rpm("-U", *[p for s in (A, B, C) for p in (builds.selinux[(s, 2)], builds.fpm[(s, 2)])])
    assert "scriptlet failed" not in output, output
    (call,) = semodule_calls(calls)
    replay.append(call)
    assert operations(call) == ({module(A), module(B), module(C)}, set())
    assert systemctl(calls, "daemon-reload") == [()]
    assert systemctl(calls, "try-restart") == [("--no-block", units[0])]
    reloaded = [u for u in units[1:3] if u in same]
    assert systemctl(calls, "try-reload-or-restart") == ([("--no-block", *reloaded)] if reloaded else [])
    first = min(i for i, c in enumerate(calls) if c.tool == "systemctl" and c.args[0].startswith("try-"))
    assert first > max(i for i, c in enumerate(calls) if c.tool in ("semodule", "load_policy", "restorecon"))
    assert host.status().stdout == "nothing pending\n"
    host.replay(replay)
    assert host.real_modules() == {module(s) for s in sites}


def test_a_mislabelled_php_fpm_holds_every_restart_back(builds, tmp_path, target):
    """php-fpm written without its label (bin_t: an rpm without its SELinux plugin): reconcile runs restorecon
    on it before any restart, and while it is still not the type the site domains may enter, it restarts no
    pool (each keeps serving on the binary it runs), keeps the restarts pending and fails, naming the file.
    Once the label is right, the retry restarts them. restorecon is a stand-in here (it changes nothing);
    the guest's php-fpm scenario shows the real one putting the label right before the restart."""
    host = Host(tmp_path, builds, target.store)
    units = [builds.sites[(s, 1)].names.unit for s in (A, B)]
    packages = [p for s in (A, B) for p in (builds.selinux[(s, 1)], builds.fpm[(s, 1)])]
    host.rpm("-i", builds.runtime, builds.php_fpm[1], *packages)
    binary = host.root.path / str(target.php_fpm).lstrip("/")

    os.setxattr(binary, "security.selinux", b"system_u:object_r:bin_t:s0\0")
    held = host.reconcile("--php-fpm-changed")
    calls = host.root.calls()
    assert held.returncode == 1 and f"{target.php_fpm} is labelled bin_t, not httpd_exec_t" in held.stderr
    assert [c.args for c in calls if c.tool == "restorecon"] == [("--", str(target.php_fpm))]
    assert systemctl(calls, "try-restart") == [] and systemctl(calls, "start") == []
    assert sorted(host.status().stdout.split("\n")[:-1]) == sorted(f"restart {u}" for u in units)

    os.setxattr(binary, "security.selinux", b"system_u:object_r:httpd_exec_t:s0\0")
    retry = host.reconcile()
    calls = host.root.calls()
    assert retry.returncode == 0, retry.stderr
    assert [c for c in calls if c.tool == "restorecon"] == []
    (restart,) = systemctl(calls, "try-restart")
    assert restart[0] == "--no-block" and sorted(restart[1:]) == sorted(units)
    assert host.status().stdout == "nothing pending\n"


def test_php_extension_upgrades_restart_every_pool_once(builds, tmp_path, target):
    """An upgraded PHP extension (its .so and its ini file) reaches every pool as a php-fpm upgrade does: one
    daemon-reload and one try-restart of all pools, no policy work. php-fpm and an extension upgraded in one
    transaction: still ONE try-restart. Other files in the watched directories: no restart."""
    host = Host(tmp_path, builds, target.store)
    sites = (A, B, C)
    units = sorted(builds.sites[(s, 1)].names.unit for s in sites)
    packages = [p for s in sites for p in (builds.selinux[(s, 1)], builds.fpm[(s, 1)])]
    calls, output = host.rpm("-i", builds.runtime, builds.php_fpm[1], builds.php_ext[1], *packages)
    assert "scriptlet failed" not in output, output
    replay = semodule_calls(calls)
    assert host.status().stdout == "nothing pending\n"

    for upgrade in ([builds.php_ext[2]], [builds.php_fpm[2], builds.php_ext[3]]):
        calls, output = host.rpm("-U", *upgrade)
        assert semodule_calls(calls) == [] and "scriptlet failed" not in output, output
        assert systemctl(calls, "daemon-reload") == [()]
        assert systemctl(calls, "try-restart") == [("--no-block", *units)]
        assert journal(calls, "user.notice") == [f"systemctl try-restart: {' '.join(units)}"]
        assert systemctl(calls, "start") == [] and systemctl(calls, "try-reload-or-restart") == []
        assert host.status().stdout == "nothing pending\n"

    calls, output = host.rpm("-i", builds.unrelated)
    assert "scriptlet failed" not in output, output
    assert [c for c in calls if c.tool in ("systemctl", "semodule")] == []
    host.replay(replay)
    assert host.real_modules() == {module(s) for s in sites}


@pytest.mark.parametrize("active", ["mls", "minimum", "targeted;rm -rf /", ""])
def test_the_store_is_the_packages_own_and_loaded_only_when_active(builds, tmp_path, target, active):
    """Another SELINUXTYPE (or a typo, or none): the module goes into the package's declared store; no
    load_policy, no relabel, no start, said so; the start stays pending."""
    host = Host(tmp_path, builds, target.store, active=active or "x")
    if not active:
        (host.root.path / "etc/selinux/config").write_text("SELINUX=enforcing\n")
    n = builds.sites[(A, 1)].names
    calls, output = host.rpm("-i", builds.runtime, builds.selinux[(A, 1)], builds.fpm[(A, 1)])
    (call,) = semodule_calls(calls)
    assert call.args[:5] == ("-n", "-s", target.store, "-X", "200")
    assert host.modules() == {n.module}
    assert [c.tool for c in calls if c.tool in ("load_policy", "restorecon")] == []
    assert systemctl(calls, "start") == []
    assert f"policy store {target.store} is not the active one" in output
    assert not (host.root.path / "etc/selinux" / (active or "x")).exists()
    status = host.status()
    assert status.returncode == 1 and status.stdout == f"start {n.unit}\n"
    host.replay(calls)


def test_selinux_disabled_installs_into_the_store_and_starts(builds, tmp_path, target):
    host = Host(tmp_path, builds, target.store)
    host.root.set_status("selinuxenabled", 1)
    n = builds.sites[(A, 1)].names
    calls, _ = host.rpm("-i", builds.runtime, builds.selinux[(A, 1)], builds.fpm[(A, 1)])
    (call,) = semodule_calls(calls)
    assert operations(call) == ({n.module}, set()) and host.modules() == {n.module}
    assert [c.tool for c in calls if c.tool in ("load_policy", "restorecon")] == []
    assert systemctl(calls, "start") == [("--no-block", n.unit)]
    assert host.status().stdout == "nothing pending\n"
