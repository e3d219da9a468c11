"""The policy headers a site module compiles against: the host's devel tree, or the target's given with
--headers DIR; and their content's fingerprint, which is part of a site's digest."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import TargetError
from ..targets import HOST_DEVEL_DIR, Target, host_target


@dataclass(frozen=True)
class Headers:
    """A devel tree: the Makefile and include/ that `make -f DIR/Makefile x.pp` compiles with."""

    directory: Path
    is_host: bool


def resolve_headers(target: Target, headers_dir: Path | None, host: Target | None = None) -> Headers:
    """The host's own headers for the host's target (``host``: resolved already); any other target needs
    --headers DIR."""
    if headers_dir is not None:
        directory = headers_dir.resolve()
        if not (directory / "Makefile").is_file() or not (directory / "include").is_dir():
            raise TargetError(
                f"--headers {headers_dir}: not a policy devel tree (expected Makefile and include/ in it, "
                "e.g. usr/share/selinux/devel unpacked from the target's selinux-policy-devel RPM)"
            )
        return Headers(directory, is_host=False)
    host = host or host_target()
    if target != host:
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
