"""The one throwaway rpm/dnf root of the tests: real rpm and dnf run the packages' real scriptlets and file
triggers in it, and every command a scriptlet calls on a host is a recording stand-in. TEST ONLY.

rpm and dnf chroot into the root to run scriptlets, so it needs a shell and /dev/null (FACTS.md: without
/bin/sh they fail with 127 and dnf still exits 0; without /dev/null every `>/dev/null` fails). The root gets:

- the host's dash (bash where there is no dash: Fedora/EL) and a few plumbing tools (coreutils, sed, grep,
  cmp, find), copied with the shared libraries `ldd` names, in the usr-merged layout;
- /usr/bin/sh: a wrapper that appends to the log every script rpm hands it (its arguments, i.e. $1/$2,
  and its full text), then runs it with the real shell. Nothing here knows which scriptlets or triggers
  exist, so it keeps working when the spec's scriptlets change;
- stand-ins for what a scriptlet calls on a real host (semodule, restorecon, load_policy, selinuxenabled,
  systemctl, useradd, ...), which exist ONLY inside this root: they append their name and arguments to
  the same log and exit with a fixed status (selinuxenabled 0: the scripts take their relabelling path;
  getent 2: "no such user", so %pre creates the pool's account; only `getent group G` for a group in the
  root's /etc/group, the web servers' groups HOST_GROUPS, finds it). `fail_next("semodule")` makes the next
  call of a stand-in exit 1. Tests replay recorded semodule argument lists against the real
  `semodule -p` on a private policy root (semodule_argv_for_replay), so a wrong argument still fails.

The log is one event per record, in the order they happened:
    SCRIPTLET<TAB>arg...      followed by "| <line>" for each line of the script, then "END"
    CALL<TAB>name<TAB>arg...

Dependencies only a real host provides (the policy, policycoreutils, php-fpm, /bin/sh) come from a
test-only package, `testonly-host-provides`, built here and never published: installed with rpm
(host_package) or served from a plain repository (provides_repo).

Two ways to drive the root: RpmRoot (rpm and `dnf --repofrompath`, the rpm database found through a
private HOME whose .rpmmacros sets %_dbpath: Debian's rpm defaults it to ~/.rpmdb), and Dnf (dnf with a
configuration of its own: the repositories of a published sitepolicy repository, signatures checked).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from sitepolicy.targets import Target

LOG = "sitepolicy-test/calls.log"
FAIL_DIR = "sitepolicy-test/fail-next"
# The groups a host's web server packages create (nginx, httpd, Debian's www-data): -php-fpm's %post needs its own.
HOST_GROUPS = "nginx:x:990:\napache:x:48:\nwww-data:x:33:\n"

# name -> exit status.
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
REAL_TOOLS = (
    "cat", "mkdir", "rm", "ls", "mv", "cp", "touch", "chmod", "sort", "comm", "ln", "find", "grep", "sed",
    "sha256sum", "cmp", "flock",  # sitepolicy-selinux-runtime's reconcile (the real flock: its lock is real)
)  # fmt: skip

_WRAPPER = """#!{shell}
# TEST ONLY (sitepolicy tests/rpmroot.py): records each script rpm runs, then runs it with {shell}.
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
# TEST ONLY stand-in (sitepolicy tests/rpmroot.py): records its name and arguments, changes nothing.
name=${{0##*/}}
{{ printf 'CALL\\t%s' "$name"; for arg in "$@"; do printf '\\t%s' "$arg"; done; printf '\\n'; }} >> /{log}
if [ -e "/{fail_dir}/$name" ]; then
    left=$(cat "/{fail_dir}/$name"); left=$((${{left:-1}} - 1))
    if [ "$left" -gt 0 ]; then echo "$left" > "/{fail_dir}/$name"; else rm -f "/{fail_dir}/$name"; fi
    echo "$name: failing, as the test asked" >&2; exit 1
fi
if [ "$name" = getent ] && [ "$1" = group ] && grep -q "^$2:" /etc/group 2>/dev/null; then exit 0; fi
exit {status}
"""

# The semodule stand-in keeps a store, so that reconcile's own checks against the store (a recorded module the
# store lacks, a module the store holds that no package has) run: -s STORE -X PRIO -i FILE / -r NAME create and
# delete /var/lib/selinux/STORE/active/modules/PRIO/NAME (and active/policy.kern); a module is a directory
# with files in it, as in a real store (the -selinux packages' %ghost of it is then left alone on erase).
# Like the real one, a call is all or nothing: a module named in NEVER_LINKS fails it ("does not link"),
# so does removing a module the store does not hold, and then nothing changes. Tests replay the calls
# with the real semodule to prove the stand-in's verdicts.
NEVER_LINKS = "sitepolicy-test/never-links"
_SEMODULE = """#!{shell}
# TEST ONLY stand-in (sitepolicy tests/rpmroot.py): records its arguments, keeps a store of module names.
{{ printf 'CALL\\tsemodule'; for arg in "$@"; do printf '\\t%s' "$arg"; done; printf '\\n'; }} >> /{log}
if [ -e /{fail_dir}/semodule ]; then
    rm -f /{fail_dir}/semodule; echo "semodule: failing once, as the test asked" >&2; exit 1
fi
store=default; priority=400; ops=
while [ $# -gt 0 ]; do
    case $1 in
        -s) store=$2; shift ;;
        -X) priority=$2; shift ;;
        -i) m=${{2##*/}}; m=${{m%%.bz2}}; m=${{m%%.pp}}; m=${{m%%.cil}}; ops="$ops i:$m"; shift ;;
        -r) ops="$ops r:$2"; shift ;;
    esac
    shift
done
dir=/var/lib/selinux/$store/active/modules/$priority
for op in $ops; do
    m=${{op#??}}
    case $op in
        i:*) if grep -qx "$m" /{never_links} 2>/dev/null; then
                 echo "Failed to resolve typeattributeset statement at $store/tmp/modules/$priority/$m/cil:1" >&2
                 echo "semodule:  Failed!" >&2; exit 1
             fi ;;
        r:*) if [ ! -d "$dir/$m" ]; then
                 echo "libsemanage: Unable to remove module $m at priority $priority (No such file)." >&2
                 echo "semodule:  Failed!" >&2; exit 1
             fi ;;
    esac
done
mkdir -p "$dir"
for op in $ops; do
    case $op in
        i:*) mkdir -p "$dir/${{op#i:}}"; echo pp > "$dir/${{op#i:}}/lang_ext"; : > "$dir/${{op#i:}}/cil" ;;
        r:*) rm -rf "$dir/${{op#r:}}" ;;
    esac
done
: > /var/lib/selinux/$store/active/policy.kern
exit 0
"""

_PROVIDES_SPEC = """Name:           testonly-host-provides
Version:        1
Release:        1
Summary:        TEST ONLY: stands in for host packages a throwaway install root does not have
License:        MIT
BuildArch:      noarch
{provides}

%description
TEST ONLY. Satisfies the dependencies a real host provides (php-fpm, policycoreutils, systemd,
the SELinux policy, useradd) inside a throwaway rpm root. Never published by sitepolicy.

%files
"""

HOST_PROVIDES = (
    "/bin/sh",
    "php-fpm",
    "php8.2-fpm",
    "policycoreutils",
    "systemd",
    "passwd",
    "shadow-utils",
    "coreutils",  # these four: what sitepolicy-selinux-runtime requires
    "diffutils",
    "grep",
    "sed",
    "/usr/sbin/selinuxenabled",  # file requirements of sitepolicy-selinux-runtime
    "/usr/bin/flock",
    "/usr/bin/logger",
    "/usr/bin/systemctl",
)


# --------------------------------------------------------------------------- the root


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


def make_root(
    root: Path,
    real_tools: tuple[str, ...] = REAL_TOOLS,
    store: str | None = None,
    systemd: bool = False,
    keep_store: bool = True,
) -> Path:
    """A root with a recording shell, stand-ins and /dev/null; returns it.

    ``store``: write /etc/selinux/config for that policy store. ``systemd``: create /run/systemd/system,
    so the scriptlets take their systemd path (systemctl calls are recorded). ``keep_store``: semodule's
    stand-in keeps a store (_SEMODULE); without it, it only records.
    """
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
    (root / FAIL_DIR).mkdir(parents=True, exist_ok=True)
    sh = root / "usr/bin/sh"
    sh.unlink(missing_ok=True)
    sh.write_text(_WRAPPER.format(log=LOG, shell=shell))
    sh.chmod(0o755)
    for name, status in STAND_INS.items():
        path = root / "usr/sbin" / name
        path.unlink(missing_ok=True)
        path.write_text(_STAND_IN.format(log=LOG, fail_dir=FAIL_DIR, status=status, shell=shell))
        path.chmod(0o755)
    if keep_store:
        (root / "usr/sbin/semodule").write_text(
            _SEMODULE.format(log=LOG, fail_dir=FAIL_DIR, never_links=NEVER_LINKS, shell=shell)
        )
    if store is not None:
        (root / "etc/selinux").mkdir(parents=True, exist_ok=True)
        (root / "etc/selinux/config").write_text(f"SELINUX=enforcing\nSELINUXTYPE={store}\n")
    if systemd:
        (root / "run/systemd/system").mkdir(parents=True, exist_ok=True)
    return root


# --------------------------------------------------------------------------- the log


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
    scriptlet: Scriptlet | None = field(default=None, compare=False)  # the script running when it was made

    @property
    def tool(self) -> str:
        return self.name

    @property
    def args(self) -> tuple[str, ...]:
        return self.argv


def read_log(root: Path) -> list[Scriptlet | Call]:
    events: list[Scriptlet | Call] = []
    current: Scriptlet | None = None
    path = root / LOG
    lines = path.read_text().splitlines() if path.exists() else []
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


def calls(root: Path, name: str | None = None) -> list[Call]:
    """Every stand-in call (of ``name`` only, if given), in order."""
    return [e for e in read_log(root) if isinstance(e, Call) and name in (None, e.name)]


def clear_log(root: Path) -> None:
    (root / LOG).write_text("")


# --------------------------------------------------------------------------- what a host provides


def host_policy_version() -> str:
    """The policy version this host's builds require as their floor (its installed selinux-policy)."""
    from sitepolicy.package.headers import resolve_headers
    from sitepolicy.targets import host_target

    version = resolve_headers(host_target(), None).policy_version
    assert version is not None
    return version.value


def host_package(directory: Path, provides: tuple[str, ...] = HOST_PROVIDES, policy_version: str | None = None) -> Path:
    """The test-only package that stands for what a real host provides, with its policy (both stores) at
    ``policy_version`` (default: this host's, the floor the -selinux packages built here require)."""
    directory.mkdir(parents=True, exist_ok=True)
    spec = directory / "testonly-host-provides.spec"
    version = policy_version or host_policy_version()
    policy = (f"selinux-policy-default = {version}", f"selinux-policy-targeted = {version}")
    lines = "\n".join(f"Provides:       {p}" for p in (*provides, *policy))
    spec.write_text(_PROVIDES_SPEC.format(provides=lines))
    out = directory / "rpms"
    subprocess.run(
        ["rpmbuild", "-bb", "--define", f"_topdir {directory / 'rpmbuild'}", "--define", f"_rpmdir {out}", str(spec)],
        check=True,
        capture_output=True,
        env={**os.environ, "HOME": str(directory)},
    )
    return next(out.rglob("testonly-host-provides-1-1.noarch.rpm"))


def build_host_package(directory: Path, target: Target, policy_version: str | None = None) -> Path:
    """host_package() with what ``target``'s packages require besides the common provides."""
    extra = (target.php_fpm_package, target.useradd_package)
    return host_package(directory, tuple(dict.fromkeys((*HOST_PROVIDES, *extra))), policy_version)


def provides_repo(directory: Path, policy_version: str | None = None) -> Path:
    """A plain (unsigned) repository holding only the test-only provides package."""
    repo = directory / "repo"
    repo.mkdir(parents=True, exist_ok=True)
    shutil.copy2(host_package(directory / "package", policy_version=policy_version), repo)
    subprocess.run(["/usr/bin/createrepo_c", "--quiet", str(repo)], check=True)
    return repo


# --------------------------------------------------------------------------- driving the root


class RpmRoot:
    """rpm and `dnf --repofrompath` on a root of its own (make_root with /etc/selinux/config and systemd)."""

    def __init__(self, path: Path, store: str = "default", keep_store: bool = True, active: str | None = None) -> None:
        """``active``: the SELINUXTYPE /etc/selinux/config names (default: ``store``)."""
        self.path = path
        self.store = store
        self.home = path.parent / f"{path.name}-home"
        make_root(path, store=active or store, systemd=True, keep_store=keep_store)
        (path / "var/lib/rpm").mkdir(parents=True, exist_ok=True)
        (path / "var/log").mkdir(parents=True, exist_ok=True)
        self.home.mkdir(exist_ok=True)
        (self.home / ".rpmmacros").write_text("%_dbpath /var/lib/rpm\n")
        self.rpm("--initdb")

    def env(self) -> dict[str, str]:
        return {**os.environ, "HOME": str(self.home), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}

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

    def calls(self) -> list[Call]:
        return calls(self.path)

    def clear_calls(self) -> None:
        clear_log(self.path)

    def fail_next(self, tool: str, times: int = 1) -> None:
        """The next ``times`` calls of the stand-in ``tool`` exit 1 (semodule's: the next one); 0: none."""
        if times:
            (self.path / FAIL_DIR / tool).write_text(f"{times}\n")
        else:
            (self.path / FAIL_DIR / tool).unlink(missing_ok=True)

    def set_status(self, tool: str, status: int) -> None:
        """The stand-in ``tool`` exits with ``status`` from now on (e.g. selinuxenabled 1: SELinux disabled)."""
        shell = (self.path / "usr/bin/sh").read_text().split("exec ", 1)[1].split()[0]
        stand_in = self.path / "usr/sbin" / tool
        stand_in.write_text(_STAND_IN.format(log=LOG, fail_dir=FAIL_DIR, status=status, shell=shell))

    def never_links(self, *modules: str) -> None:
        """semodule's stand-in fails every call that installs one of ``modules``."""
        (self.path / NEVER_LINKS).write_text("".join(f"{m}\n" for m in modules))

    def store_modules(self, priority: int = 200) -> set[str]:
        """What the stand-in's store holds."""
        return store_modules(self.path, self.store, priority)


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


# --------------------------------------------------------------------------- replay on a real policy


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
