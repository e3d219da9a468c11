"""What each task does, as plain functions of the project root and the task's arguments.

tasks.py only parses arguments and prints; everything here raises SitepolicyError on failure.
"""

from __future__ import annotations

from pathlib import Path

from .build import SiteBuild, TargetLayout, build_sites
from .errors import SitepolicyError
from .repo import DEFAULT_KEEP, PublishResult
from .repo import publish as publish_repository
from .scaffold import new_site as write_starter
from .selinux import check_against_base, host_store_names, resolve_headers
from .signing import resolve_key
from .site import Site, load_sites, select_sites
from .targets import Target, get_target, host_target


def sites_dir(root: Path) -> Path:
    return root / "sites.d"


def build_dir(root: Path) -> Path:
    return root / "build"


def choose_sites(root: Path, names: list[str], everything: bool) -> list[Site]:
    """All definitions are validated together (collisions), then the requested ones are chosen."""
    if bool(names) == everything:
        raise SitepolicyError("name one site, or pass --all for every definition in sites.d/")
    sites = load_sites(sites_dir(root))
    return sites if everything else select_sites(sites, names, sites_dir(root))


def choose_target(name: str | None) -> Target:
    return get_target(name) if name else host_target()


def build(
    root: Path, names: list[str], everything: bool, target_name: str | None, headers: str | None, release: str
) -> list[Path]:
    sites = choose_sites(root, names, everything)
    target = choose_target(target_name)
    resolved = resolve_headers(target, Path(headers) if headers else None)
    if not release.isdigit() or release.startswith("0"):
        raise SitepolicyError(f"--release {release!r}: a positive whole number")
    check_against_base(sites, host_store_names(target))
    built: list[SiteBuild] = build_sites(sites, target, resolved, build_dir(root), release)
    return [path for b in built for path in b.outputs]


def describe_sites(root: Path) -> str:
    sites = load_sites(sites_dir(root))
    if not sites:
        return "no sites defined in sites.d/ (invoke new-site NAME)"
    lines = []
    for site in sites:
        n = site.names
        lines += [
            f"{site.name}  ({site.source.name})",
            f"  packages : {n.selinux_package}, {n.php_fpm_package} (source {n.package})",
            f"  module   : {n.module}   domain: {n.domain}",
            f"  docroot  : {site.docroot}  writable: {', '.join(map(str, site.writable)) or '-'}",
            f"  pool     : {site.user}:{site.group}  socket: {site.socket}",
            f"  unit     : {n.unit}   network: {', '.join(sorted(x.value for x in site.network)) or '-'}",
        ]
    return "\n".join(lines)


def new_site(root: Path, name: str) -> Path:
    return write_starter(name, sites_dir(root))


def target_layout(root: Path, target: Target) -> TargetLayout:
    return TargetLayout(build_dir(root), target)


def publish(
    root: Path,
    repo: str,
    target_name: str | None,
    sign: str | None,
    base_url: str | None,
    keep: int = DEFAULT_KEEP,
    force: bool = False,
    with_srpms: bool = False,
    rpms: list[str] | None = None,
) -> PublishResult:
    """Publish what build-site made for a target (or the given RPMs) into a repository of that target."""
    if not repo:
        raise SitepolicyError("--repo DIR is required: the repository directory (one per target)")
    target = choose_target(target_name)
    if rpms:
        candidates = [Path(p).resolve() for p in rpms]
    else:
        layout = target_layout(root, target)
        candidates = sorted(layout.rpms.glob("*.rpm"))
        if with_srpms:
            candidates += sorted(layout.srpms.glob("*.src.rpm"))
        if not candidates:
            raise SitepolicyError(
                f"nothing built for target {target.name} in {layout.rpms}: "
                f"run invoke build-site --all --target {target.name} first"
            )
    key = resolve_key(sign) if sign else None
    return publish_repository(Path(repo).resolve(), candidates, target.name, key, base_url, keep, force)
