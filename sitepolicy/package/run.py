"""build-site from end to end: plan (render each site once, digest, release from the lock) -> build what
is stale, ``jobs`` at a time, or in mock -> record; the release lock is loaded and saved once per run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..definition.allowlists import check_for_target
from ..definition.base_policy import check_against_base, host_store_names
from ..definition.names import RUNTIME_PACKAGE
from ..definition.site import Site
from ..errors import SitepolicyError
from ..project import BuildRecord, Project, TargetLayout
from ..render import RELEASE_PLACEHOLDER, Rendered, SiteSources, render_runtime, render_site
from ..targets import Target, get_target
from ..tools import require_tool
from .build import build_runtime, build_site
from .headers import Headers, resolve_headers
from .incremental import ReleaseLock, runtime_digest, site_digest, site_digest_with
from .mock import target_for_build_root
from .mock_build import Progress, Runner, build_in_mock, failures_error, run_tool
from .parallel import Job, Outcome, Result, run_jobs

Report = Callable[[str], None]


def check_release(release: str) -> None:
    if not release.isdigit() or release.startswith("0"):
        raise SitepolicyError(f"--release {release!r}: a positive whole number")


@dataclass(frozen=True)
class Planned:
    """One package of a build-site run: what it is built from, and whether its last build still stands."""

    package: str
    version: str
    digest: str
    release: int
    record_dir: Path
    current: BuildRecord | None  # the last build, when it was of exactly these inputs and release
    site: Site | None  # None for the runtime
    sources: SiteSources | None  # the site's one render (None for the runtime)
    runtime: Rendered | None  # the runtime's one render (None for a site)

    def line(self) -> str:
        state = "up to date" if self.current else "build"
        return f"{state:<10} {self.package}-{self.version}-{self.release}"


@dataclass(frozen=True)
class BuildPlan:
    target: Target
    headers: Headers
    packages: tuple[Planned, ...]
    lock: ReleaseLock  # as loaded: the run records into it and saves it once

    @property
    def stale(self) -> list[Planned]:
        return [p for p in self.packages if p.current is None]

    def describe(self) -> str:
        """What build-site would do (--dry-run)."""
        stale = len(self.stale)
        head = f"build-site ({self.target.name}) would build {stale} of {len(self.packages)} packages:"
        return "\n".join([head, *(p.line() for p in self.packages)])


def _planned(
    layout: TargetLayout,
    lock: ReleaseLock,
    release: str,
    force: bool,
    package: str,
    version: str,
    digest: str,
    site: Site | None,
    sources: SiteSources | None = None,
    runtime: Rendered | None = None,
) -> Planned:
    number = int(release) if release else lock.release_for(layout.target, package, version, digest)
    record_dir = layout.runtime_dir if site is None else layout.site_dir(site)
    last = BuildRecord.read(layout, record_dir)
    current = last if last is not None and not force and last.is_current(digest, number) else None
    return Planned(package, version, digest, number, record_dir, current, site, sources, runtime)


def plan_build(
    project: Project,
    names: Sequence[str],
    everything: bool,
    headers: str | None,
    release: str,
    force: bool = False,
    jobs: int = 1,
    policy_version: str | None = None,
    no_verify: bool = False,
) -> BuildPlan:
    """Render every chosen site once, take its digest from that render, and decide what is stale.
    ``policy_version``: the floor the -selinux packages require (default: see package/policy_version.py);
    ``no_verify``: the packages skip the verify gate (BUILDINFO says so: another digest)."""
    sites = project.choose(names, everything)
    target = project.build_target
    check_for_target(sites, target.name)
    headers_dir = Path(headers) if headers else None
    resolved = resolve_headers(target, headers_dir, None if headers_dir else project.host, policy_version)
    if release:
        check_release(release)
    if jobs < 1:
        raise SitepolicyError(f"-j {jobs}: at least 1")
    lock = ReleaseLock.load(project.lock_path)
    layout = project.layout
    runtime = render_runtime(target, RELEASE_PLACEHOLDER)
    digest = runtime_digest(target, runtime, resolved)
    plans = [_planned(layout, lock, release, force, RUNTIME_PACKAGE, __version__, digest, None, runtime=runtime)]
    for site in sites:
        sources = render_site(site, target)
        digest = site_digest(sources, resolved, no_verify)
        plans.append(_planned(layout, lock, release, force, site.names.package, site.version, digest, site, sources))
    return BuildPlan(target, resolved, tuple(plans), lock)


def build(
    project: Project,
    names: Sequence[str],
    everything: bool,
    headers: str | None,
    release: str = "",
    jobs: int = 1,
    force: bool = False,
    report: Report = lambda line: None,
    policy_version: str | None = None,
    no_verify: bool = False,
) -> list[BuildRecord]:
    """Build what changed (everything with ``force``), ``jobs`` at a time; return every current record.
    New packages wait in build/<target>/unverified/ for verify (package/gate.py; with ``no_verify`` they go
    to rpms/ at once): verify/run.py's verify_built releases them.

    ``release`` empty: releases come from sites.d/releases.lock (see incremental.py), which is updated.
    A number: that release for every package (the lock is not written). plan_build() alone is --dry-run.
    """
    start = time.monotonic()
    plan = plan_build(project, names, everything, headers, release, force, jobs, policy_version, no_verify)
    for refused in project.refused:
        report(f"refused, skipped: {refused}")
    target, stale, lock = plan.target, plan.stale, plan.lock
    check_against_base([p.site for p in stale if p.site is not None], host_store_names(target) if stale else None)
    built: dict[str, BuildRecord] = {}

    def job(p: Planned) -> Job:
        def run() -> tuple[Path, ...]:
            if p.site is None:
                done = build_runtime(
                    target, project.build_dir, str(p.release), p.digest, p.runtime, no_verify, plan.headers
                )
                built[p.package] = done.record
                return done.outputs
            site_build = build_site(
                p.site, target, plan.headers, project.build_dir, str(p.release), p.digest, p.sources, no_verify
            )
            built[p.package] = site_build.record
            return site_build.outputs

        return Job(p.package, str(p.release), run)

    results = {r.name: r for r in run_jobs([job(p) for p in stale], jobs, report)}
    if not release:
        for p in plan.packages:
            if p.current or results[p.package].outcome is Outcome.BUILT:
                lock = lock.with_entry(target, p.package, p.version, p.release, p.digest)
        lock.save()
    failed = [r for r in results.values() if r.outcome is Outcome.FAILED]
    report(
        f"build-site ({target.name}): {len(results) - len(failed)} built, {len(plan.packages) - len(stale)} up to "
        f"date, {len(failed)} failed, of {len(plan.packages)} packages, in {time.monotonic() - start:.1f} s "
        f"with -j {jobs}"
    )
    trials = sorted(p.site.name for p in plan.packages if p.site is not None and p.site.permissive)
    if trials:
        report(
            f"build-site ({target.name}): TRIAL (mode: permissive, NOT isolated: the domain denies nothing): "
            + ", ".join(trials)
        )
    if failed:
        raise _first_failure(failed)
    return [p.current or built[p.package] for p in plan.packages]


def outputs(records: Sequence[BuildRecord]) -> list[Path]:
    """Every file of ``records``: each package's RPMs, then its SRPM."""
    return [path for record in records for path in record.outputs]


def _runtime_record(
    project: Project, target: Target, release: str, lock: ReleaseLock, headers_dir: Path | None = None
) -> tuple[BuildRecord, ReleaseLock]:
    """sitepolicy-selinux-runtime for ``target``, built only when its inputs changed (release from ``lock``)."""
    layout = project.layout_for(target)
    runtime = render_runtime(target, RELEASE_PLACEHOLDER)
    # The base module inside compiles against the target's headers: this host's, or --headers (mock builds
    # the sites with the build root's own; the runtime is built here).
    headers = resolve_headers(target, headers_dir, None if headers_dir else project.host)
    digest = runtime_digest(target, runtime, headers)
    planned = _planned(layout, lock, release, False, RUNTIME_PACKAGE, __version__, digest, None, runtime=runtime)
    record = planned.current
    if record is None:
        record = build_runtime(
            target, project.build_dir, str(planned.release), planned.digest, runtime, headers=headers
        ).record
    if not release:
        lock = lock.with_entry(target, RUNTIME_PACKAGE, __version__, planned.release, planned.digest)
    return record, lock


def _first_failure(failed: list[Result]) -> SitepolicyError:
    first = failed[0]
    others = f" (and {len(failed) - 1} more, listed above)" if len(failed) > 1 else ""
    return SitepolicyError(f"{first.name} failed{others}: {first.error}")


def mock_targets(configs: Sequence[str], target_name: str | None) -> list[tuple[str, Target]]:
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


@dataclass(frozen=True)
class MockPlan:
    """build-site --mock: per config, each site's render, digest and release."""

    pairs: tuple[tuple[str, Target], ...]
    sites: tuple[Site, ...]
    rendered: dict[tuple[str, str], SiteSources]  # (config, site name) -> render
    digests: dict[tuple[str, str], str]
    releases: dict[tuple[str, str], str]
    lock: ReleaseLock  # as loaded: the run records into it and saves it once

    def release_of(self, config: str) -> Callable[[Site], str]:
        return lambda site: self.releases[(config, site.name)]

    def describe(self) -> str:
        lines = []
        for config, target in self.pairs:
            lines.append(f"build-site --mock {config} ({target.name}) would build {len(self.sites)} sites in mock:")
            lines += [f"build      {s.names.package}-{s.version}-{self.releases[(config, s.name)]}" for s in self.sites]
        return "\n".join(lines)


def plan_mock(
    project: Project, names: Sequence[str], everything: bool, configs: Sequence[str], release: str
) -> MockPlan:
    sites = project.choose(names, everything)
    if release:
        check_release(release)
    pairs = mock_targets(configs, project.target_name)
    for _, target in pairs:
        check_for_target(sites, target.name)
    lock = ReleaseLock.load(project.lock_path)
    rendered, digests, releases = {}, {}, {}
    for config, target in pairs:
        for s in sites:
            key = (config, s.name)
            rendered[key] = render_site(s, target)
            digests[key] = site_digest_with(rendered[key], f"mock:{config}")
            releases[key] = release or str(lock.release_for(target, s.names.package, s.version, digests[key]))
    return MockPlan(tuple(pairs), tuple(sites), rendered, digests, releases, lock)


def build_mock(
    project: Project,
    names: Sequence[str],
    everything: bool,
    configs: Sequence[str],
    release: str,
    chain: bool,
    progress: Progress,
    runner: Runner = run_tool,
    headers: str | None = None,
) -> list[BuildRecord]:
    """build-site --mock: SRPMs here, RPMs from mock, per config; every site reported, then failures raised.

    ``release`` empty: each site's release comes from sites.d/releases.lock, as for a local build, with
    the mock config standing for the policy headers (mock brings the target's own); built sites are
    recorded in the lock. sitepolicy-selinux-runtime, which they require, is built here for each target,
    with its release from the lock; its base module compiles against ``headers`` (--headers: the target's
    devel tree; default this host's, for the host's own target). plan_mock() alone is --dry-run.
    """
    plan = plan_mock(project, names, everything, configs, release)
    for refused in project.refused:
        progress(f"refused, skipped: {refused}")
    if runner is run_tool:
        require_tool("mock", "mock (Fedora/EL: dnf install mock; then add yourself to the mock group)")
    lock = plan.lock
    outcomes = []
    for config, target in plan.pairs:
        built = build_in_mock(
            list(plan.sites),
            target,
            config,
            project.build_dir,
            plan.release_of(config),
            chain,
            progress,
            runner,
            {s.name: plan.rendered[(config, s.name)] for s in plan.sites},
        )
        for outcome in built:
            if outcome.build and not release:
                site = outcome.site
                key = (config, site.name)
                lock = lock.with_entry(
                    target, site.names.package, site.version, int(plan.releases[key]), plan.digests[key]
                )
        outcomes += built
    error = failures_error(outcomes)
    if error is not None:
        if not release:
            lock.save()
        raise error
    runtimes: list[BuildRecord] = []
    for _, target in plan.pairs:
        runtime, lock = _runtime_record(project, target, release, lock, Path(headers) if headers else None)
        runtimes.append(runtime)
    if not release:
        lock.save()
    return [*runtimes, *(o.build.record for o in outcomes if o.build)]
