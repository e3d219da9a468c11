"""Which SELinux policy the guest boots enforcing: Debian's own, or a target's from a policy root.

The guest's userspace is always Debian 12. With a policy root (e.g. ../shared/targets/el9/root, a
linked RHEL 9 targeted policy), the image carries a copy of that root's store instead of Debian's,
is labelled with that policy's file_contexts, and boots it enforcing. The root itself is only read.
"""

from __future__ import annotations

import hashlib
import shlex
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import E2EError
from ..targets import get_target
from ..tools import run

DEBIAN_TARGET = "debian12"
# Never made permissive, whatever a Debian userspace needs: the web server, init, the sites.
NEVER_PERMISSIVE = ("httpd_t", "init_t")
SITE_DOMAIN_PREFIX = "sitepolicy_"


@dataclass(frozen=True)
class GuestPolicy:
    """The policy the guest runs, and the target profile its site RPMs are built for."""

    target: str
    store: str
    root: Path | None = None  # None: the guest's own Debian policy (selinux-policy-default)
    headers: Path | None = None  # policy devel tree the RPMs are built with (None: the host's)
    version: str = ""
    # Base-policy domains a Debian userspace needs permissive under this policy: domain -> why.
    permissive: Mapping[str, str] = field(default_factory=dict)
    # Base-policy booleans a Debian userspace needs switched under this policy: name -> (value, why).
    booleans: Mapping[str, tuple[bool, str]] = field(default_factory=dict)
    # Whether the policy lets httpd_t search every directory (RHEL/Fedora: allow httpd_t file_type:dir
    # { getattr open search }), so that nginx is stopped at a site's private file, not at its directory.
    web_server_searches_every_dir: bool = False
    # Shell script run in the guest tree (chroot) after the common configuration.
    configure: str = ""

    def __post_init__(self) -> None:
        for domain in self.permissive:
            if domain in NEVER_PERMISSIVE or domain.startswith(SITE_DOMAIN_PREFIX):
                raise E2EError(f"{domain} may never be permissive in the guest: it is what the scenarios prove")

    @property
    def name(self) -> str:
        return self.target if self.root is None else f"{self.target} (policy root {self.root})"

    def key(self) -> dict[str, object]:
        """What the labelled image depends on: the store's content, not the root's path."""
        return {
            "target": self.target,
            "store": self.store,
            "root": _tree_digest(self.root) if self.root else None,
            "version": self.version,
            "permissive": sorted(self.permissive),
            "booleans": sorted((name, value) for name, (value, _why) in self.booleans.items()),
            "configure": self.configure,
        }

    def describe(self) -> str:
        if self.root is None:
            return f"Debian 12 selinux-policy-default (store {self.store})"
        return f"{self.target} {self.store} {self.version or '(version unknown)'} from {self.root}"


def debian_policy() -> GuestPolicy:
    return GuestPolicy(target=DEBIAN_TARGET, store=get_target(DEBIAN_TARGET).store)


# What a Debian 12 userspace needs, under a target's policy, beyond the target's defaults: found by
# booting it permissive and then enforcing and reading every AVC (README, "The guest on a target's policy").
# Base-policy domains made permissive: none so far.
EL_PERMISSIVE: dict[str, dict[str, str]] = {}
# Base-policy booleans switched on.
EL_BOOLEANS: dict[str, dict[str, tuple[bool, str]]] = {
    "el9": {
        "init_audit_control": (
            True,
            "Debian's systemd 252 (PID 1) uses CAP_AUDIT_CONTROL while it sets up systemd-journald-audit.socket "
            "(AVC: init_t self:capability audit_control, the only base-policy denial of an enforcing boot); "
            "RHEL 9 grants it to init_t only under this boolean (default off). It gives init_t no access to "
            "the sites' types",
        ),
    },
}


def target_policy(target: str, root: Path, headers: Path | None = None) -> GuestPolicy:
    """A target's policy from a policy root (ROOT/etc/selinux/<store>, ROOT/var/lib/selinux/<store>)."""
    profile = get_target(target)
    if target == DEBIAN_TARGET:
        raise E2EError("--policy-root is for a target's policy; the Debian guest runs its own")
    store = profile.store
    for part in (root / "etc/selinux" / store, root / "var/lib/selinux" / store):
        if not part.is_dir():
            raise E2EError(f"--policy-root {root}: no {part.relative_to(root)} (expected a linked {store} policy root)")
    if headers is None and (root.parent / "devel" / "Makefile").is_file():
        headers = root.parent / "devel"
    version_file = root.parent / "VERSION"
    version = version_file.read_text().strip() if version_file.is_file() else ""
    return GuestPolicy(
        target=target,
        store=store,
        root=root.resolve(),
        headers=headers.resolve() if headers else None,
        version=version,
        permissive=dict(EL_PERMISSIVE.get(target, {})),
        booleans=dict(EL_BOOLEANS.get(target, {})),
        web_server_searches_every_dir=True,  # every target but Debian has Fedora's policy
        configure=(
            f"PHP_FPM={shlex.quote(str(profile.php_fpm))}\nWEB_GROUP={shlex.quote(profile.web_group)}\n"
            + (Path(__file__).parent / "guestfiles" / "configure-target.sh").read_text()
        ),
    )


def guest_policy(target: str | None, root: Path | None, headers: Path | None = None) -> GuestPolicy:
    """What `invoke e2e [--target T --policy-root ROOT [--headers DIR]]` asks for."""
    if target in (None, DEBIAN_TARGET) and root is None:
        if headers is not None:
            raise E2EError("--headers is for a target's policy (with --target and --policy-root)")
        return debian_policy()
    if target is None or root is None:
        raise E2EError("--target and --policy-root go together: the guest boots that target's policy from ROOT")
    return target_policy(target, root, headers)


def _tree_digest(top: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in top.rglob("*") if p.is_file() and not p.name.endswith(".LOCK")):
        digest.update(str(path.relative_to(top)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


PERMISSIVE_MODULE = "sitepolicy_e2e_permissive"


def install_policy(policy: GuestPolicy, tree: Path, log_dir: Path) -> None:
    """Put the policy into the guest tree (a copy of the root's store; Debian's stays as it is)."""
    config = tree / "etc/selinux/config"
    config.write_text(f"SELINUX=enforcing\nSELINUXTYPE={policy.store}\n")
    if policy.root is None:
        return
    for part in (Path("etc/selinux") / policy.store, Path("var/lib/selinux") / policy.store):
        dest = tree / part
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(policy.root / part, dest, symlinks=True)
    (tree / "etc/selinux" / policy.store / "sitepolicy-e2e-version").write_text(policy.version + "\n")
    if policy.booleans:
        # libsemanage keeps local boolean settings in booleans.local and applies them at each rebuild
        # (so they survive the guest's own semodule calls); -B rebuilds the copy here, on the host.
        local = tree / "var/lib/selinux" / policy.store / "active/booleans.local"
        local.write_text("".join(f"{name}={int(value)}\n" for name, (value, _why) in sorted(policy.booleans.items())))
        run(
            ["semodule", "-p", tree, "-s", policy.store, "-n", "-B"],
            clean=True,
            timeout=600,
            log=log_dir / "booleans.log",
        )
    if policy.permissive:
        cil = tree / "tmp" / f"{PERMISSIVE_MODULE}.cil"
        cil.write_text("".join(f"(typepermissive {d})\n" for d in sorted(policy.permissive)))
        # Linked on the host into the guest's copy of the store (-p: never the host's own policy).
        run(
            ["semodule", "-p", tree, "-s", policy.store, "-n", "-X", "300", "-i", cil],
            timeout=600,
            clean=True,
            log=log_dir / "permissive.log",
        )
        cil.unlink()


def file_contexts(policy: GuestPolicy, tree: Path) -> Path:
    path = tree / "etc/selinux" / policy.store / "contexts/files/file_contexts"
    if not path.is_file():
        raise E2EError(f"the guest has no {path}: the policy store {policy.store} is not installed")
    return path
