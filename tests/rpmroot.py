"""A throwaway rpm root that runs real scriptlets and file triggers with the real rpm and dnf.

rpm and dnf chroot into the root to run scriptlets, so the root needs a shell and whatever the
scripts call. The minimal reliable way found here: copy the host's own binaries (dash as /bin/sh,
coreutils, sed, grep, cmp) together with the shared libraries `ldd` names, in the usr-merged
layout, plus a /dev/null (without it every `>/dev/null` fails and dnf still exits 0).

semodule, restorecon, load_policy, selinuxenabled, systemctl, systemd-tmpfiles, getent, groupadd
and useradd are stand-ins that exist ONLY inside this root: they append their argument list to
/var/log/standin.calls and succeed (selinuxenabled says "enabled", so the scripts take their
relabelling path; /run/systemd/system exists, so they take their systemd path). `fail_next("semodule")` makes the next
semodule call exit 1. Tests then replay each recorded semodule argument list against the real
`semodule -p` on a private policy root (see replay_semodule), so a wrong argument still fails.

Dependencies only a real host provides (the policy package, policycoreutils, /bin/sh) come from a
test-only package `sitepolicy-test-host`, built here and never published.

rpm and dnf are pointed at the root's /var/lib/rpm through a private HOME whose .rpmmacros sets
%_dbpath (Debian's rpm defaults it to ~/.rpmdb).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sitepolicy.targets import Target

TOOLS = ("dash", "sha256sum", "cat", "sed", "grep", "sort", "cmp", "cp", "mv", "rm", "mkdir", "touch", "chmod")
# Stand-ins and their exit status: getent says "no such user", so %pre creates the pool's account;
# only `getent group G` for a group in the root's /etc/group (the web servers' groups, HOST_GROUPS) finds it.
STANDINS = {
    "semodule": 0,
    "restorecon": 0,
    "load_policy": 0,
    "selinuxenabled": 0,
    "systemctl": 0,
    "systemd-tmpfiles": 0,
    "getent": 2,
    "groupadd": 0,
    "useradd": 0,
}
CALL_LOG = "var/log/standin.calls"
FAIL_DIR = "var/lib/standin-fail"
# The groups a host's web server packages create (nginx, httpd, Debian's www-data): -php-fpm's %post needs its own.
HOST_GROUPS = "nginx:x:990:\napache:x:48:\nwww-data:x:33:\n"

STANDIN = """#!/bin/sh
# Test stand-in (sitepolicy tests/rpmroot.py): records its arguments, changes nothing.
name=${0##*/}
{ printf '%s' "$name"; for arg in "$@"; do printf '\\t%s' "$arg"; done; printf '\\n'; } >> /CALL_LOG
if [ -e /FAIL_DIR/$name ]; then rm -f /FAIL_DIR/$name; echo "$name: failing once, as the test asked" >&2; exit 1; fi
if [ "$name" = getent ] && [ "$1" = group ] && grep -q "^$2:" /etc/group 2>/dev/null; then exit 0; fi
exit EXIT
"""

HOST_SPEC = """Name: sitepolicy-test-host
Version: 1
Release: 1
Summary: Test only: stands for what a real host provides; never published
License: MIT
BuildArch: noarch
Provides: /bin/sh
Provides: selinux-policy-{store} = {policy_version}
Provides: policycoreutils
Provides: coreutils
Provides: diffutils
Provides: {php_fpm_package}
Provides: systemd
Provides: {useradd_package}
Provides: grep
Provides: sed
%description
Test only.
%files
"""


@dataclass(frozen=True)
class Call:
    tool: str
    args: tuple[str, ...]


def _libraries(binary: str) -> list[str]:
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=False).stdout
    libs = []
    for line in out.splitlines():
        parts = line.split()
        if "=>" in parts and len(parts) >= 3 and parts[2].startswith("/"):
            libs.append(parts[2])
        elif parts and parts[0].startswith("/"):
            libs.append(parts[0])
    return libs


def _copy_into(root: Path, path: str) -> None:
    real = os.path.realpath(path)
    dest = root / real.lstrip("/")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not dest.exists():
        shutil.copy2(real, dest)
    if path != real:  # keep the name it is called by (e.g. a library's soname link)
        link = root / path.lstrip("/")
        if not link.exists() and not link.is_symlink():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(real)


class RpmRoot:
    def __init__(self, path: Path, store: str = "default") -> None:
        self.path = path
        self.store = store
        self.home = path.parent / f"{path.name}-home"
        self._create()

    # ---------------------------------------------------------------- set-up
    def _create(self) -> None:
        root = self.path
        for d in ("usr/bin", "usr/sbin", "usr/lib", "usr/lib64", "etc/selinux", "var/lib/rpm", "var/log", "tmp", "dev"):
            (root / d).mkdir(parents=True, exist_ok=True)
        for name in ("bin", "sbin", "lib", "lib64"):
            if not (root / name).exists():
                (root / name).symlink_to(f"usr/{name}")
        for tool in TOOLS:
            binary = shutil.which(tool)
            if binary is None:
                raise RuntimeError(f"{tool} is missing on this host")
            _copy_into(root, binary)
            for lib in _libraries(binary):
                _copy_into(root, lib)
        (root / "usr/bin/sh").unlink(missing_ok=True)
        (root / "usr/bin/sh").symlink_to("dash")
        os.mknod(root / "dev/null", 0o666 | 0o020000, os.makedev(1, 3))
        os.chmod(root / "dev/null", 0o666)
        (root / "etc/selinux/config").write_text(f"SELINUX=enforcing\nSELINUXTYPE={self.store}\n")
        (root / "etc/group").write_text(HOST_GROUPS)
        standin = STANDIN.replace("CALL_LOG", CALL_LOG).replace("FAIL_DIR", FAIL_DIR)
        for name, status in STANDINS.items():
            tool = root / "usr/sbin" / name
            tool.write_text(standin.replace("EXIT", str(status)))
            tool.chmod(0o755)
        (root / "run/systemd/system").mkdir(parents=True, exist_ok=True)
        (root / FAIL_DIR).mkdir(parents=True, exist_ok=True)
        self.home.mkdir(exist_ok=True)
        (self.home / ".rpmmacros").write_text("%_dbpath /var/lib/rpm\n")
        self.rpm("--initdb")

    def env(self) -> dict[str, str]:
        return {**os.environ, "HOME": str(self.home), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}

    # ---------------------------------------------------------------- running
    def rpm(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        argv = ["rpm", "--root", str(self.path), *map(str, args)]
        return subprocess.run(argv, capture_output=True, text=True, env=self.env(), check=False, timeout=600)

    def dnf(self, repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
        argv = [
            "dnf",
            "-y",
            f"--installroot={self.path}",
            "--releasever=1",
            "--setopt=reposdir=/nonexistent",
            "--setopt=skip_if_unavailable=0",
            "--setopt=install_weak_deps=0",
            f"--repofrompath=sp,file://{repo}",
            "--setopt=sp.gpgcheck=0",
            "--disablerepo=*",
            "--enablerepo=sp",
            *args,
        ]
        return subprocess.run(argv, capture_output=True, text=True, env=self.env(), check=False, timeout=900)

    def chroot(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["chroot", str(self.path), *argv], capture_output=True, text=True, env=self.env(), check=False
        )

    def installed(self) -> set[str]:
        out = self.rpm("-qa", "--qf", "%{NAME}-%{VERSION}-%{RELEASE}\\n").stdout
        return set(out.split())

    # ---------------------------------------------------------------- stand-ins
    def calls(self) -> list[Call]:
        log = self.path / CALL_LOG
        if not log.exists():
            return []
        out = []
        for line in log.read_text().splitlines():
            tool, *args = line.split("\t")
            out.append(Call(tool, tuple(args)))
        return out

    def clear_calls(self) -> None:
        (self.path / CALL_LOG).unlink(missing_ok=True)

    def fail_next(self, tool: str) -> None:
        (self.path / FAIL_DIR / tool).touch()


def build_host_package(directory: Path, target: Target, policy_version: str | None = None) -> Path:
    """The test-only package standing for the host's own /bin/sh, policy and policycoreutils. Its
    policy is ``policy_version`` (default: this host's, the floor the -selinux packages built here require)."""
    from sitepolicy.definition.base_policy import resolve_headers

    if policy_version is None:
        resolved = resolve_headers(target, None).policy_version
        assert resolved is not None
        policy_version = resolved.value
    directory.mkdir(parents=True, exist_ok=True)
    spec = directory / "sitepolicy-test-host.spec"
    spec.write_text(
        HOST_SPEC.format(
            store=target.store,
            php_fpm_package=target.php_fpm_package,
            useradd_package=target.useradd_package,
            policy_version=policy_version,
        )
    )
    top = directory / "top"
    subprocess.run(
        ["rpmbuild", "-bb", "--define", f"_topdir {top}", "--define", f"_rpmdir {directory}", str(spec)],
        check=True,
        capture_output=True,
        env={**os.environ, "HOME": str(directory)},
    )
    return next(directory.rglob("sitepolicy-test-host-1-1.noarch.rpm"))


def semodule_argv_for_replay(call: Call, root: Path, policy_root: Path) -> list[str]:
    """A recorded semodule call as the real `semodule -p POLICY_ROOT` runs it: module paths that
    existed inside the rpm root are mapped to the same files outside it."""
    argv = ["semodule", "-p", str(policy_root)]
    for arg in call.args:
        inside = root / arg.lstrip("/")
        argv.append(str(inside) if arg.startswith("/") and inside.exists() else arg)
    return argv


def make_policy_root(directory: Path) -> Path:
    """A private copy of the host's policy store (FACTS: never --store-path alone)."""
    for sub in ("var/lib/selinux", "etc/selinux"):
        shutil.copytree(Path("/") / sub, directory / sub, symlinks=True)
    return directory


def store_modules(policy_root: Path, store: str, priority: int = 200) -> set[str]:
    modules = policy_root / "var/lib/selinux" / store / "active/modules" / str(priority)
    return {p.name for p in modules.iterdir()} if modules.is_dir() else set()
