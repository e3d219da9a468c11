"""Compile and read policy modules in tests (the product compiles in the spec's %build, not here)."""

from __future__ import annotations

import bz2
import tempfile
from pathlib import Path

from sitepolicy.package.headers import Headers
from sitepolicy.tools import require_tool, run

PP_TO_CIL = Path("/usr/libexec/selinux/hll/pp")  # policycoreutils' converter, on Debian and Fedora alike


def module_cil(pp: Path) -> str:
    """A compiled module (.pp or .pp.bz2) as CIL text, via the converter semodule itself uses."""
    data = pp.read_bytes()
    if pp.suffix == ".bz2":
        data = bz2.decompress(data)
    # The converter reads a plain file; decompress into a directory of our own, never beside the input.
    with tempfile.TemporaryDirectory(prefix="sitepolicy-pp-") as work:
        plain = Path(work) / "module.pp"
        plain.write_bytes(data)
        return run([PP_TO_CIL, plain], hint="is policycoreutils installed?")


def declared_types(cil: str) -> set[str]:
    """Types a module declares (not those it only requires)."""
    return {line[len("(type ") : -1] for line in cil.splitlines() if line.startswith("(type ") and line.endswith(")")}


def compile_module(sources_dir: Path, headers: Headers, module: str) -> Path:
    """Compile ``sources_dir/<module>.te`` (+ .fc, .if) with the devel Makefile, as the spec's %build does.

    The Makefile reads every .if in the directory, so each module needs a directory of its own.
    """
    require_tool("make", "make")
    run(
        ["make", "-f", headers.directory / "Makefile", f"HEADERDIR={headers.directory / 'include'}", f"{module}.pp"],
        cwd=sources_dir,
        hint=f"compiling the policy module {module} against {headers.directory}",
        timeout=120,  # well under a second; an m4 loop (a macro name in a definition) is killed
    )
    return sources_dir / f"{module}.pp"
