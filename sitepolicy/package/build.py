"""build-site: render -> rpmbuild -bs -> rpmbuild --rebuild -> check -> move into build/.

Everything happens in a staging directory; only a site that built completely is moved into
build/<target>/, so a failure leaves the previous outputs (and their BuildRecord) as they were.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..definition.names import RUNTIME_PACKAGE
from ..definition.site import Site
from ..errors import SitepolicyError
from ..inspect import check_scriptlets_expanded, read_package
from ..project import BuildRecord, TargetLayout
from ..render import RELEASE_PLACEHOLDER, Rendered, SiteSources, render_runtime, render_site
from ..targets import Target
from . import filecontexts
from .gate import PENDING, SKIPPED
from .headers import Headers, resolve_headers
from .rpmbuild import build_srpm, rebuild, rpm_db_has


@dataclass(frozen=True)
class PackageBuild:
    """What one rpmbuild run produced, moved into build/<target>/."""

    record: BuildRecord
    srpm: Path
    rpms: tuple[Path, ...]

    @property
    def record_dir(self) -> Path:  # sources/ as the SRPM holds them, and manifest.json
        return self.record.directory

    @property
    def outputs(self) -> tuple[Path, ...]:
        return (*self.rpms, self.srpm)


@dataclass(frozen=True)
class SiteBuild(PackageBuild):
    site: Site
    target: Target

    @property
    def sources(self) -> Path:  # rendered policy, package files and spec, as the SRPM holds them
        return self.record.sources


def render_sources(site: Site, target: Target, release: str, directory: Path) -> Path:
    """Write the site's sources and spec into ``directory``; return the spec's path."""
    return render_site(site, target).write(directory, release)


def build_site(
    site: Site,
    target: Target,
    headers: Headers,
    build_dir: Path,
    release: str = "1",
    digest: str = "",
    sources: SiteSources | None = None,
    no_verify: bool = False,
) -> SiteBuild:
    """Build one site into build/<target>/unverified/ (rpms/ with ``no_verify``: gate.py); ``sources``: its
    render, when the caller already has it (for the digest)."""
    layout = TargetLayout(build_dir, target)
    rendered = sources or render_site(site, target)

    def render(directory: Path) -> Path:
        return rendered.write(directory, release)

    def prove(rpms: list[Path]) -> None:
        filecontexts.check_packages(site, target, rpms)

    built = _build_package(site.name, render, layout, layout.site_dir(site), headers, release, digest, prove, no_verify)
    return SiteBuild(built.record, built.srpm, built.rpms, site, target)


def build_runtime(
    target: Target,
    build_dir: Path,
    release: str = "1",
    digest: str = "",
    rendered: Rendered | None = None,
    no_verify: bool = False,
    headers: Headers | None = None,
) -> PackageBuild:
    """sitepolicy-selinux-runtime for ``target``: the reconcile script and its file triggers, and the shared
    base module compiled against ``headers`` (default: this host's, for the host's target). Gated with the
    sites it serves: it reaches rpms/ with them.

    ``rendered``: the runtime rendered with RELEASE_PLACEHOLDER (for its digest), when the caller has it.
    """
    layout = TargetLayout(build_dir, target)
    template = rendered or render_runtime(target, RELEASE_PLACEHOLDER)

    def render(directory: Path) -> Path:
        Rendered({k: v.replace(RELEASE_PLACEHOLDER, release) for k, v in template.files.items()}).write(directory)
        return directory / f"{RUNTIME_PACKAGE}.spec"

    if headers is None:
        headers = resolve_headers(target, None)
    return _build_package(
        RUNTIME_PACKAGE, render, layout, layout.runtime_dir, headers, release, digest, no_verify=no_verify
    )


def _build_package(
    name: str,
    render: Callable[[Path], Path],
    layout: TargetLayout,
    record_dir: Path,
    headers: Headers | None,
    release: str,
    digest: str,
    check: Callable[[list[Path]], None] | None = None,
    no_verify: bool = False,
) -> PackageBuild:
    """Render into a staging directory, build the SRPM, rebuild it, check (``check`` too), move into place:
    unverified/ until verify passed (gate.py), or rpms/ at once with ``no_verify``."""
    layout.staging.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=layout.staging))
    try:
        sources = stage / "sources"
        spec = render(sources)
        topdir = stage / "rpmbuild"
        srpm = build_srpm(spec, sources, stage / "srpms", topdir, layout.target)
        # Debian's rpm database is empty: BuildRequires would all be "missing" there.
        nodeps = not _host_has_devel()
        headers_dir = None if headers is None or headers.is_host else headers.directory
        # BUILDINFO says whether these packages are released only after verify passed
        defines = {**policy_defines(headers), "sp_verify": SKIPPED if no_verify else "required before release"}
        rpms = rebuild(srpm, stage / "rpms", topdir, layout.target, headers_dir, nodeps, defines)
        for path in rpms:
            check_scriptlets_expanded(read_package(path))
        if check is not None:  # before anything reaches build/<target>/
            check(rpms)
        verify = SKIPPED if no_verify else PENDING
        return _publish_outputs(layout, record_dir, sources, srpm, rpms, name, release, digest, verify)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def policy_defines(headers: Headers | None) -> dict[str, str]:
    """The selinux-policy version the spec requires as a floor and records in BUILDINFO, and whence it came."""
    if headers is None or headers.policy_version is None:
        return {}
    version = headers.policy_version
    return {"sp_policy_version": version.value, "sp_policy_version_from": version.source}


@lru_cache(maxsize=1)
def _host_has_devel() -> bool:
    return rpm_db_has("selinux-policy-devel")


def _publish_outputs(
    layout: TargetLayout,
    record_dir: Path,
    sources: Path,
    srpm: Path,
    rpms: list[Path],
    name: str,
    release: str | None,
    digest: str,
    verify: str,
) -> PackageBuild:
    """Move a complete build into build/<target>/, replacing the package's previous outputs.

    A build waiting for verify (``verify`` pending) goes into unverified/{rpms,srpms}; the files of the
    package's last released build stay in rpms/ (the record's ``promoted``) until gate.release replaces them.
    """
    previous = BuildRecord.read(layout, record_dir)
    promoted = previous.promoted if previous else ()
    for old in previous.outputs if previous else ():
        if old not in promoted:
            old.unlink(missing_ok=True)
    base = layout.unverified if verify == PENDING else layout.root
    if base == layout.root:  # straight into rpms/: these replace the released files
        for old in promoted:
            old.unlink(missing_ok=True)
    (base / "rpms").mkdir(parents=True, exist_ok=True)
    (base / "srpms").mkdir(parents=True, exist_ok=True)
    final_rpms = tuple(_move(path, base / "rpms" / path.name) for path in rpms)
    final_srpm = _move(srpm, base / "srpms" / srpm.name)
    outputs = (*final_rpms, final_srpm)
    new_record = record_dir.with_name(record_dir.name + ".new")
    shutil.rmtree(new_record, ignore_errors=True)
    shutil.copytree(sources, new_record / "sources")
    record = BuildRecord(
        record_dir, name, release, digest, outputs, verify, outputs if base == layout.root else promoted
    )
    record.write(layout, new_record)
    shutil.rmtree(record_dir, ignore_errors=True)
    new_record.rename(record_dir)
    return PackageBuild(record, final_srpm, final_rpms)


def publish_site_outputs(
    site: Site, target: Target, layout: TargetLayout, sources: Path, srpm: Path, rpms: list[Path]
) -> SiteBuild:
    """Move a site's packages built elsewhere (mock) into build/<target>/. Without a digest in its
    record, the next local build-site rebuilds the site rather than taking mock's packages as its own."""
    built = _publish_outputs(layout, layout.site_dir(site), sources, srpm, rpms, site.name, None, "", PENDING)
    return SiteBuild(built.record, built.srpm, built.rpms, site, target)


def _move(src: Path, dst: Path) -> Path:
    shutil.move(str(src), str(dst))
    return dst


def build_sites(
    sites: list[Site], target: Target, headers: Headers, build_dir: Path, release: str = "1"
) -> list[SiteBuild]:
    if not sites:
        raise SitepolicyError("no site to build: add a definition to sites.d/ (invoke new-site NAME)")
    return [build_site(site, target, headers, build_dir, release) for site in sites]
