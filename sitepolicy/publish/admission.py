"""What a package in a sitepolicy repository is, and which packages may go in.

Read from the RPM header (the OS rpm bindings) and, for a candidate, from the build metadata sitepolicy
records in it: `Provides: sitepolicy-target(<target>)`, `Provides: sitepolicy-site(<site>) = <identity>`
(see fingerprint.py), the BUILDINFO in a -selinux package's docs, the `%global sp_*` lines of an SRPM's spec.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..definition.names import (
    LEGACY_MODULE_SUFFIX,
    MODULE_SUFFIX,
    PACKAGE_PREFIX,
    RUNTIME_PACKAGE,
    SELINUX_SUFFIX,
    SITE_PROVIDE,
    TARGET_PROVIDE,
    SiteNames,
)
from ..errors import SitepolicyError
from ..inspect import compare_evr, read_payload_file
from ..inspect import header as read_header

PREFIX = PACKAGE_PREFIX
SPEC_GLOBAL = re.compile(r"^%global (sp_[a-z_]+) (\S+)$", re.MULTILINE)
# rpm's %{RSAHEADER:pgpsig}: "RSA/SHA512, Thu Nov 26 02:36:26 2026, Key ID 2972cc2fb11c8278"
KEY_ID_IN_SIGNATURE = re.compile(r"Key ID ([0-9a-f]{16})")


# --------------------------------------------------------------------------- package headers


@dataclass(frozen=True)
class Package:
    """What publish needs to know about one RPM, read from its header."""

    path: Path
    name: str
    epoch: int
    version: str
    release: str
    arch: str
    is_source: bool
    header_sha256: str  # digest of the main header: identical for a package before and after signing
    signer: str | None  # long key id of the header signature
    site: str | None  # from sitepolicy's recorded build metadata; None when there is none
    identity: str | None
    target: str | None
    module: str | None = None
    problems: tuple[str, ...] = ()  # why this does not look like a package sitepolicy built

    @property
    def evr(self) -> tuple[str, str, str]:
        return (str(self.epoch), self.version, self.release)

    @property
    def nevra(self) -> str:
        epoch = f"{self.epoch}:" if self.epoch else ""
        return f"{self.name}-{epoch}{self.version}-{self.release}.{'src' if self.is_source else self.arch}"


def _buildinfo(path: Path, name: str, version: str) -> dict[str, str]:
    try:
        text = read_payload_file(path, f"/usr/share/doc/{name}-{version}/BUILDINFO").decode("utf-8", "replace")
    except (SitepolicyError, OSError, ValueError):
        return {}
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def _spec_globals(path: Path, name: str) -> dict[str, str]:
    try:
        text = read_payload_file(path, f"{name}.spec").decode("utf-8", "replace")
    except (SitepolicyError, OSError, ValueError):
        return {}
    return dict(SPEC_GLOBAL.findall(text))


def read_package(path: Path, deep: bool = True) -> Package:
    """Header facts, and (``deep``) the build metadata sitepolicy records, checked for consistency."""
    header = read_header(path)
    name = header.format("%{NAME}")
    version = header.format("%{VERSION}")
    signature = header.format("%{RSAHEADER:pgpsig}")
    match = KEY_ID_IN_SIGNATURE.search(signature)
    is_source = bool(header.isSource())
    provides = dict(
        zip(
            header.format("[%{PROVIDENAME}\n]").splitlines(),
            header.format("[%{PROVIDEVERSION}\n]").splitlines(),
        )
    )
    target = next((m.group(1) for p in provides if (m := TARGET_PROVIDE.match(p))), None)
    site_provides = [(m.group(1), v) for p, v in provides.items() if (m := SITE_PROVIDE.match(p))]
    site, identity = site_provides[0] if len(site_provides) == 1 else (None, None)
    module = None
    problems: list[str] = []
    if not name.startswith(PREFIX):
        problems.append(f"its name does not start with {PREFIX!r}")
    if name == RUNTIME_PACKAGE:
        # The shared runtime of a target's sites (runtime.py): it belongs to no site, only to its target.
        if is_source and deep:
            target = _spec_globals(path, name).get("sp_target")
        if target is None:
            problems.append("it has no sitepolicy-target(...) build metadata")
    elif deep and is_source:
        spec = _spec_globals(path, name)
        site, identity, target = spec.get("sp_site"), spec.get("sp_identity"), spec.get("sp_target")
        if not (site and identity and target):
            problems.append("its spec carries no sitepolicy build metadata (sp_site, sp_identity, sp_target)")
    elif not is_source:
        if target is None or site is None or not identity:
            problems.append("it has no sitepolicy-target(...) and sitepolicy-site(...) = ... Provides")
        if deep and name.endswith(SELINUX_SUFFIX):
            info = _buildinfo(path, name, version)
            expected = {"site": site, "target": target, "identity": identity}
            if not info.get("tool", "").startswith("sitepolicy "):
                problems.append("its BUILDINFO (in the package docs) is missing or was not written by sitepolicy")
            else:
                for key, value in expected.items():
                    if info.get(key) != value:
                        problems.append(f"its BUILDINFO says {key}={info.get(key)!r} but its Provides say {value!r}")
                module = info.get("module")
    if site is not None and not is_source and name not in _packages_of(site):
        problems.append(f"its name does not belong to the site {site!r} it says it was built for")
    if not deep and not is_source and name.endswith(SELINUX_SUFFIX):
        basenames = header.format("[%{BASENAMES}\n]").splitlines()
        suffixes = (MODULE_SUFFIX, LEGACY_MODULE_SUFFIX)  # a package from before issue 11 ships a .pp.bz2
        module = next((f.rsplit(".", 2)[0] for f in basenames if f.endswith(suffixes)), None)
    return Package(
        path=path,
        name=name,
        epoch=int(header.format("%{EPOCHNUM}")),
        version=version,
        release=header.format("%{RELEASE}"),
        arch=header.format("%{ARCH}"),
        is_source=is_source,
        header_sha256=header.format("%{SHA256HEADER}"),
        signer=match.group(1) if match else None,
        site=site,
        identity=identity,
        target=target,
        module=module,
        problems=tuple(problems),
    )


def _packages_of(site: str) -> tuple[str, str]:
    names = SiteNames(site)
    return (names.selinux_package, names.php_fpm_package)


# --------------------------------------------------------------------------- the checks


@dataclass(frozen=True)
class Plan:
    add: tuple[Package, ...]
    replace: tuple[Package, ...]  # already published NEVRAs that --force replaces
    unchanged: tuple[Package, ...]  # already published, identical: nothing to do
    reasons: tuple[str, ...] = field(default=())


def plan_publish(
    candidates: list[Package], existing: list[Package], target: str, signed_by: str | None, force: bool
) -> Plan:
    """Decide what goes in; every reason to refuse is collected, so the user sees them all at once."""
    reasons: list[str] = []
    add: list[Package] = []
    replace: list[Package] = []
    unchanged: list[Package] = []
    by_name: dict[str, list[Package]] = {}
    for pkg in existing:
        by_name.setdefault(pkg.name, []).append(pkg)
    sites = {p.site: p for p in existing if p.site and p.identity}
    modules = {p.module: p for p in existing if p.module}
    seen: dict[str, Package] = {}
    for pkg in candidates:
        where = pkg.path.name
        if pkg.problems:
            reasons.append(f"{where}: not built by sitepolicy: {'; '.join(pkg.problems)}")
            continue
        if pkg.target != target:
            reasons.append(f"{where}: built for target {pkg.target!r}, but this repository is for {target!r}")
        if signed_by is not None and pkg.signer != signed_by[-16:].lower():
            state = "unsigned" if pkg.signer is None else f"signed by key {pkg.signer}"
            reasons.append(f"{where}: {state}, but this repository is signed by {signed_by}: publish with --sign")
        holder = sites.get(pkg.site or "")
        if holder is not None and holder.identity != pkg.identity:
            reasons.append(
                f"{where}: the repository already holds {holder.name} for a different definition of "
                f"{pkg.site} (identity {holder.identity}, this one {pkg.identity}: docroot or pool account "
                "differ): another site claims the same package and module names"
            )
        module_holder = modules.get(pkg.module or "")
        if module_holder is not None and module_holder.site != pkg.site:
            reasons.append(f"{where}: module {pkg.module} is already shipped by {module_holder.name}")
        if pkg.nevra in seen:
            reasons.append(f"{where}: {pkg.nevra} is given twice ({seen[pkg.nevra].path})")
            continue
        seen[pkg.nevra] = pkg
        same_kind = [p for p in by_name.get(pkg.name, []) if p.is_source == pkg.is_source]
        twin = next((p for p in same_kind if p.nevra == pkg.nevra), None)
        newest = max(same_kind, key=_EvrKey, default=None)
        if twin is not None:
            if twin.header_sha256 == pkg.header_sha256:
                unchanged.append(pkg)
            elif force:
                replace.append(pkg)
            else:
                reasons.append(
                    f"{where}: {pkg.nevra} is already published with different content; "
                    "build it with a higher --release (or --force to replace it)"
                )
            continue
        if newest is not None and compare_evr(pkg.evr, newest.evr) < 0 and not force:
            reasons.append(
                f"{where}: version {pkg.version}-{pkg.release} is older than {newest.version}-{newest.release}, "
                "which the repository holds (--force to publish it anyway)"
            )
            continue
        add.append(pkg)
    return Plan(tuple(add), tuple(replace), tuple(unchanged), tuple(reasons))


# Orders packages by rpm's own version comparison.
def _compare(a: Package, b: Package) -> int:
    return compare_evr(a.evr, b.evr)


_EvrKey = functools.cmp_to_key(_compare)


def to_prune(packages: list[Package], keep: int) -> list[Package]:
    """All but the ``keep`` newest versions of each package (binary and source counted apart)."""
    groups: dict[tuple[str, bool], list[Package]] = {}
    for pkg in packages:
        groups.setdefault((pkg.name, pkg.is_source), []).append(pkg)
    pruned: list[Package] = []
    for group in groups.values():
        group.sort(key=_EvrKey, reverse=True)
        pruned += group[keep:]
    return pruned
