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
from .verify import VerifyResult, verify_modules
from .verify.modules import SiteModule, modules_from_rpms, selinux_rpm
from .verify.report import render_text
from .verify.run import VerifyFailed


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


def verify_dir(root: Path, target: Target) -> Path:
    return target_layout(root, target).root / "verify"


def _built_modules(root: Path, target: Target, sites: list[Site]) -> list[SiteModule]:
    layout = target_layout(root, target)
    return modules_from_rpms(layout, sites, verify_dir(root, target) / "modules")


def can_verify(target: Target) -> bool:
    """verify links against this host's own base policy: the target's store must be installed here."""
    return target == host_target() and (Path("/var/lib/selinux") / target.store / "active/policy.kern").is_file()


def verify(root: Path, names: list[str], target_name: str | None, use_cache: bool = True) -> VerifyResult:
    """Prove every site in sites.d/ isolated (building any whose RPMs are missing); report ``names`` only if given."""
    sites = load_sites(sites_dir(root))
    if not sites:
        raise SitepolicyError("no sites defined in sites.d/ (invoke new-site NAME)")
    chosen = select_sites(sites, names, sites_dir(root)) if names else sites
    target = choose_target(target_name)
    if not can_verify(target):
        raise SitepolicyError(
            f"verify links against this host's own {target.store} policy store; this host "
            f"({host_target().name}) cannot verify target {target.name}"
        )
    layout = target_layout(root, target)
    missing = [s for s in sites if selinux_rpm(layout, s) is None]
    if missing:
        check_against_base(missing, host_store_names(target))
        build_sites(missing, target, resolve_headers(target, None), build_dir(root))
    result = verify_modules(_built_modules(root, target, sites), target.store, verify_dir(root, target), use_cache)
    if names:
        report = result.report.restricted_to([s.name for s in chosen])
        result = VerifyResult(report, result.relinked, result.key, result.policy_root)
    return result


def verify_after_build(root: Path, target_name: str | None, headers: str | None) -> VerifyResult | None:
    """After build-site: prove every built site of the target, or None when this host cannot link them."""
    target = choose_target(target_name)
    if headers or not can_verify(target):
        return None
    sites = [s for s in load_sites(sites_dir(root)) if selinux_rpm(target_layout(root, target), s) is not None]
    if not sites:
        return None
    return verify_modules(_built_modules(root, target, sites), target.store, verify_dir(root, target))


def verify_text(result: VerifyResult, as_json: bool = False) -> str:
    return result.report.to_json().rstrip("\n") if as_json else render_text(result.report, result.relinked)


def check_verified(result: VerifyResult) -> None:
    if not result.report.ok:
        raise VerifyFailed(f"verify failed: {len(result.report.failures)} check(s) broken; the rules are listed above")
