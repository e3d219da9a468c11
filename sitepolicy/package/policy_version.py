"""The selinux-policy version a site module is compiled against: the floor its -selinux package requires.

A module built against policy V may use types and interfaces older policies lack, so the package
requires `selinux-policy-<store> >= V` (as Fedora's %selinux_requires does) and BUILDINFO records V.
Where V comes from, first match wins:

1. ``--policy-version V``;
2. the headers are this host's own: the installed policy package (`rpm -q selinux-policy`, where rpm
   knows it; Debian: `dpkg-query` of the store's selinux-policy-<store> package, upstream part only);
3. a devel tree given with --headers: the `VERSION` file beside it (or in it), as the trees in
   ../shared/targets/<t>/ carry, else the policy package rpm says owns its Makefile.

Nothing found is an error naming --policy-version: a package without its floor would install on a host
whose policy cannot load the module.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import TargetError

# selinux-policy versions: 38.1.46, 3.14.3, 41.24; Debian's upstream part 2.20221101.
VERSION = re.compile(r"^[0-9]{1,8}(?:\.[0-9]{1,8}){0,3}$")
VERSION_FILE = "VERSION"


@dataclass(frozen=True)
class PolicyVersion:
    value: str
    source: str  # where it was read, for BUILDINFO and error messages


def check_version(value: str, what: str = "--policy-version") -> str:
    value = value.strip()
    if not VERSION.fullmatch(value):
        raise TargetError(f"{what} {value!r}: a selinux-policy version, 1 to 4 dot-separated numbers (e.g. 38.1.46)")
    return value


def _query(argv: list[str]) -> str | None:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = proc.stdout.strip()
    return out if proc.returncode == 0 and out else None


def rpm_policy_version(package: str = "selinux-policy") -> str | None:
    """The installed package's VERSION, where this host's rpm database knows it."""
    return _query(["rpm", "-q", "--qf", "%{VERSION}", package])


def rpm_owner_version(path: Path) -> str | None:
    """The VERSION of the package rpm says owns ``path`` (e.g. selinux-policy-devel for its Makefile)."""
    return _query(["rpm", "-qf", "--qf", "%{VERSION}", str(path)])


def dpkg_policy_version(package: str) -> str | None:
    """A Debian package's upstream version: '2:2.20221101-2' -> '2.20221101'."""
    full = _query(["dpkg-query", "-W", "-f", "${Version}", package])
    if full is None:
        return None
    upstream = full.split(":", 1)[-1].rsplit("-", 1)[0]
    return upstream if VERSION.fullmatch(upstream) else None


def version_file(directory: Path) -> Path | None:
    """``VERSION`` beside a devel tree (targets/<t>/VERSION next to targets/<t>/devel), or inside it."""
    for candidate in (directory.parent / VERSION_FILE, directory / VERSION_FILE):
        if candidate.is_file():
            return candidate
    return None


def resolve_policy_version(store: str, headers_dir: Path, is_host: bool, explicit: str | None) -> PolicyVersion:
    if explicit:
        return PolicyVersion(check_version(explicit), "--policy-version")
    if is_host:
        found = rpm_policy_version()
        if found:
            return PolicyVersion(check_version(found, "rpm -q selinux-policy:"), "rpm -q selinux-policy")
        package = f"selinux-policy-{store}"
        found = dpkg_policy_version(package)
        if found:
            return PolicyVersion(found, f"dpkg-query {package}")
    else:
        file = version_file(headers_dir)
        if file is not None:
            return PolicyVersion(check_version(file.read_text(), f"{file}:"), str(file))
        found = rpm_owner_version(headers_dir / "Makefile")
        if found:
            return PolicyVersion(check_version(found, f"rpm -qf {headers_dir}/Makefile:"), f"rpm -qf {headers_dir}")
    where = "this host's installed selinux-policy" if is_host else f"a VERSION file beside {headers_dir}"
    raise TargetError(
        f"cannot tell which selinux-policy version the module is built against (looked for {where}): "
        "pass --policy-version V (e.g. 38.1.46); the -selinux package requires "
        f"selinux-policy-{store} >= V"
    )
