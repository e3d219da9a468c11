"""A private policy root: copies of /var/lib/selinux and /etc/selinux with the site modules linked in.

semodule -p ROOT works only inside ROOT. (--store-path alone is not private: it still writes
policy.NN and file_contexts into the live /etc/selinux, see FACTS.)
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import SitepolicyError
from ..tools import require_tool, run

LIVE_TREES = (Path("var/lib/selinux"), Path("etc/selinux"))


@dataclass(frozen=True)
class LinkedPolicy:
    """What one semodule call produced in a private root."""

    root: Path
    store: str
    seconds: float

    @property
    def policy_kern(self) -> Path:
        return self.root / "var/lib/selinux" / self.store / "active/policy.kern"

    @property
    def store_modules(self) -> Path:
        """Where semodule keeps the site modules it installed (priority 200), each with its CIL."""
        return self.root / "var/lib/selinux" / self.store / "active/modules/200"

    @property
    def file_contexts(self) -> Path:
        return self.root / "etc/selinux" / self.store / "contexts/files/file_contexts"


def live_store(store: str, live_root: Path = Path("/")) -> Path:
    """The host's policy store ``store``; verify links against it, so it must exist."""
    active = live_root / "var/lib/selinux" / store / "active"
    if not (active / "policy.kern").is_file():
        raise SitepolicyError(
            f"this host has no '{store}' policy store ({active}): install selinux-policy-default "
            "(Debian/Ubuntu) or selinux-policy-targeted (Fedora/EL) to verify modules for it"
        )
    return active


def link_policy(directory: Path, store: str, modules: Sequence[Path], live_root: Path = Path("/")) -> LinkedPolicy:
    """Copy the live store into ``directory`` (replacing what was there) and install ``modules`` in one call."""
    require_tool("semodule", "policycoreutils")
    live_store(store, live_root)
    directory.parent.mkdir(parents=True, exist_ok=True)
    # Built aside and swapped in, so a failed link never leaves a half-made root where the last good one was.
    fresh = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        for tree in LIVE_TREES:
            shutil.copytree(live_root / tree, fresh / tree, symlinks=True)
        start = time.monotonic()
        run(
            ["semodule", "-p", fresh, "-s", store, "-n", "-X", "200", "-i", *modules],
            hint="linking the site modules into a private copy of the base policy",
        )
        seconds = time.monotonic() - start
        if directory.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{directory.name}.old.", dir=directory.parent))
            directory.rename(old / "root")
            shutil.rmtree(old, ignore_errors=True)
        fresh.rename(directory)
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
    linked = LinkedPolicy(directory, store, seconds)
    if not linked.policy_kern.is_file():
        raise SitepolicyError(f"semodule -p {directory} wrote no {linked.policy_kern}")
    return linked
