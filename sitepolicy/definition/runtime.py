"""sitepolicy-selinux-runtime: where it lives on a host, and what its templates are given.

One runtime package per target. Every site's -selinux package requires it and drops its module and
file contexts into the directories below; the runtime's file triggers then install every changed
module of a transaction in one semodule call (specs/runtime.spec.j2, specs/files/reconcile.j2).
"""

from __future__ import annotations

from typing import Any

from .. import __version__
from ..targets import Target

PACKAGE = "sitepolicy-selinux-runtime"
RECONCILE = "/usr/libexec/sitepolicy/reconcile"
STATE_DIR = "/var/lib/sitepolicy/runtime"  # a site name has 2+ DNS labels, so no site's state dir is this


def module_dir(target: Target) -> str:
    """Where site packages install <module>.pp.bz2 (the Fedora -selinux layout); the triggers watch it."""
    return f"/usr/share/selinux/packages/{target.store}"


def fc_dir(target: Target) -> str:
    """Where site packages install <module>.fc, the file contexts reconcile compares to relabel."""
    return f"/usr/share/sitepolicy/fc/{target.store}"


def runtime_context(target: Target, release: str = "1") -> dict[str, Any]:
    """The values the runtime's templates, and the site spec's scriptlets, may use."""
    return {
        "package": PACKAGE,
        "target": target,
        "tool_version": __version__,
        "release": release,
        "reconcile": RECONCILE,
        "state_dir": STATE_DIR,
        "module_dir": module_dir(target),
        "fc_dir": fc_dir(target),
    }
