"""One policy rebuild per transaction, with the real rpm and dnf, in a throwaway rpm root.

Each transaction's recorded semodule call is replayed with the real `semodule -p` on a private
policy root, and the modules at priority 200 there are compared with the sites installed.
See tests/rpmroot.py for the root and its stand-ins.
"""

from __future__ import annotations

import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from rpmroot import Call, RpmRoot, build_host_package, make_policy_root, semodule_argv_for_replay, store_modules

from sitepolicy.definition.site import Site, load_site
from sitepolicy.package.build import build_runtime, build_site

pytestmark = pytest.mark.slow

SITES = ("alpha.example.com", "bravo.example.com", "charlie.example.com")
# (site, release) -> extra YAML. Release 2 of alpha and bravo changes the module but not the file
# contexts; charlie 2 and alpha 3 add a writable directory (one new .fc entry each).
VARIANTS: dict[tuple[str, int], str] = {
    ("alpha.example.com", 1): "",
    ("alpha.example.com", 2): "network: [smtp]\n",
    ("alpha.example.com", 3): "network: [smtp]\nwritable: [uploads, files]\n",
    ("bravo.example.com", 1): "",
    ("bravo.example.com", 2): "network: [http]\n",
    ("charlie.example.com", 1): "",
    ("charlie.example.com", 2): "writable: [uploads, cache]\n",
}


def definition(name: str, extra: str) -> str:
    user = name.split(".")[0]
    text = f"site: {name}\ndocroot: /srv/www/{name}\nuser: {user}\n"
    return text + (extra if "writable" in extra else extra + "writable: [uploads]\n")


@dataclass(frozen=True)
class Builds:
    rpms: dict[tuple[str, int], Path]  # -selinux package per (site, release)
    fpm: dict[tuple[str, int], Path]  # -php-fpm package per (site, release)
    sites: dict[tuple[str, int], Site]
    runtime: Path
    host: Path
    repo: Path  # a dnf repository holding all of them


Variants = dict[tuple[str, int], str]  # (site, release) -> extra definition lines


def build_variants(
    base: Path, variants: Variants, target, headers
) -> tuple[dict[tuple[str, int], Path], dict[tuple[str, int], Path], dict[tuple[str, int], Site]]:
    """Build every (site, release) variant with rpmbuild: its -selinux and -php-fpm packages and its Site."""
    selinux: dict[tuple[str, int], Path] = {}
    fpm: dict[tuple[str, int], Path] = {}
    sites: dict[tuple[str, int], Site] = {}
    for (name, release), extra in variants.items():
        defs = base / f"defs-{release}"
        defs.mkdir(exist_ok=True)
        (defs / f"{name}.yaml").write_text(definition(name, extra))
        site = load_site(defs / f"{name}.yaml")
        built = build_site(site, target, headers, base / f"build-{release}", str(release))
        selinux[(name, release)] = next(p for p in built.rpms if p.name.startswith(site.names.selinux_package + "-1"))
        fpm[(name, release)] = next(p for p in built.rpms if p.name.startswith(site.names.php_fpm_package + "-1"))
        sites[(name, release)] = site
    return selinux, fpm, sites


@pytest.fixture(scope="module")
def builds(tmp_path_factory, target, headers) -> Builds:
    base = tmp_path_factory.mktemp("transactions")
    rpms, fpm, sites = build_variants(base, VARIANTS, target, headers)
    runtime = build_runtime(target, base / "build").rpms[0]
    host = build_host_package(base / "host", target)
    repo = base / "repo"
    repo.mkdir()
    for path in (*rpms.values(), *fpm.values(), runtime, host):
        (repo / path.name).symlink_to(path)
    subprocess.run(["createrepo_c", "-q", str(repo)], check=True)
    return Builds(rpms, fpm, sites, runtime, host, repo)


class Host:
    """An rpm root plus the private policy root its semodule calls are replayed on."""

    def __init__(self, tmp_path: Path, builds: Builds, manager: str, store: str) -> None:
        self.root = RpmRoot(tmp_path / "root", store)
        self.policy = make_policy_root(tmp_path / "policy")
        self.builds = builds
        self.manager = manager
        self.store = store
        assert self.root.rpm("-i", builds.host).returncode == 0
        for site in builds.sites.values():  # the site's directories exist, as on a host that serves it
            for path in (*site.relabel_paths, *site.writable_dirs):
                (self.root.path / str(path).lstrip("/")).mkdir(parents=True, exist_ok=True)

    def package(self, name: str, release: int) -> str:
        return self.builds.sites[(name, release)].names.selinux_package

    def transaction(
        self, install: list[tuple[str, int]] = (), erase: list[str] = (), runtime: bool = False
    ) -> tuple[list[Call], str]:
        """One transaction (install or upgrade the given releases, erase the given sites); returns the
        stand-ins' calls and the manager's output. Both managers exit 0 even when a trigger fails."""
        self.root.clear_calls()
        files = [self.builds.rpms[key] for key in install] + ([self.builds.runtime] if runtime else [])
        erase_names = [self.builds.sites[(name, 1)].names.selinux_package for name in erase]
        if self.manager == "rpm":
            result = self._rpm(files, erase_names)
        else:
            result = self._dnf(files, erase_names)
        assert result.returncode == 0, result.stdout + result.stderr
        return self.root.calls(), result.stdout + result.stderr

    def _rpm(self, files: list[Path], erase: list[str]) -> subprocess.CompletedProcess[str]:
        if not erase:
            return self.root.rpm("-U", *files)
        if not files:
            return self.root.rpm("-e", *erase)
        # rpm's command line cannot mix erase and install; its Python bindings (the same librpm) can.
        script = textwrap.dedent(
            """
            import sys, rpm
            root, files, erase = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
            rpm.addMacro("_dbpath", "/var/lib/rpm")
            ts = rpm.TransactionSet(root)
            ts.setVSFlags(rpm._RPMVSF_NOSIGNATURES)
            for f in files:
                with open(f, "rb") as fd:
                    ts.addInstall(ts.hdrFromFdno(fd), f, "u")
            for name in erase:
                ts.addErase(name)
            assert not ts.check(), ts.check()
            ts.order()
            fds = {}
            def callback(what, amount, total, key, data):
                if what == rpm.RPMCALLBACK_INST_OPEN_FILE:
                    fds[key] = open(key, "rb")
                    return fds[key].fileno()
                if what == rpm.RPMCALLBACK_INST_CLOSE_FILE:
                    fds.pop(key).close()
            problems = ts.run(callback, "")
            sys.exit(1 if problems else 0)
            """
        )
        argv = ["/usr/bin/python3", "-c", script, str(self.root.path), " ".join(map(str, files)), " ".join(erase)]
        return subprocess.run(argv, capture_output=True, text=True, env=self.root.env(), check=False)

    def _dnf(self, files: list[Path], erase: list[str]) -> subprocess.CompletedProcess[str]:
        repo = self.builds.repo
        if not erase:
            return self.root.dnf(repo, "install", *map(str, files))
        if not files:
            return self.root.dnf(repo, "remove", *erase)
        script = self.root.home / "dnf-shell"
        # dnf shell takes local packages in one install command only
        lines = ["install " + " ".join(map(str, files)), "remove " + " ".join(erase), "run"]
        script.write_text("\n".join(lines) + "\n")
        return self.root.dnf(repo, "shell", str(script))

    def replay(self, call: Call) -> None:
        """The recorded semodule arguments, run for real against the private policy root."""
        argv = semodule_argv_for_replay(call, self.root.path, self.policy)
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        assert result.returncode == 0, f"{argv}: {result.stdout}{result.stderr}"

    def modules(self) -> set[str]:
        """The site modules in the policy store; never one without the base module (issue 11)."""
        found = {m for m in store_modules(self.policy, self.store) if m.startswith("sitepolicy_")}
        sites = found - {BASE}
        assert not sites or BASE in found, f"site modules without {BASE}: {sites}"
        return sites

    def status(self) -> subprocess.CompletedProcess[str]:
        return self.root.chroot("/usr/libexec/sitepolicy/reconcile", "--status")


BASE = "sitepolicy_base"  # the runtime's base module: installed with the first site, in the same call


def module(name: str) -> str:
    return "sitepolicy_" + name.replace("-", "__").replace(".", "_")


def semodule_calls(calls: list[Call]) -> list[Call]:
    return [c for c in calls if c.tool == "semodule"]


def operations(call: Call) -> tuple[set[str], set[str]]:
    """(modules installed, modules removed) by one semodule call; checks its fixed part."""
    assert call.args[:5] == ("-n", "-s", "default", "-X", "200"), call
    assert len(call.args) % 2 == 1, call  # every -i/-r has its argument
    pairs = list(zip(call.args[5::2], call.args[6::2]))
    installs = {Path(arg).name.split(".")[0] for op, arg in pairs if op == "-i"} - {BASE}  # .cil.bz2 or .pp.bz2
    removes = {arg for op, arg in pairs if op == "-r"} - {BASE}
    assert {op for op, _ in pairs} <= {"-i", "-r"}
    return installs, removes


def relabelled(calls: list[Call]) -> list[set[str]]:
    """The path set of each restorecon run."""
    runs = []
    for call in calls:
        if call.tool == "restorecon" and "-n" not in call.args:  # -n: reconcile asking whether -T works
            assert call.args[0] == "-R" and "--" in call.args, call
            runs.append(set(call.args[call.args.index("--") + 1 :]))
    return runs


def all_paths(site: Site) -> set[str]:
    """Every path the site's file contexts cover (site.relabel_paths, now with its config dir)."""
    return {str(p) for p in site.relabel_paths} | {str(p) for p in site.writable_dirs}


@pytest.mark.parametrize("manager", ["rpm", "dnf"])
def test_one_semodule_call_per_transaction(manager, builds, tmp_path, target):
    host = Host(tmp_path, builds, manager, target.store)
    a, b, c = SITES
    site = builds.sites

    # 1. install three sites (and the runtime they require) in one transaction
    calls, _ = host.transaction(install=[(a, 1), (b, 1), (c, 1)], runtime=True)
    (call,) = semodule_calls(calls)
    assert operations(call) == ({module(a), module(b), module(c)}, set())
    assert [x.tool for x in calls].count("load_policy") == 1
    assert relabelled(calls) == [all_paths(site[(a, 1)]) | all_paths(site[(b, 1)]) | all_paths(site[(c, 1)])]
    host.replay(call)
    assert host.modules() == {module(a), module(b), module(c)}

    # 2. upgrade all three: only -i (the modules are never absent); only charlie's new entry is relabelled
    calls, _ = host.transaction(install=[(a, 2), (b, 2), (c, 2)])
    (call,) = semodule_calls(calls)
    assert operations(call) == ({module(a), module(b), module(c)}, set())
    assert relabelled(calls) == [{f"/srv/www/{c}/cache"}]
    host.replay(call)
    assert host.modules() == {module(a), module(b), module(c)}

    # 3. erase two: one call removing both; their paths go back to the base policy's labels
    calls, _ = host.transaction(erase=[a, b])
    (call,) = semodule_calls(calls)
    assert operations(call) == (set(), {module(a), module(b)})
    assert relabelled(calls) == [all_paths(site[(a, 2)]) | all_paths(site[(b, 2)])]
    host.replay(call)
    assert host.modules() == {module(c)}

    # 4. mixed: install bravo, upgrade alpha, erase charlie (alpha first comes back, to have one to upgrade)
    calls, _ = host.transaction(install=[(a, 2)])
    host.replay(semodule_calls(calls)[0])
    calls, _ = host.transaction(install=[(b, 1), (a, 3)], erase=[c])
    (call,) = semodule_calls(calls)
    assert operations(call) == ({module(b), module(a)}, {module(c)})
    assert [x.tool for x in calls].count("load_policy") == 1
    assert relabelled(calls) == [all_paths(site[(b, 1)]) | {f"/srv/www/{a}/files"} | all_paths(site[(c, 2)])]
    host.replay(call)
    assert host.modules() == {module(a), module(b)}
    assert host.status().stdout == "nothing pending\n"


def test_failed_semodule_stays_pending_and_the_next_transaction_completes_it(builds, tmp_path, target):
    # dnf only: the trigger and reconcile are the same under rpm (shown above), and each replay costs ~5 s.
    host = Host(tmp_path, builds, "dnf", target.store)
    a, b, c = SITES
    calls, _ = host.transaction(install=[(a, 1)], runtime=True)
    host.replay(semodule_calls(calls)[0])

    host.root.fail_next("semodule")
    calls, output = host.transaction(install=[(b, 1)])  # the manager still exits 0 ...
    assert f"module {module(b)} was not installed" in output and "pending work kept" in output  # ... and says why
    assert len(semodule_calls(calls)) == 1 and relabelled(calls) == []
    status = host.status()
    assert status.returncode == 1 and f"install {module(b)}" in status.stdout

    calls, _ = host.transaction(install=[(c, 1)])
    (call,) = semodule_calls(calls)
    assert operations(call) == ({module(b), module(c)}, set())
    assert relabelled(calls) == [all_paths(builds.sites[(b, 1)]) | all_paths(builds.sites[(c, 1)])]
    host.replay(call)
    assert host.modules() == {module(a), module(b), module(c)}
    assert host.status().returncode == 0

    # A failure can also be retried by hand, with the documented command.
    host.root.fail_next("semodule")
    host.transaction(erase=[c])
    host.root.clear_calls()
    manual = host.root.chroot("/usr/libexec/sitepolicy/reconcile")
    assert manual.returncode == 0, manual.stderr
    (call,) = semodule_calls(host.root.calls())
    assert operations(call) == (set(), {module(c)})


def test_without_the_runtime_a_site_installs_itself_and_ends_the_same(builds, tmp_path, target):
    """--nodeps without the runtime: the site's own %post tries to install it; a CIL module links only with
    the runtime's base (issue 11), so on a host without it that call fails and %post says why (never silently
    inert); the runtime then installs the base and the site in one call."""
    host = Host(tmp_path, builds, "rpm", target.store)
    a = SITES[0]
    host.root.fail_next("semodule")  # what the real semodule answers here (replayed below)
    result = host.root.rpm("-i", "--nodeps", builds.rpms[(a, 1)])
    assert "links only with the base module of sitepolicy-selinux-runtime" in result.stderr, result.stderr
    calls = host.root.calls()
    (call,) = semodule_calls(calls)
    assert operations(call) == ({module(a)}, set())
    argv = semodule_argv_for_replay(call, host.root.path, host.policy)
    assert subprocess.run(argv, capture_output=True, text=True, check=False).returncode != 0  # no base: no link
    assert host.modules() == set()

    calls, _ = host.transaction(runtime=True)  # the runtime's trigger takes over what is on disk
    (call,) = semodule_calls(calls)
    assert operations(call) == ({module(a)}, set()) and call.args.count("-i") == 2  # the base with it
    host.replay(call)
    assert host.modules() == {module(a)}

    # Erasing the runtime removes every site module in one call.
    host.root.clear_calls()
    assert host.root.rpm("-e", "--nodeps", "sitepolicy-selinux-runtime").returncode == 0
    (call,) = semodule_calls(host.root.calls())
    assert operations(call) == (set(), {module(a)})
    host.replay(call)
    assert host.modules() == set()


def test_php_fpm_units_start_once_the_policy_is_loaded(builds, tmp_path, target):
    """Both packages of two sites and the runtime in one transaction: the units are enabled by preset and
    started by reconcile in one call after the one semodule call, load_policy and restorecon."""
    host = Host(tmp_path, builds, "rpm", target.store)
    a, b = SITES[:2]
    files = [builds.rpms[(a, 1)], builds.fpm[(a, 1)], builds.rpms[(b, 1)], builds.fpm[(b, 1)], builds.runtime]
    result = host.root.rpm("-i", *files)
    assert result.returncode == 0 and "scriptlet failed" not in result.stderr, result.stderr
    calls = host.root.calls()
    units = [builds.sites[(x, 1)].names.unit for x in (a, b)]
    (call,) = semodule_calls(calls)
    assert operations(call) == ({module(a), module(b)}, set())
    assert len(relabelled(calls)) == 1  # the -php-fpm packages leave relabelling to the runtime too
    # one systemctl call starts both, without blocking, after the policy work
    (start,) = [i for i, c in enumerate(calls) if c.tool == "systemctl" and c.args[:1] == ("start",)]
    assert calls[start].args[1] == "--no-block" and sorted(calls[start].args[2:]) == sorted(units)
    assert start > max(i for i, c in enumerate(calls) if c.tool in ("semodule", "load_policy", "restorecon"))
    for unit in units:  # enabled by preset (the runtime's preset file), not one `enable` per package
        assert Call("systemctl", ("--no-reload", "preset", unit)) in calls
    host.replay(call)
    assert host.modules() == {module(a), module(b)}

    # A -php-fpm package installed after its module is in: the runtime's trigger on its configuration starts it.
    host.root.rpm("-e", builds.sites[(a, 1)].names.php_fpm_package)
    host.root.clear_calls()
    assert host.root.rpm("-i", builds.fpm[(a, 1)]).returncode == 0
    calls = host.root.calls()
    assert Call("systemctl", ("start", "--no-block", units[0])) in calls and semodule_calls(calls) == []
