"""The guest image: Debian bookworm, SELinux enforcing, labelled on the host, cached by its inputs.

Cached stages under the build directory:
  rootfs-<key>/      the pristine `debootstrap --variant=minbase` tree (slow: about 2 minutes);
  app-rootfs-<key>/  only for scenario "app": a copy of that tree with the application's packages added by
                     `apt-get install --no-install-recommends` in a chroot (dpkg's unsafe I/O: the tree is
                     thrown away on any failure), keyed by the base tree's key and those packages;
  image-<key>/       root.ext4 (labelled with the guest's own file_contexts) plus its vmlinuz and initrd.
Each key hashes everything its stage is made from, so a change rebuilds only what it affects.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import E2EError
from ..tools import require_tool, run
from .mirror import find_mirror
from .policy import GuestPolicy, debian_policy, install_policy
from .policy import file_contexts as guest_file_contexts

SUITE = "bookworm"
PACKAGES: tuple[str, ...] = (
    "linux-image-amd64",
    "systemd-sysv",
    "udev",
    "kmod",
    "initramfs-tools",
    "selinux-basics",
    "selinux-policy-default",
    "auditd",
    "php-fpm",
    "nginx",
    "rpm",
    "policycoreutils",
    "semodule-utils",
    "curl",
    "procps",
    # The in-guest scenario runner writes its results as JSON.
    "python3",
)
# Scenario "app" (issue 14), only when asked for (`invoke e2e --app`, SITEPOLICY_E2E_APP=1), installed as a
# layer on the base tree (app-rootfs). MediaWiki's code, its PHP extensions, MariaDB, a sendmail that relays
# over SMTP (msmtp) and the MTA that receives (Exim). apt (unlike debootstrap) takes nginx for mediawiki's
# "apache2 | httpd" and php8.2-fpm for php's "libapache2-mod-php8.2 | php8.2-fpm": no apache2.
APP_PACKAGES: tuple[str, ...] = (
    "mediawiki",
    "php-cli",
    "php-mysql",
    "php-intl",
    "php-xml",
    "php-mbstring",
    "mariadb-server",
    "msmtp",
    "exim4-daemon-light",
)
# Files copied into the guest, from sitepolicy/e2e/guestfiles/, with their destination.
GUEST_FILES: dict[str, str] = {
    "sitepolicy-e2e.service": "etc/systemd/system/sitepolicy-e2e.service",
    "sitepolicy-e2e.target": "etc/systemd/system/sitepolicy-e2e.target",
    "sitepolicy-e2e-boot": "usr/local/sbin/sitepolicy-e2e-boot",
}
CONFIGURE_SCRIPT = "configure.sh"
# Bump when the way the image is made changes in a way the inputs do not show.
FORMAT = "1"
APP_LAYER_FORMAT = "1"
DEBOOTSTRAP_TIMEOUT = 1800.0
APT_TIMEOUT = 1800.0
FREE_SPACE_MB = 1536


def _guestfile(name: str) -> str:
    return (Path(__file__).parent / "guestfiles" / name).read_text()


@dataclass(frozen=True)
class ImageSpec:
    """Everything the image is made from."""

    mirror: str
    suite: str = SUITE
    packages: tuple[str, ...] = PACKAGES
    app_packages: tuple[str, ...] = ()  # installed on top of the base tree (scenario "app")
    files: tuple[tuple[str, str], ...] = field(
        default_factory=lambda: tuple((dest, _guestfile(src)) for src, dest in sorted(GUEST_FILES.items()))
    )
    configure: str = field(default_factory=lambda: _guestfile(CONFIGURE_SCRIPT))

    @classmethod
    def default(cls, mirror: str | None = None, app: bool = False) -> ImageSpec:
        return cls(mirror=mirror or find_mirror(SUITE), app_packages=APP_PACKAGES if app else ())

    def rootfs_key(self) -> str:
        return _digest(
            {
                "format": FORMAT,
                "mirror": self.mirror,
                "suite": self.suite,
                "packages": sorted(self.packages),
            }
        )

    def app_key(self) -> str:
        """The application layer's key: the base tree it starts from and what is added to it."""
        return _digest({"base": self.rootfs_key(), "format": APP_LAYER_FORMAT, "packages": sorted(self.app_packages)})

    def tree_key(self) -> str:
        """The key of the tree the image is made from: the app layer when there is one, else the base."""
        return self.app_key() if self.app_packages else self.rootfs_key()

    def image_key(self, policy: GuestPolicy | None = None) -> str:
        return _digest(
            {
                "rootfs": self.tree_key(),
                "format": FORMAT,
                "files": list(self.files),
                "configure": self.configure,
                "policy": (policy or debian_policy()).key(),
            }
        )


@dataclass(frozen=True)
class GuestImage:
    """A built image: root filesystem plus the kernel and initrd to boot it directly."""

    root: Path
    kernel: Path
    initrd: Path
    key: str
    build_seconds: float
    cached: bool
    phases: dict[str, float]  # this run's build phases (empty when cached)
    built_phases: dict[str, float]  # the phases of the build that made it (kept in the manifest)


def _digest(data: object) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _prune(build_dir: Path, prefix: str, keep: str) -> None:
    for old in build_dir.glob(f"{prefix}-*"):
        if old.name != f"{prefix}-{keep}" and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)


@dataclass(frozen=True)
class Rootfs:
    path: Path
    built: bool  # False: taken from the cache


def _prune_images(build_dir: Path, keep: str, policy: GuestPolicy) -> None:
    """Drop this policy's older images (other policies' images stay: each run uses its own)."""
    for old in build_dir.glob("image-*"):
        manifest = old / "manifest.json"
        if old.name == f"image-{keep}" or not manifest.is_file():
            continue
        built_for = json.loads(manifest.read_text()).get("policy", {})
        if not isinstance(built_for, dict) or built_for.get("target") == policy.target:
            shutil.rmtree(old, ignore_errors=True)


def build_rootfs(spec: ImageSpec, build_dir: Path) -> Rootfs:
    """The debootstrapped tree for `spec`, bootstrapping it if the cache lacks it."""
    key = spec.rootfs_key()
    final = build_dir / f"rootfs-{key}"
    if (final / ".complete").is_file():
        return Rootfs(final, built=False)
    require_tool("debootstrap")
    work = build_dir / f"tmp-rootfs-{key}"
    shutil.rmtree(work, ignore_errors=True)
    build_dir.mkdir(parents=True, exist_ok=True)
    run(
        [
            "debootstrap",
            "--variant=minbase",
            "--include=" + ",".join(spec.packages),
            spec.suite,
            work,
            spec.mirror,
        ],
        timeout=DEBOOTSTRAP_TIMEOUT,
        clean=True,
        log=build_dir / "logs" / "debootstrap.log",
    )
    (work / ".complete").write_text(json.dumps({"mirror": spec.mirror, "packages": list(spec.packages)}))
    shutil.rmtree(final, ignore_errors=True)
    work.rename(final)
    _prune(build_dir, "rootfs", key)
    return Rootfs(final, built=True)


# In the chroot while the layer is installed: no service starts (invoke-rc.d asks policy-rc.d), dpkg skips
# its fsync()s (a failed build is thrown away whole), and the host's resolver answers for apt.
_LAYER_FILES = {
    "usr/sbin/policy-rc.d": "#!/bin/sh\nexit 101\n",
    "etc/dpkg/dpkg.cfg.d/sitepolicy-e2e-unsafe-io": "force-unsafe-io\n",
}


def build_app_rootfs(spec: ImageSpec, build_dir: Path, base: Rootfs, phases: dict[str, float]) -> Rootfs:
    """`base` plus spec.app_packages (`apt-get install` in a chroot of a copy); the seconds of each step go
    into `phases`. The caller (_tree) has looked in the cache."""
    key = spec.app_key()
    final = build_dir / f"app-rootfs-{key}"
    work = build_dir / f"tmp-app-rootfs-{key}"
    shutil.rmtree(work, ignore_errors=True)
    started = time.monotonic()
    run(["cp", "-a", "--reflink=auto", base.path, work], clean=True, timeout=900)
    (work / ".complete").unlink(missing_ok=True)
    step = _timed(phases, "app layer: copy of the base tree", started)
    resolv = work / "etc" / "resolv.conf"
    saved_link = resolv.readlink() if resolv.is_symlink() else None
    saved = resolv.read_bytes() if saved_link is None and resolv.is_file() else None
    for rel, text in _LAYER_FILES.items():
        path = work / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o755)
    if Path("/etc/resolv.conf").is_file():
        resolv.unlink(missing_ok=True)
        shutil.copyfile("/etc/resolv.conf", resolv)
    proc = work / "proc"
    run(["mount", "-t", "proc", "proc", proc], clean=True, timeout=60)
    try:
        env = {"DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C.UTF-8"}
        log = build_dir / "logs" / "app-layer.log"
        apt: list[str | Path] = ["chroot", work, "apt-get", "-q", "-o", "Dpkg::Use-Pty=0"]
        run([*apt, "update"], env=env, clean=True, timeout=600, log=log)
        run([*apt, "install", "-y", "--no-install-recommends", *spec.app_packages], env=env, clean=True,
            timeout=APT_TIMEOUT, log=build_dir / "logs" / "app-layer-install.log")  # fmt: skip
        run([*apt, "clean"], env=env, clean=True, timeout=60)
    finally:
        run(["umount", proc], clean=True, timeout=60)
    for rel in _LAYER_FILES:
        (work / rel).unlink()
    resolv.unlink(missing_ok=True)
    if saved_link is not None:
        resolv.symlink_to(saved_link)
    elif saved is not None:
        resolv.write_bytes(saved)
    _timed(phases, "app layer: apt-get install", step)
    (work / ".complete").write_text(json.dumps({"base": base.path.name, "packages": list(spec.app_packages)}))
    shutil.rmtree(final, ignore_errors=True)
    work.rename(final)
    _prune(build_dir, "app-rootfs", key)
    return Rootfs(final, built=True)


def _tree(spec: ImageSpec, build_dir: Path, phases: dict[str, float]) -> Rootfs:
    """The tree the image is made from (base, or base plus the app layer), building what the cache lacks."""
    started = time.monotonic()
    if spec.app_packages:
        layer = build_dir / f"app-rootfs-{spec.app_key()}"
        if (layer / ".complete").is_file():
            phases["app layer (cached)"] = 0.0
            return Rootfs(layer, built=False)
    base = build_rootfs(spec, build_dir)
    _timed(phases, "debootstrap" if base.built else "debootstrap (cached)", started)
    return build_app_rootfs(spec, build_dir, base, phases) if spec.app_packages else base


def _boot_file(root: Path, name: str) -> Path:
    """The kernel or initrd the guest's own /vmlinuz or /initrd.img link points at."""
    link = root / name
    if not link.is_symlink() and not link.exists():
        candidates = sorted((root / "boot").glob(f"{'vmlinuz' if name == 'vmlinuz' else 'initrd.img'}-*"))
        if not candidates:
            raise E2EError(f"the guest root {root} has no {name}: was linux-image-amd64 installed?")
        return candidates[-1]
    target = link.readlink() if link.is_symlink() else Path(name)
    return root / str(target).lstrip("/")


def _timed(phases: dict[str, float], name: str, started: float) -> float:
    now = time.monotonic()
    phases[name] = round(now - started, 1)
    return now


def build_image(spec: ImageSpec, build_dir: Path, policy: GuestPolicy | None = None) -> GuestImage:
    """The labelled, bootable image for `spec` and `policy`; built only when their inputs changed.

    One debootstrap tree serves every policy; each policy gets its own image, labelled once on the
    host with that policy's file_contexts.
    """
    policy = policy or debian_policy()
    key = spec.image_key(policy)
    final = build_dir / f"image-{key}"
    manifest = final / "manifest.json"
    if manifest.is_file():
        data = json.loads(manifest.read_text())
        return GuestImage(
            root=final / "root.ext4",
            kernel=final / "vmlinuz",
            initrd=final / "initrd.img",
            key=key,
            build_seconds=float(data["build_seconds"]),
            cached=True,
            phases={},
            built_phases=data.get("phases", {}),
        )
    for tool in ("setfiles", "mkfs.ext4", "chroot", "qemu-img"):
        require_tool(tool)
    phases: dict[str, float] = {}
    started = time.monotonic()
    rootfs = _tree(spec, build_dir, phases)
    step = time.monotonic()
    work = build_dir / f"tmp-image-{key}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    tree = work / "root"
    run(["cp", "-a", "--sparse=always", rootfs.path, tree], clean=True, timeout=600)
    (tree / ".complete").unlink(missing_ok=True)
    for dest, text in spec.files:
        path = tree / dest
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    logs = build_dir / "logs"
    run(
        ["chroot", tree, "/bin/sh", "-s"],
        input_text=spec.configure,
        clean=True,
        timeout=300,
        log=logs / "configure.log",
    )
    if policy.configure:
        run(["chroot", tree, "/bin/sh", "-s"], input_text=policy.configure, clean=True, timeout=300,
            log=logs / "configure-target.log")  # fmt: skip
    shutil.copyfile(_boot_file(tree, "vmlinuz"), work / "vmlinuz")
    shutil.copyfile(_boot_file(tree, "initrd.img"), work / "initrd.img")
    step = _timed(phases, "configure", step)
    install_policy(policy, tree, logs)
    step = _timed(phases, "policy", step)
    # Label with the policy the guest boots, then carry the labels into the image (mkfs -d keeps xattrs).
    run(
        ["setfiles", "-r", tree, guest_file_contexts(policy, tree), tree],
        timeout=600,
        clean=True,
        log=logs / "setfiles.log",
    )
    step = _timed(phases, "label", step)
    used_mb = int(run(["du", "-sm", "--apparent-size", tree], clean=True, timeout=300).split()[0])
    raw = work / "root.ext4"
    run(
        ["mkfs.ext4", "-q", "-F", "-L", "e2e-root", "-d", tree, raw, f"{used_mb + FREE_SPACE_MB}M"],
        timeout=900,
        clean=True,
        log=logs / "mkfs.log",
    )
    shutil.rmtree(tree)
    step = _timed(phases, "image", step)
    seconds = step - started
    (work / "manifest.json").write_text(
        json.dumps(
            {
                "key": key,
                "rootfs": spec.tree_key(),
                "base_rootfs": spec.rootfs_key(),
                "app_packages": list(spec.app_packages),
                "policy": policy.key(),
                "build_seconds": round(seconds, 1),
                "phases": phases,
            },
            indent=2,
        )
    )
    shutil.rmtree(final, ignore_errors=True)
    work.rename(final)
    _prune_images(build_dir, key, policy)
    return GuestImage(
        root=final / "root.ext4",
        kernel=final / "vmlinuz",
        initrd=final / "initrd.img",
        key=key,
        build_seconds=seconds,
        cached=False,
        phases=phases,
        built_phases=phases,
    )
