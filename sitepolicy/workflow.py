"""What each task does, as plain functions of the project root and the task's arguments.

tasks.py only parses arguments and prints; everything here raises SitepolicyError on failure.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .build import SiteBuild, TargetLayout, build_sites
from .builders import Progress, Runner, build_in_mock, build_source_package, failures_error, run_tool, staging
from .errors import SitepolicyError
from .mock import target_for_build_root
from .repo import DEFAULT_KEEP, PublishResult, RepoState
from .repo import publish as publish_repository
from .scaffold import new_site as write_starter
from .selinux import check_against_base, host_store_names, resolve_headers
from .signing import resolve_key
from .site import Site, load_sites, select_sites
from .submit import (
    Submission,
    SubmitError,
    check_copr_project,
    check_koji_target,
    copr_submission,
    copr_target,
    koji_submission,
    koji_target,
)
from .submit import explain as explain_submit
from .targets import Target, get_target, host_target
from .tools import require_tool
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


def check_release(release: str) -> None:
    if not release.isdigit() or release.startswith("0"):
        raise SitepolicyError(f"--release {release!r}: a positive whole number")


def build(
    root: Path, names: list[str], everything: bool, target_name: str | None, headers: str | None, release: str
) -> list[Path]:
    sites = choose_sites(root, names, everything)
    target = choose_target(target_name)
    resolved = resolve_headers(target, Path(headers) if headers else None)
    check_release(release)
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
    state = RepoState.load(Path(repo))
    # An existing repository knows its target; a new one is for --target (default: this host's OS).
    target = choose_target(target_name or (state.target if state else None))
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


def mock_targets(configs: list[str], target_name: str | None) -> list[tuple[str, Target]]:
    """Each --mock config with the target it builds for; two configs may not share a target."""
    pairs = []
    for config in configs:
        if target_name:
            target = get_target(target_name)
            try:
                mapped = target_for_build_root(config)
            except SitepolicyError:
                mapped = target  # a config of the user's own naming: --target says what it builds
            if mapped != target:
                raise SitepolicyError(f"--mock {config} builds for {mapped.name}, not --target {target.name}")
        else:
            target = target_for_build_root(config)
        pairs.append((config, target))
    seen: dict[str, str] = {}
    for config, target in pairs:
        if target.name in seen:
            raise SitepolicyError(
                f"--mock {seen[target.name]} and --mock {config} both build for {target.name}: their packages "
                f"would share names in build/{target.name}/; build them one at a time"
            )
        seen[target.name] = config
    return pairs


def build_mock(
    root: Path,
    names: list[str],
    everything: bool,
    configs: list[str],
    target_name: str | None,
    release: str,
    chain: bool,
    progress: Progress,
    runner: Runner = run_tool,
) -> list[Path]:
    """build-site --mock: SRPMs here, RPMs from mock, per config; every site reported, then failures raised."""
    sites = choose_sites(root, names, everything)
    check_release(release)
    pairs = mock_targets(configs, target_name)
    if runner is run_tool:
        require_tool("mock", "mock (Fedora/EL: dnf install mock; then add yourself to the mock group)")
    outcomes = []
    for config, target in pairs:
        outcomes += build_in_mock(sites, target, config, build_dir(root), release, chain, progress, runner)
    error = failures_error(outcomes)
    if error is not None:
        raise error
    return [path for o in outcomes if o.build for path in o.build.outputs]


def plan_submission(
    root: Path,
    names: list[str],
    copr: str | None,
    chroots: list[str],
    koji: str | None,
    target_name: str | None,
    release: str,
) -> Submission:
    """Build the SRPMs for the builder's target and the exact command lines that submit them."""
    if bool(copr) == bool(koji):
        raise SubmitError("choose one builder: --copr OWNER/PROJECT --chroot CHROOT, or --koji TARGET")
    check_release(release)
    if copr:
        check_copr_project(copr)
        if not chroots:
            raise SubmitError("--copr needs --chroot CHROOT (e.g. epel-9-x86_64): the build roots to build in")
        targets = {copr_target(c) for c in chroots}
        if len(targets) != 1:
            raise SubmitError(f"--chroot {', '.join(chroots)}: chroots of different targets; submit them one at a time")
        target = targets.pop()
    else:
        check_koji_target(koji or "")
        target = get_target(target_name) if target_name else koji_target(koji or "")
    sites = choose_sites(root, names, not names)
    out = build_dir(root) / target.name / "submit"
    out.mkdir(parents=True, exist_ok=True)
    stage = staging(build_dir(root), f"submit-{target.name}")
    try:
        srpms = []
        for site in sites:
            built = build_source_package(site, target, stage, release).srpm
            srpms.append(Path(shutil.move(str(built), str(out / built.name))))
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    if copr:
        return copr_submission(copr, chroots, srpms, target)
    return koji_submission(koji or "", srpms, target)


def run_submission(submission: Submission, progress: Progress, runner: Runner = run_tool) -> None:
    if shutil.which(submission.tool) is None and runner is run_tool:
        raise SubmitError(
            f"{submission.tool} is not installed here; run on a machine that has it (dnf install {submission.tool}):\n"
            + "\n".join(submission.shell())
        )
    for argv in submission.commands:
        progress(f"running: {' '.join(argv)}")
        proc = runner(list(argv))
        if proc.returncode != 0:
            raise explain_submit(submission.tool, proc.returncode, argv, proc.stdout or "")
