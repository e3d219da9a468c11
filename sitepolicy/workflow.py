"""What each task does, as plain functions of the project root and the task's arguments.

tasks.py only parses arguments and prints; everything here raises SitepolicyError on failure.
"""

from __future__ import annotations

from pathlib import Path

from .build import SiteBuild, TargetLayout, build_sites
from .errors import SitepolicyError
from .scaffold import new_site as write_starter
from .selinux import check_against_base, host_store_names, resolve_headers
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
