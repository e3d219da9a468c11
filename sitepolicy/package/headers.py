"""The policy headers a site module compiles against: the host's devel tree, or the target's given with
--headers DIR; and their content's fingerprint, which is part of a site's digest."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import TargetError
from ..targets import HOST_DEVEL_DIR, Target, host_target
from .policy_version import PolicyVersion, resolve_policy_version


@dataclass(frozen=True)
class Headers:
    """A devel tree: the Makefile and include/ that `make -f DIR/Makefile x.pp` compiles with."""

    directory: Path
    is_host: bool
    # The selinux-policy version these headers stand for: the -selinux package requires it as a floor.
    policy_version: PolicyVersion | None = None


def resolve_headers(
    target: Target, headers_dir: Path | None, host: Target | None = None, policy_version: str | None = None
) -> Headers:
    """The host's own headers for the host's target (``host``: resolved already); any other target needs
    --headers DIR. Also the selinux-policy version they stand for (policy_version.py): ``policy_version``
    (--policy-version), else the host's installed policy, or the VERSION file beside the tree."""
    headers = _resolve_directory(target, headers_dir, host)
    version = resolve_policy_version(target.store, headers.directory, headers.is_host, policy_version)
    return Headers(headers.directory, headers.is_host, version)


def _resolve_directory(target: Target, headers_dir: Path | None, host: Target | None) -> Headers:
    if headers_dir is not None:
        directory = headers_dir.resolve()
        if not (directory / "Makefile").is_file() or not (directory / "include").is_dir():
            raise TargetError(
                f"--headers {headers_dir}: not a policy devel tree (expected Makefile and include/ in it, "
                "e.g. usr/share/selinux/devel unpacked from the target's selinux-policy-devel RPM)"
            )
        return Headers(directory, is_host=False)
    host = host or host_target()
    if target.name != host.name:  # by name: a target with another --dist is the same target
        raise TargetError(
            f"target {target.name} needs its own policy headers, and this host is {host.name}: "
            f"pass --headers DIR (the target's selinux-policy-devel tree), or build in mock"
        )
    if not (HOST_DEVEL_DIR / "Makefile").is_file():
        raise TargetError(
            f"{HOST_DEVEL_DIR}/Makefile is missing: install selinux-policy-dev (Debian/Ubuntu) "
            "or selinux-policy-devel (Fedora/EL)"
        )
    return Headers(HOST_DEVEL_DIR, is_host=True)


@lru_cache(maxsize=8)
def headers_fingerprint(directory: Path) -> str:
    """The content of a policy devel tree (Makefile and include/), wherever it is unpacked."""
    h = hashlib.sha256()
    files = [directory / "Makefile", *sorted(p for p in (directory / "include").rglob("*") if p.is_file())]
    for path in files:
        h.update(str(path.relative_to(directory)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()
