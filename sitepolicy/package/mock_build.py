"""Builders other than the local rpmbuild: SRPMs made here, binary RPMs made by mock in the target's root.

build-site --mock CONFIG: render and `rpmbuild -bs` locally (no policy headers needed: the SRPM is
self-contained), then one `mock --rebuild` per SRPM (or one `mock --chain` for all), each site's
packages checked and moved into build/<target>/ like a local build's. Progress goes through a
callback, one line per site, then a summary table.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..definition.names import target_provide
from ..definition.site import Site
from ..errors import SitepolicyError
from ..inspect import check_scriptlets_expanded, read_package
from ..project import TargetLayout
from ..render import SiteSources, render_site
from ..targets import Target
from ..tools import call, require_tool
from . import filecontexts
from .build import SiteBuild, publish_site_outputs
from .mock import (
    ChainStatus,
    MockError,
    MockResult,
    chain_command,
    collect,
    collect_chain,
    explain,
    rebuild_command,
)
from .rpmbuild import build_srpm

# A mock build of one site (root from cache) takes minutes; a chain of hundreds takes longer.
BUILDER_TIMEOUT = 4 * 3600.0

Runner = Callable[[list[str]], "subprocess.CompletedProcess[str]"]
Progress = Callable[[str], None]


def run_tool(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Run a builder (mock, copr-cli, koji) and keep its output; its exit code is interpreted by the caller."""
    require_tool(argv[0], {"mock": "mock (Fedora/EL: dnf install mock)"}.get(argv[0], argv[0]))
    return call(
        argv, timeout=BUILDER_TIMEOUT, hint=f"{argv[0]} hung or took too long; its logs are in its result directory"
    )


@dataclass(frozen=True)
class SourcePackage:
    site: Site
    target: Target
    sources: Path  # the rendered sources, as the SRPM holds them
    srpm: Path


def build_source_package(
    site: Site, target: Target, stage: Path, release: str, rendered: SiteSources | None = None
) -> SourcePackage:
    """Render (unless ``rendered`` is given) and `rpmbuild -bs`: what mock, Copr and Koji take."""
    sources = stage / site.name / "sources"
    spec = (rendered or render_site(site, target)).write(sources, release)
    srpm = build_srpm(spec, sources, stage / site.name / "srpms", stage / site.name / "rpmbuild", target)
    return SourcePackage(site, target, sources, srpm)


def staging(build_dir: Path, what: str) -> Path:
    (build_dir / ".staging").mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{what}-", dir=build_dir / ".staging"))


@dataclass(frozen=True)
class SiteOutcome:
    site: Site
    config: str
    resultdir: Path
    build: SiteBuild | None  # None when mock failed
    error: str | None

    @property
    def ok(self) -> bool:
        return self.build is not None


def _accept(source: SourcePackage, result: MockResult, layout: TargetLayout, stage: Path) -> SiteBuild:
    """Check mock's packages like a local build's, then move copies into build/<target>/ (mock's dir stays whole)."""
    copies = stage / source.site.name / "mock-rpms"
    copies.mkdir(parents=True, exist_ok=True)
    rpms = [Path(shutil.copy2(p, copies / p.name)) for p in result.rpms]
    expected = {source.site.names.selinux_package, source.site.names.php_fpm_package}
    infos = [read_package(p) for p in rpms]
    if {i.name for i in infos} != expected:
        raise MockError(
            f"mock built {sorted(i.name for i in infos)} in {result.resultdir}, expected {sorted(expected)}"
        )
    for info in infos:
        check_scriptlets_expanded(info)
        provide = target_provide(source.target.name)
        if provide not in info.provides:
            raise MockError(f"{info.path.name} from mock does not provide {provide}")
    filecontexts.check_packages(source.site, source.target, rpms)
    srpm_copy = Path(shutil.copy2(source.srpm, copies / source.srpm.name))
    return publish_site_outputs(source.site, source.target, layout, source.sources, srpm_copy, rpms)


def summary_table(outcomes: Sequence[SiteOutcome]) -> str:
    rows = [("site", "mock config", "result", "packages", "result dir")]
    for o in outcomes:
        status = "ok" if o.ok else "FAILED: " + (o.error or "").splitlines()[0].removeprefix("mock failed with ")
        rows.append((o.site.name, o.config, status, str(len(o.build.rpms) if o.build else 0), str(o.resultdir)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def build_in_mock(
    sites: Sequence[Site],
    target: Target,
    config: str,
    build_dir: Path,
    release: str | Callable[[Site], str] = "1",
    chain: bool = False,
    progress: Progress = print,
    runner: Runner = run_tool,
    rendered: dict[str, SiteSources] | None = None,
) -> list[SiteOutcome]:
    """SRPMs locally, binary RPMs in mock; every site gets an outcome, failures included.

    ``release`` is one release for every site, or a function giving each site its own; ``rendered``
    the sites' renders by name, when the caller already has them (for their digests).
    """
    if not sites:
        raise SitepolicyError("no site to build: add a definition to sites.d/ (invoke new-site NAME)")
    layout = TargetLayout(build_dir, target)
    mock_root = layout.root / "mock"
    stage = staging(build_dir, f"mock-{target.name}")
    try:
        release_of = release if callable(release) else (lambda _site: release)
        renders = rendered or {}
        sources = [
            build_source_package(site, target, stage, release_of(site), renders.get(site.name)) for site in sites
        ]
        if chain:
            outcomes = _chain(sources, config, mock_root / "chain", layout, stage, progress, runner)
        else:
            outcomes = []
            for index, source in enumerate(sources, 1):
                resultdir = mock_root / source.site.name
                argv = rebuild_command(config, source.srpm, resultdir)
                progress(f"[{index}/{len(sources)}] {source.site.name}: {' '.join(argv)}")
                outcomes.append(_one(source, config, argv, resultdir, layout, stage, runner))
                progress(f"[{index}/{len(sources)}] {source.site.name}: {'ok' if outcomes[-1].ok else 'FAILED'}")
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    progress(summary_table(outcomes))
    return outcomes


def _one(
    source: SourcePackage,
    config: str,
    argv: list[str],
    resultdir: Path,
    layout: TargetLayout,
    stage: Path,
    runner: Runner,
) -> SiteOutcome:
    if resultdir.exists():
        shutil.rmtree(resultdir)  # last run's logs would be mistaken for this run's
    resultdir.parent.mkdir(parents=True, exist_ok=True)
    proc = runner(argv)
    try:
        if proc.returncode != 0:
            raise explain(proc.returncode, resultdir, proc.stdout or "")
        return SiteOutcome(source.site, config, resultdir, _accept(source, collect(resultdir), layout, stage), None)
    except SitepolicyError as exc:
        return SiteOutcome(source.site, config, resultdir, None, str(exc))


def _chain(
    sources: list[SourcePackage],
    config: str,
    localrepo: Path,
    layout: TargetLayout,
    stage: Path,
    progress: Progress,
    runner: Runner,
) -> list[SiteOutcome]:
    if localrepo.exists():
        shutil.rmtree(localrepo)  # a stale `success` marker would make mock skip the package
    localrepo.parent.mkdir(parents=True, exist_ok=True)
    argv = chain_command(config, [s.srpm for s in sources], localrepo)
    progress(f"[chain] {len(sources)} sites: {' '.join(argv)}")
    proc = runner(argv)
    if proc.returncode not in (0, 4):  # 4: only some packages built; each one's marker says which
        error = str(explain(proc.returncode, localrepo, proc.stdout or ""))
        return [SiteOutcome(s.site, config, localrepo, None, error) for s in sources]
    outcomes = []
    by_srpm = {s.srpm: s for s in sources}
    for entry in collect_chain(localrepo, config, [s.srpm for s in sources]):
        source = by_srpm[entry.srpm]
        if entry.status is ChainStatus.BUILT and entry.result is not None:
            try:
                build = _accept(source, entry.result, layout, stage)
                outcomes.append(SiteOutcome(source.site, config, entry.resultdir, build, None))
            except SitepolicyError as exc:
                outcomes.append(SiteOutcome(source.site, config, entry.resultdir, None, str(exc)))
        else:
            error = f"mock failed with --chain: {entry.status.value}\n{entry.error or ''}".rstrip()
            outcomes.append(SiteOutcome(source.site, config, entry.resultdir, None, error))
        progress(f"[chain] {source.site.name}: {'ok' if outcomes[-1].ok else 'FAILED'}")
    return outcomes


def failures_error(outcomes: Sequence[SiteOutcome]) -> MockError | None:
    failed = [o for o in outcomes if not o.ok]
    if not failed:
        return None
    parts = [f"{o.site.name} ({o.config}): {o.error}" for o in failed]
    return MockError(f"{len(failed)} of {len(outcomes)} mock builds failed:\n" + "\n\n".join(parts))
