"""Compile the base module for one target: render base.te, compile it with the target's devel Makefile
(its interfaces), convert the .pp to CIL and turn its placeholders into attributes and permission sets."""

from __future__ import annotations

import bz2
from pathlib import Path

from ..render import render_base
from ..targets import Target
from ..tools import require_tool, run
from .basecil import base_cil
from .names import BASE_MODULE, base_names

PP_TO_CIL = Path("/usr/libexec/selinux/hll/pp")  # policycoreutils' converter, on Debian and Fedora alike


def compile_base(target: Target, devel: Path, workdir: Path) -> Path:
    """``workdir/sitepolicy_base.cil`` compiled against the devel tree ``devel`` (its Makefile and include/)."""
    require_tool("make", "make")
    workdir.mkdir(parents=True, exist_ok=True)
    render_base(target).write(workdir)
    checkmodule = [f"CHECKMODULE=checkmodule -M -c {target.module_format}"] if target.module_format else []
    run(
        ["make", "-f", devel / "Makefile", f"HEADERDIR={devel / 'include'}", *checkmodule, f"{BASE_MODULE}.pp"],
        cwd=workdir,
        hint=f"compiling the base module against {devel}",
        timeout=120,
    )
    pp = workdir / f"{BASE_MODULE}.pp"
    compiled = run([PP_TO_CIL, pp], hint="is policycoreutils installed?")
    out = workdir / f"{BASE_MODULE}.cil"
    out.write_text(base_cil(compiled, base_names()))
    return out


def read_cil(path: Path) -> str:
    data = path.read_bytes()
    return (bz2.decompress(data) if data[:3] == b"BZh" else data).decode()
