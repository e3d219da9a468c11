"""The compiled module of each site, from its built -selinux RPM or from a directory of modules."""

from __future__ import annotations

import bz2
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..definition.site import Site
from ..errors import SitepolicyError
from ..inspect import read_package, read_payload_file
from ..project import TargetLayout
from ..tools import require_tool, run


@dataclass(frozen=True)
class SiteModule:
    """One site and its policy module: compiled (``.pp`` or ``.pp.bz2``), or CIL (``.cil``, issue 11's
    shape, linked together with the base module)."""

    site: Site
    path: Path

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()

    @property
    def is_cil(self) -> bool:
        return self.path.name.endswith((".cil", ".cil.bz2"))

    def plain_bytes(self) -> bytes:
        data = self.path.read_bytes()
        return bz2.decompress(data) if self.path.suffix == ".bz2" else data


def cil_file_contexts(cil: str) -> str:
    """The filecon statements of a CIL module as .fc lines (``regex<TAB>user:role:type:s0``), as semodule
    writes them into file_contexts. Only the form site.cil.j2 writes (file type ``any``, level s0)."""
    found = list(_FILECON.finditer(cil))
    if len(found) != cil.count("(filecon"):
        raise SitepolicyError("a CIL module holds a filecon statement in a form sitepolicy does not write")
    lines = []
    for match in found:
        regex, user, role, type_name = match.groups()
        lines.append(f"{regex}\t{user}:{role}:{type_name}:s0")
    return "\n".join(lines) + ("\n" if lines else "")


_FILECON = re.compile(r'^\(filecon "([^"\n]*)" any \((\S+) (\S+) (\S+) \(\(s0\) \(s0\)\)\)\)$', re.MULTILINE)


def selinux_rpm(layout: TargetLayout, site: Site) -> Path | None:
    """The site's built -selinux RPM, as its build record lists it, if the site was built."""
    record = layout.record(site)
    if record is None:
        return None
    for path in record.rpms:
        if path.name.startswith(site.names.selinux_package + "-") and path.is_file():
            if read_package(path).name == site.names.selinux_package:
                return path
    return None


def modules_from_rpms(layout: TargetLayout, sites: Sequence[Site], workdir: Path) -> list[SiteModule]:
    """Extract each site's ``.pp.bz2`` from its -selinux RPM into ``workdir``: what a host installs."""
    workdir.mkdir(parents=True, exist_ok=True)
    modules = []
    for site in sites:
        rpm = selinux_rpm(layout, site)
        if rpm is None:
            raise SitepolicyError(f"{site.name}: no {site.names.selinux_package} RPM in {layout.rpms}; build it first")
        member = site.names.module_file(layout.target.store)
        out = workdir / PurePosixPath(member).name
        out.write_bytes(read_payload_file(rpm, member))
        modules.append(SiteModule(site, out))
    return modules


def modules_from_dir(directory: Path, sites: Sequence[Site]) -> list[SiteModule]:
    """``<module>.pp`` or ``<module>.pp.bz2`` for each site, found anywhere below ``directory``."""
    modules = []
    for site in sites:
        name = site.names.module
        found = sorted(directory.rglob(f"{name}.pp")) + sorted(directory.rglob(f"{name}.pp.bz2"))
        if not found:
            raise SitepolicyError(f"{site.name}: no {name}.pp or {name}.pp.bz2 below {directory}")
        modules.append(SiteModule(site, found[0]))
    return modules


def module_file_contexts(module: SiteModule, workdir: Path) -> str:
    """The file contexts compiled into the module itself (semodule_unpackage), as the .fc text; a CIL
    module's are its filecon statements."""
    if module.is_cil:
        return cil_file_contexts(module.plain_bytes().decode())
    require_tool("semodule_unpackage", "semodule-utils (Debian) or policycoreutils (Fedora/EL)")
    workdir.mkdir(parents=True, exist_ok=True)
    stem = workdir / module.site.names.module
    plain, mod, fc = stem.with_suffix(".pp"), stem.with_suffix(".mod"), stem.with_suffix(".fc")
    plain.write_bytes(module.plain_bytes())
    run(["semodule_unpackage", plain, mod, fc])
    return fc.read_text() if fc.exists() else ""


# policycoreutils' converter from a .pp to CIL (what semodule itself runs), on Debian and Fedora alike.
PP_TO_CIL = Path("/usr/libexec/selinux/hll/pp")


def declared_types(cil: str) -> set[str]:
    """Types a module's CIL declares (not those it only requires)."""
    return {line[len("(type ") : -1] for line in cil.splitlines() if line.startswith("(type ") and line.endswith(")")}


def module_types(module: SiteModule, workdir: Path, store_modules: Path | None = None) -> tuple[str, ...]:
    """Every type the module declares (not those it only requires), from its CIL.

    semodule keeps each installed module's CIL in the store (``<store>/active/modules/<priority>/<name>/cil``,
    bzip2 by default): read it there when given, instead of converting the .pp again.
    """
    stored = store_modules / module.site.names.module / "cil" if store_modules is not None else None
    if stored is not None and stored.is_file():
        data = stored.read_bytes()
        text = (bz2.decompress(data) if data[:3] == b"BZh" else data).decode()
        return tuple(sorted(declared_types(text)))
    workdir.mkdir(parents=True, exist_ok=True)
    plain = workdir / f"{module.site.names.module}.pp"
    plain.write_bytes(module.plain_bytes())
    return tuple(sorted(declared_types(run([PP_TO_CIL, plain], hint="is policycoreutils installed?"))))


def base_from_runtime(layout: TargetLayout, workdir: Path) -> Path | None:
    """The shared base module (issue 11) from the target's built sitepolicy-selinux-runtime, extracted into
    ``workdir``: the sites' CIL modules link only with it. None when no runtime is built."""
    from ..definition.names import RUNTIME_PACKAGE, module_dir
    from ..shape.names import BASE_MODULE

    record = layout.record(None)
    if record is None:
        return None
    for path in record.rpms:
        if path.is_file() and read_package(path).name == RUNTIME_PACKAGE:
            member = f"{module_dir(layout.target.store)}/{BASE_MODULE}.cil.bz2"
            workdir.mkdir(parents=True, exist_ok=True)
            out = workdir / PurePosixPath(member).name
            out.write_bytes(read_payload_file(path, member))
            return out
    return None
