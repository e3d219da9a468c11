"""The file contexts a site's module must carry, and the proof that the compiled module carries exactly those.

The .fc is text m4 rewrites (sitepolicy/m4.py). What counts is what landed in the compiled module:
``semodule_unpackage`` reads it back out of the .pp, and the build fails unless it is, entry for
entry, the list :func:`intended` derives from the validated definition. The -selinux package ships
that compiled list as the .fc reconcile relabels from, so the paths relabelled are the paths labelled.
"""

from __future__ import annotations

import bz2
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..definition.names import fc_dir
from ..definition.site import Site
from ..errors import SitepolicyError
from ..inspect import read_package, read_payload_file
from ..render import FC_TREE_SUFFIX, fc_regex
from ..targets import Target
from ..tools import require_tool, run

UNPACKAGE_TIMEOUT = 60.0


class FileContextMismatch(SitepolicyError):
    """The compiled module labels other paths, or with other types, than the definition asks for."""


@dataclass(frozen=True, order=True)
class FileContext:
    """One file-context entry: a path regex, an optional file type (-d, --, ...) and the SELinux type."""

    regex: str
    file_type: str
    type: str

    def __str__(self) -> str:
        middle = f"\t{self.file_type}" if self.file_type else ""
        return f"{self.regex}{middle}\t{self.type}"


def _tree(path: PurePosixPath, type_name: str) -> FileContext:
    return FileContext(fc_regex(path) + FC_TREE_SUFFIX, "", type_name)


def intended(site: Site) -> list[FileContext]:
    """The entries the site's module must have, in template order, stated independently of the template."""
    t = site.names
    entries = [_tree(site.docroot, t.type("content"))]
    entries += [_tree(d, t.type("rw")) for d in site.writable_dirs]
    entries += [
        _tree(site.sessions_dir, t.type("sessions")),
        _tree(site.tmp_dir, t.type("tmp")),
        _tree(site.upload_tmp_dir, t.type("rw")),
        _tree(site.log_dir, t.type("log")),
        _tree(site.config_dir, t.type("conf")),
        _tree(site.run_dir, t.type("run")),
        _tree(PurePosixPath("/var") / site.run_dir.relative_to("/"), t.type("run")),
    ]
    return entries


def parse(text: str, where: str) -> list[FileContext]:
    """Entries of a compiled .fc (m4 output: comment and blank lines skipped); the context must be
    system_u:object_r:TYPE with an optional level."""
    entries = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) not in (2, 3):
            raise FileContextMismatch(f"{where} line {number}: not a file-context entry: {raw[:200]!r}")
        fields = parts[-1].split(":")
        if len(fields) < 3 or fields[:2] != ["system_u", "object_r"]:
            raise FileContextMismatch(f"{where} line {number}: unexpected context {parts[-1][:200]!r}")
        entries.append(FileContext(parts[0], parts[1] if len(parts) == 3 else "", fields[2]))
    return entries


def compare(site: Site, found: Sequence[FileContext], where: str) -> None:
    """Raise FileContextMismatch naming every entry missing from, or extra in, ``found``."""
    want = intended(site)
    if list(found) == want:
        return
    missing = [str(e) for e in want if e not in found]
    extra = [str(e) for e in found if e not in want]
    lines = [f"{site.name}: the file contexts in {where} are not the ones the definition asks for"]
    lines += [f"  missing: {e}" for e in missing[:20]]
    lines += [f"  unexpected: {e}" for e in extra[:20]]
    if not missing and not extra:
        lines.append("  (same entries, other order or repeated)")
    lines.append(f"  definition: {site.source}")
    raise FileContextMismatch("\n".join(lines))


def compiled_text(pp: bytes) -> str:
    """The .fc text inside a compiled module (.pp, or .pp.bz2 bytes), read back with semodule_unpackage."""
    require_tool("semodule_unpackage", "semodule-utils (Debian) or policycoreutils (Fedora/EL)")
    if pp[:3] == b"BZh":
        pp = bz2.decompress(pp)
    with tempfile.TemporaryDirectory(prefix="sitepolicy-fc-") as work:
        plain, mod, fc = Path(work) / "m.pp", Path(work) / "m.mod", Path(work) / "m.fc"
        plain.write_bytes(pp)
        run(["semodule_unpackage", plain, mod, fc], timeout=UNPACKAGE_TIMEOUT, hint="reading the compiled module")
        return fc.read_text() if fc.exists() else ""


def check_module(site: Site, pp: bytes, shipped_fc: str | None = None) -> None:
    """The proof: the module's file contexts (a compiled .pp's, or a CIL module's filecons), and the .fc
    shipped for reconcile, are the intended ones."""
    from ..verify.modules import cil_file_contexts

    module = site.names.module
    plain = bz2.decompress(pp) if pp[:3] == b"BZh" else pp
    if plain.lstrip()[:1] in (b"(", b";"):  # CIL (issue 11's shape): its filecon statements
        text = cil_file_contexts(plain.decode("utf-8", "replace"))
        compare(site, parse(text, f"{module}.cil"), f"the CIL module {module}.cil")
    else:
        compare(site, parse(compiled_text(pp), f"{module}.pp"), f"the compiled module {module}.pp")
    if shipped_fc is not None:
        compare(site, parse(shipped_fc, f"{module}.fc"), f"the {module}.fc shipped for reconcile")


def check_packages(site: Site, target: Target, rpms: Sequence[Path]) -> None:
    """The build step: read the module and the reconcile .fc out of the built -selinux package and prove them."""
    module = site.names.module
    selinux = [p for p in rpms if read_package(p).name == site.names.selinux_package]
    if len(selinux) != 1:
        raise FileContextMismatch(f"{site.name}: expected one {site.names.selinux_package} package, got {len(selinux)}")
    pp = read_payload_file(selinux[0], site.names.module_file(target.store))
    shipped = read_payload_file(selinux[0], f"{fc_dir(target.store)}/{module}.fc").decode("utf-8", "replace")
    check_module(site, pp, shipped)
