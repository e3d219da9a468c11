"""What each task does, as plain functions of the project root and the task's arguments.

tasks.py only parses arguments and prints; everything here raises SitepolicyError on failure.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import __version__
from .definition.base_policy import check_against_base, host_store_names, resolve_headers
from .definition.runtime import PACKAGE as RUNTIME_PACKAGE
from .definition.site import Site, load_sites, select_sites
from .definition.starter import new_site as write_starter
from .errors import SitepolicyError, TargetError
from .package import gate
from .package.build import TargetLayout, build_runtime, build_site, read_manifest
from .package.gate import PolicySource, policy_source, require_source
from .package.incremental import LOCK_NAME, ReleaseLock, runtime_digest, site_digest, site_digest_with
from .package.mock import target_for_build_root
from .package.mock_build import Progress, Runner, build_in_mock, build_source_package, failures_error, run_tool, staging
from .package.parallel import Job, Outcome, Result, run_jobs
from .publish.repo import DEFAULT_KEEP, PublishResult, RepoState
from .publish.repo import publish as publish_repository
from .publish.signing import resolve_key
from .publish.submit import (
    Submission,
    SubmitError,
    check_copr_project,
    check_koji_target,
    copr_submission,
    copr_target,
    koji_submission,
    koji_target,
)
from .publish.submit import explain as explain_submit
from .targets import Target, get_target, host_target, with_dist
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


def host_name() -> str | None:
    """This host's target, or None when it matches no profile."""
    try:
        return host_target().name
    except TargetError:
        return None


def build_target(name: str | None, dist: str | None) -> Target:
    """The target to build for (default: this host's), with the dist tag its packages get (targets.with_dist)."""
    return with_dist(choose_target(name), dist, host_name())


def check_release(release: str) -> None:
    if not release.isdigit() or release.startswith("0"):
        raise SitepolicyError(f"--release {release!r}: a positive whole number")


@dataclass(frozen=True)
class Planned:
    """One package of a build-site run: what it is built from, and whether its outputs still stand."""

    package: str
    version: str
    digest: str
    release: int
    record_dir: Path
    current: tuple[Path, ...]  # its outputs, when the last build was of exactly these inputs and release
    site: Site | None  # None for the runtime


def _current_outputs(layout: TargetLayout, record_dir: Path, digest: str, release: int) -> tuple[Path, ...]:
    manifest = read_manifest(record_dir)
    if manifest.get("digest") != digest or manifest.get("release") != str(release):
        return ()
    outputs = tuple(layout.root / str(p) for p in manifest.get("outputs", []))  # type: ignore[union-attr]
    return outputs if outputs and all(p.is_file() for p in outputs) else ()


@dataclass(frozen=True)
class BuildOutcome:
    """build-site's result: every current output, and the proof that released them (None: --no-verify)."""

    paths: list[Path]
    verified: VerifyResult | None
    source: PolicySource | None


def build(
    root: Path,
    names: list[str],
    everything: bool,
    target_name: str | None,
    headers: str | None,
    release: str = "",
    jobs: int = 1,
    force: bool = False,
    report: Callable[[str], None] = lambda line: None,
    policy_version: str | None = None,
    dist: str | None = None,
    policy_root: str | None = None,
    no_verify: bool = False,
) -> BuildOutcome:
    """Build what changed, then verify every built site against the target's policy (this host's own
    store, or ``policy_root``): the packages reach build/<target>/rpms only when it passed (package/gate.py).
    A build that cannot be verified is refused before anything is built, unless ``no_verify``.
    """
    target = build_target(target_name, dist)
    source = _source_for(target, policy_root, no_verify, "build-site")
    build_packages(
        root, names, everything, target_name, headers, release, jobs, force, report, policy_version, dist, no_verify
    )
    layout = target_layout(root, target)
    if source is None:
        released = gate.release(layout.root, _records(layout, choose_sites(root, names, everything)), gate.SKIPPED, "")
        return BuildOutcome(released, None, None)
    result = _verify_and_release(root, target, source)
    return BuildOutcome(_current_paths(layout, choose_sites(root, names, everything)), result, source)


def _source_for(target: Target, policy_root: str | None, no_verify: bool, task: str) -> PolicySource | None:
    if no_verify:
        if policy_root:
            raise SitepolicyError("--no-verify and --policy-root: choose one (the root is only for verify)")
        return None
    host = host_name()
    return require_source(target, policy_source(target, policy_root, host), host, task)


def _records(layout: TargetLayout, sites: list[Site]) -> list[Path]:
    """The build records (manifest.json) of the runtime and of ``sites`` that were built."""
    dirs = [layout.runtime_dir, *(layout.site_dir(s) for s in sites)]
    return [d / "manifest.json" for d in dirs if (d / "manifest.json").is_file()]


def _current_paths(layout: TargetLayout, sites: list[Site]) -> list[Path]:
    """The current outputs of the runtime and ``sites``: in rpms/ when released, else in unverified/."""
    return [layout.root / str(p) for m in _records(layout, sites) for p in read_manifest(m.parent).get("outputs", [])]  # type: ignore[union-attr]


def _verify_and_release(root: Path, target: Target, source: PolicySource, use_cache: bool = True) -> VerifyResult:
    """Prove every built site of the target against ``source``; on a pass, release every pending package."""
    layout = target_layout(root, target)
    sites = [s for s in load_sites(sites_dir(root)) if selinux_rpm(layout, s) is not None]
    if not sites:
        raise SitepolicyError(f"no site is built for {target.name}: nothing to verify")
    modules = _built_modules(root, target, sites)
    result = verify_modules(modules, target.store, verify_dir(root, target), use_cache, source.live_root)
    if result.report.ok:
        gate.release(layout.root, _records(layout, sites), gate.PASSED, source.description)
    return result


def build_packages(
    root: Path,
    names: list[str],
    everything: bool,
    target_name: str | None,
    headers: str | None,
    release: str = "",
    jobs: int = 1,
    force: bool = False,
    report: Callable[[str], None] = lambda line: None,
    policy_version: str | None = None,
    dist: str | None = None,
    no_verify: bool = False,
) -> list[Path]:
    """Build what changed (everything with ``force``), ``jobs`` at a time; return every current output.
    Gated (the default), new packages wait in build/<target>/unverified/ for verify.

    ``release`` empty: releases come from sites.d/releases.lock (see incremental.py), which is updated.
    A number: that release for every package, and the lock is neither read nor written.
    """
    start = time.monotonic()
    sites = choose_sites(root, names, everything)
    target = build_target(target_name, dist)
    resolved = resolve_headers(target, Path(headers) if headers else None, policy_version)
    if release:
        check_release(release)
    if jobs < 1:
        raise SitepolicyError(f"-j {jobs}: at least 1")
    layout = TargetLayout(build_dir(root), target)
    lock = ReleaseLock.load(sites_dir(root) / LOCK_NAME)

    def plan(package: str, version: str, digest: str, record_dir: Path, site: Site | None) -> Planned:
        number = int(release) if release else lock.release_for(target, package, version, digest)
        current = () if force else _current_outputs(layout, record_dir, digest, number)
        return Planned(package, version, digest, number, record_dir, current, site)

    plans = [plan(RUNTIME_PACKAGE, __version__, runtime_digest(target), layout.runtime_dir, None)]
    plans += [
        plan(s.names.package, s.version, site_digest(s, target, resolved, no_verify), layout.site_dir(s), s)
        for s in sites
    ]
    stale = [p for p in plans if not p.current]
    check_against_base([p.site for p in stale if p.site is not None], host_store_names(target) if stale else None)

    def job(p: Planned) -> Job:
        def run() -> tuple[Path, ...]:
            if p.site is None:
                return build_runtime(target, build_dir(root), str(p.release), p.digest, no_verify).outputs
            return build_site(p.site, target, resolved, build_dir(root), str(p.release), p.digest, no_verify).outputs

        return Job(p.package, str(p.release), run)

    results = {r.name: r for r in run_jobs([job(p) for p in stale], jobs, report)}
    if not release:
        for p in plans:
            if p.current or results[p.package].outcome is Outcome.BUILT:
                lock = lock.with_entry(target, p.package, p.version, p.release, p.digest)
        lock.save()
    failed = [r for r in results.values() if r.outcome is Outcome.FAILED]
    report(
        f"build-site ({target.name}): {len(results) - len(failed)} built, {len(plans) - len(stale)} up to date, "
        f"{len(failed)} failed, of {len(plans)} packages, in {time.monotonic() - start:.1f} s with -j {jobs}"
    )
    if failed:
        raise _first_failure(failed)
    return [path for p in plans for path in (p.current or results[p.package].outputs)]


def runtime_outputs(root: Path, target: Target, release: str = "") -> list[Path]:
    """sitepolicy-selinux-runtime for ``target``, built only when its inputs changed (release from the lock)."""
    lock = ReleaseLock.load(sites_dir(root) / LOCK_NAME)
    layout = TargetLayout(build_dir(root), target)
    digest = runtime_digest(target)
    number = int(release) if release else lock.release_for(target, RUNTIME_PACKAGE, __version__, digest)
    outputs = _current_outputs(layout, layout.runtime_dir, digest, number)
    if not outputs:
        outputs = build_runtime(target, build_dir(root), str(number), digest).outputs
    if not release:
        lock.with_entry(target, RUNTIME_PACKAGE, __version__, number, digest).save()
    return list(outputs)


def _first_failure(failed: list[Result]) -> SitepolicyError:
    first = failed[0]
    others = f" (and {len(failed) - 1} more, listed above)" if len(failed) > 1 else ""
    return SitepolicyError(f"{first.name} failed{others}: {first.error}")


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


def unverified_dir(root: Path, target_name: str | None) -> Path:
    return target_layout(root, choose_target(target_name)).unverified


def verify_dir(root: Path, target: Target) -> Path:
    return target_layout(root, target).root / "verify"


def _built_modules(root: Path, target: Target, sites: list[Site]) -> list[SiteModule]:
    layout = target_layout(root, target)
    return modules_from_rpms(layout, sites, verify_dir(root, target) / "modules")


def verify(
    root: Path,
    names: list[str],
    target_name: str | None,
    use_cache: bool = True,
    headers: str | None = None,
    policy_root: str | None = None,
    policy_version: str | None = None,
    dist: str | None = None,
) -> tuple[VerifyResult, PolicySource]:
    """Prove every site in sites.d/ isolated against the target's policy (this host's store, or
    ``policy_root``), building any whose RPMs are missing (with ``headers``); report ``names`` only if
    given. A pass releases the packages waiting in unverified/ into rpms/."""
    sites = load_sites(sites_dir(root))
    if not sites:
        raise SitepolicyError("no sites defined in sites.d/ (invoke new-site NAME)")
    chosen = select_sites(sites, names, sites_dir(root)) if names else sites
    target = choose_target(target_name)
    source = _source_for(target, policy_root, False, "verify")
    layout = target_layout(root, target)
    missing = [s for s in sites if selinux_rpm(layout, s) is None]
    if missing:  # built like build-site builds them: releases from the lock, the runtime with them
        build_packages(
            root, [s.name for s in missing], False, target_name, headers, policy_version=policy_version, dist=dist
        )
    assert source is not None
    result = _verify_and_release(root, target, source, use_cache)
    if names:
        report = result.report.restricted_to([s.name for s in chosen])
        result = VerifyResult(report, result.relinked, result.key, result.policy_root)
    return result, source


def verify_text(result: VerifyResult, as_json: bool = False, source: PolicySource | None = None) -> str:
    if as_json:
        return result.report.to_json().rstrip("\n")
    against = f"verify: against {source.description}\n" if source is not None else ""
    return against + render_text(result.report, result.relinked)


def check_verified(result: VerifyResult, unverified: Path | None = None) -> None:
    if not result.report.ok:
        held = f"; the packages stay in {unverified}, not in rpms/" if unverified is not None else ""
        raise VerifyFailed(
            f"verify failed: {len(result.report.failures)} check(s) broken; the rules are listed above{held}"
        )


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
    allow_unverified: bool = False,
) -> PublishResult:
    """Publish what build-site made for a target (or the given RPMs) into a repository of that target.
    Only packages whose exact bytes passed verify (build/<target>/verified.json), unless ``allow_unverified``."""
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
    gate.check_publishable(target_layout(root, target).root, candidates, allow_unverified)
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
    policy_root: str | None = None,
    no_verify: bool = False,
) -> BuildOutcome:
    """build-site --mock: SRPMs here, RPMs from mock, per config; every site reported, then failures raised.
    mock's packages are gated like a local build's: verified against ``policy_root`` (or this host's own
    store for its own target) before they reach rpms/, or released unverified with ``no_verify``.

    ``release`` empty: each site's release comes from sites.d/releases.lock, as for a local build, with
    the mock config standing for the policy headers (mock brings the target's own); built sites are
    recorded in the lock. sitepolicy-selinux-runtime, which they require, compiles nothing: it is built
    here for each target, with its release from the lock (runtime_outputs).
    """
    sites = choose_sites(root, names, everything)
    if release:
        check_release(release)
    pairs = mock_targets(configs, target_name)
    if len(pairs) > 1 and policy_root:
        raise SitepolicyError("--policy-root with several --mock configs: build one target at a time")
    sources = {target.name: _source_for(target, policy_root, no_verify, "build-site --mock") for _, target in pairs}
    if runner is run_tool:
        require_tool("mock", "mock (Fedora/EL: dnf install mock; then add yourself to the mock group)")
    lock = ReleaseLock.load(sites_dir(root) / LOCK_NAME)
    outcomes = []
    for config, target in pairs:
        digests = {s.name: site_digest_with(s, target, f"mock:{config}") for s in sites}
        releases = {
            s.name: release or str(lock.release_for(target, s.names.package, s.version, digests[s.name])) for s in sites
        }
        built = build_in_mock(
            sites, target, config, build_dir(root), lambda s, r=releases: r[s.name], chain, progress, runner
        )
        for outcome in built:
            if outcome.build and not release:
                site = outcome.site
                lock = lock.with_entry(
                    target, site.names.package, site.version, int(releases[site.name]), digests[site.name]
                )
        outcomes += built
    if not release:
        lock.save()
    error = failures_error(outcomes)
    if error is not None:
        raise error
    for _, target in pairs:
        runtime_outputs(root, target, release)
    verified = None
    paths: list[Path] = []
    for _, target in pairs:
        layout = target_layout(root, target)
        source = sources[target.name]
        if source is None:
            gate.release(layout.root, _records(layout, sites), gate.SKIPPED, "")
        else:
            verified = _verify_and_release(root, target, source)
        paths += _current_paths(layout, sites)
    return BuildOutcome(paths, verified, sources[pairs[-1][1].name])


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
