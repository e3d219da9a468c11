"""A throwaway rpm/dnf install root that records what package scriptlets run. TEST ONLY.

dnf and rpm run scriptlets chrooted into the install root, so the root needs a shell and /dev/null
(FACTS.md: without /bin/sh they fail with 127 and dnf still exits 0). This root gets:

- the host's dash, or bash where there is no dash (Fedora/EL), with the shared libraries it links
  (found with ldd), under its own name in /usr/bin;
- /usr/bin/sh: a wrapper that appends to the call log every script rpm hands it (its arguments,
  i.e. $1/$2, and its full text), then runs it with that real shell. Nothing here knows which scriptlets or
  triggers exist, so it keeps working when the spec's scriptlets change;
- stand-ins for the commands a scriptlet may call on a real host (semodule, restorecon, load_policy,
  selinuxenabled, systemctl, ...): they only append their name and argv to the same log and exit
  with a fixed status. They exist only inside this root;
- optionally copies of real host tools (with their libraries) a scriptlet needs to do real work.

The log is one event per record, in the order they happened:
    SCRIPTLET<TAB>arg...      followed by "| <line>" for each line of the script, then "END"
    CALL<TAB>name<TAB>arg...
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

LOG = "sitepolicy-test/calls.log"
# The groups a host's web server packages create (nginx, httpd, Debian's www-data): -php-fpm's %post needs its own.
HOST_GROUPS = "nginx:x:990:\napache:x:48:\nwww-data:x:33:\n"

# name -> exit status. selinuxenabled 0: the scriptlets take their SELinux-enabled path (load_policy,
# restorecon) so those calls are recorded too. getent 2: "not found", so useradd/groupadd are recorded;
# only `getent group G` for a group in the root's /etc/group (the web servers' groups, HOST_GROUPS) finds it.
STAND_INS: dict[str, int] = {
    "semodule": 0,
    "restorecon": 0,
    "load_policy": 0,
    "selinuxenabled": 0,
    "setfiles": 0,
    "fixfiles": 0,
    "semanage": 0,
    "systemctl": 0,
    "systemd-tmpfiles": 0,
    "systemd-sysusers": 0,
    "systemd-cat": 0,
    "logger": 0,
    "getent": 2,
    "groupadd": 0,
    "useradd": 0,
}

# Real tools a scriptlet may use for plumbing; copied from the host with their libraries.
DEFAULT_REAL_TOOLS = (
    "cat", "mkdir", "rm", "ls", "mv", "cp", "touch", "sort", "comm", "ln", "find", "grep", "sed",
    "sha256sum", "cmp",  # sitepolicy-selinux-runtime's reconcile
)  # fmt: skip

_WRAPPER = """#!{shell}
# TEST ONLY (sitepolicy tests/installroot.py): records each script rpm runs, then runs it with {shell}.
log=/{log}
script=
for arg in "$@"; do
    if [ -z "$script" ] && [ -f "$arg" ]; then script=$arg; fi
done
if [ -n "$script" ]; then
    {{
        printf 'SCRIPTLET'
        for arg in "$@"; do printf '\\t%s' "$arg"; done
        printf '\\n'
        while IFS= read -r line || [ -n "$line" ]; do printf '| %s\\n' "$line"; done < "$script"
        printf 'END\\n'
    }} >> "$log"
fi
exec {shell} "$@"
"""

_STAND_IN = """#!{shell}
# TEST ONLY stand-in: records its name and arguments, changes nothing.
{{ printf 'CALL\\t%s' "${{0##*/}}"; for arg in "$@"; do printf '\\t%s' "$arg"; done; printf '\\n'; }} >> /{log}
if [ "${{0##*/}}" = getent ] && [ "$1" = group ] && grep -q "^$2:" /etc/group 2>/dev/null; then exit 0; fi
exit {status}
"""


def _copy_with_libraries(root: Path, binary: Path) -> None:
    binary = binary.resolve()
    destination = root / binary.relative_to("/")
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(binary, destination)
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=False).stdout
    for lib in re.findall(r"(/\S+) \(0x", out):
        for path in {Path(lib), Path(lib).resolve()}:
            target = root / path.relative_to("/")
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)


def make_root(root: Path, real_tools: tuple[str, ...] = DEFAULT_REAL_TOOLS) -> Path:
    """An install root with a recording shell, stand-ins and /dev/null; returns the root."""
    for directory in ("usr/bin", "usr/sbin", "usr/lib", "usr/lib64", "etc", "var/tmp", "tmp", "dev", "run"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    for link, to in (("bin", "usr/bin"), ("sbin", "usr/sbin"), ("lib", "usr/lib"), ("lib64", "usr/lib64")):
        if not (root / link).exists():
            (root / link).symlink_to(to)
    os.chmod(root / "tmp", 0o1777)
    os.chmod(root / "var/tmp", 0o1777)
    null = root / "dev/null"
    if not null.exists():
        os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        os.chmod(null, 0o666)
    host_shell = Path(shutil.which("dash") or shutil.which("bash") or "/bin/sh").resolve()
    _copy_with_libraries(root, host_shell)
    shell = f"/usr/bin/{host_shell.name}"
    if not (root / shell.lstrip("/")).exists():  # the host keeps it in /bin (no merged /usr)
        shutil.copy2(host_shell, root / shell.lstrip("/"))
    for tool in real_tools:
        found = shutil.which(tool)
        if found:
            _copy_with_libraries(root, Path(found))
    (root / "etc/group").write_text(HOST_GROUPS)
    log = root / LOG
    log.parent.mkdir(parents=True, exist_ok=True)
    log.touch()
    sh = root / "usr/bin/sh"
    sh.unlink(missing_ok=True)
    sh.write_text(_WRAPPER.format(log=LOG, shell=shell))
    sh.chmod(0o755)
    for name, status in STAND_INS.items():
        path = root / "usr/sbin" / name
        path.unlink(missing_ok=True)
        path.write_text(_STAND_IN.format(log=LOG, status=status, shell=shell))
        path.chmod(0o755)
    return root


@dataclass(frozen=True)
class Scriptlet:
    args: tuple[str, ...]  # as rpm passed them: the script file, then $1 (and $2 for triggers)
    text: str

    @property
    def arg1(self) -> str | None:
        rest = [a for a in self.args if not a.startswith("/") and not a.startswith("-")]
        return rest[0] if rest else None


@dataclass(frozen=True)
class Call:
    name: str
    argv: tuple[str, ...]
    scriptlet: Scriptlet | None  # the script that was running when the call was made


def read_log(root: Path) -> list[Scriptlet | Call]:
    events: list[Scriptlet | Call] = []
    current: Scriptlet | None = None
    lines = (root / LOG).read_text().splitlines()
    i = 0
    while i < len(lines):
        fields = lines[i].split("\t")
        if fields[0] == "SCRIPTLET":
            body = []
            i += 1
            while i < len(lines) and lines[i] != "END":
                body.append(lines[i][2:])
                i += 1
            current = Scriptlet(tuple(fields[1:]), "\n".join(body))
            events.append(current)
        elif fields[0] == "CALL":
            events.append(Call(fields[1], tuple(fields[2:]), current))
        i += 1
    return events


def calls(root: Path, name: str) -> list[Call]:
    return [e for e in read_log(root) if isinstance(e, Call) and e.name == name]


def clear_log(root: Path) -> None:
    (root / LOG).write_text("")


_PROVIDES_SPEC = """Name:           testonly-host-provides
Version:        1
Release:        1
Summary:        TEST ONLY: stands in for host packages a throwaway install root does not have
License:        MIT
BuildArch:      noarch
{provides}

%description
TEST ONLY. Satisfies the dependencies a real host provides (php-fpm, policycoreutils, systemd,
the SELinux policy, useradd) inside a throwaway dnf install root. Never published by sitepolicy.

%files
"""

HOST_PROVIDES = (
    "/bin/sh",
    "php-fpm",
    "php8.2-fpm",
    "policycoreutils",
    "systemd",
    "selinux-policy-default = {policy_version}",  # the version floor the -selinux packages require
    "selinux-policy-targeted = {policy_version}",
    "passwd",
    "shadow-utils",
    "coreutils",  # these four: what sitepolicy-selinux-runtime requires
    "diffutils",
    "grep",
    "sed",
)


def host_policy_version() -> str:
    """The policy version this host's builds require (what its installed selinux-policy says)."""
    from sitepolicy.definition.base_policy import resolve_headers
    from sitepolicy.targets import host_target

    version = resolve_headers(host_target(), None).policy_version
    assert version is not None
    return version.value


def provides_repo(directory: Path, policy_version: str | None = None) -> Path:
    """A plain (unsigned) repository holding only the test-only provides package, whose policy is
    ``policy_version`` (default: this host's, the floor its builds require)."""
    directory.mkdir(parents=True, exist_ok=True)
    topdir = directory / "rpmbuild"
    spec = directory / "testonly-host-provides.spec"
    version = policy_version or host_policy_version()
    provides = "\n".join(f"Provides:       {p.format(policy_version=version)}" for p in HOST_PROVIDES)
    spec.write_text(_PROVIDES_SPEC.format(provides=provides))
    repo = directory / "repo"
    subprocess.run(
        ["rpmbuild", "-bb", "--define", f"_topdir {topdir}", "--define", f"_rpmdir {repo}", str(spec)],
        check=True,
        capture_output=True,
        env={**os.environ, "HOME": str(directory)},
    )
    subprocess.run(["/usr/bin/createrepo_c", "--quiet", str(repo)], check=True)
    return repo


@dataclass(frozen=True)
class Dnf:
    """dnf --installroot with its own config: no host repositories, no cache shared between tests."""

    root: Path
    config: Path

    @staticmethod
    def configure(root: Path, work: Path, repo_files: list[Path], provides: Path) -> Dnf:
        repos_d = work / "repos.d"
        repos_d.mkdir(parents=True, exist_ok=True)
        for path in repo_files:
            shutil.copy(path, repos_d / path.name)
        (repos_d / "testonly.repo").write_text(
            "[testonly-host-provides]\nname=TEST ONLY host provides\n"
            f"baseurl={provides.as_uri()}\ngpgcheck=0\nrepo_gpgcheck=0\nskip_if_unavailable=0\n"
        )
        config = work / "dnf.conf"
        config.write_text(
            "[main]\n"
            f"reposdir={repos_d}\n"
            f"cachedir={work / 'cache'}\n"
            f"logdir={work / 'log'}\n"
            f"persistdir={work / 'persist'}\n"
            "gpgcheck=1\nrepo_gpgcheck=1\nskip_if_unavailable=0\n"
            "install_weak_deps=0\nkeepcache=0\nplugins=0\n"
        )
        return Dnf(root, config)

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = [
            "dnf",
            "-y",
            "-c",
            str(self.config),
            "--installroot",
            str(self.root),
            "--releasever",
            "1",
            "--noplugins",
            "--setopt=skip_if_unavailable=0",
            *args,
        ]
        return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)

    def rpm_q(self, *names: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["rpm", "--root", str(self.root), "-q", *names],
            capture_output=True,
            text=True,
            check=False,
        )
