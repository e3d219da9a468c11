"""Issue 11: where one semodule call goes on a host holding N sites in the new shape (base + one CIL module
per site). Links the base and N generated sites once into a private root, then times adding one site and
removing it again under several libsemanage settings (semanage.conf in the private root, which semodule -p
reads), and records one perf profile of the add with the default settings.

    flock /work/wt/notes/heavy.lock .venv/bin/python benchmarks/shape_profile.py [N] [--perf OUT] [--libsepol DIR]

Prints the machine, each setting's add and remove times, how often the store's modules name (through the
`cil_gen_require` attribute of the pp converter) each attribute that holds the sites' types, and (with --perf)
perf's top symbols. The OS's libsepol is stripped: --libsepol DIR runs the profiled semodule on a libsepol.so.2
built with symbols (the same release from upstream: `make CFLAGS="-O2 -g -fno-omit-frame-pointer"` in libsepol/).
"""

from __future__ import annotations

import bz2
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import describe, describe_load
from verify_scale import generated_site

from sitepolicy.package.headers import resolve_headers
from sitepolicy.render import render_site_cil
from sitepolicy.shape.base import compile_base, read_cil
from sitepolicy.targets import host_target
from sitepolicy.verify.policyroot import link_policy

# name -> lines added to semanage.conf (the host's: module-store = direct, expand-check=0)
SETTINGS: dict[str, list[str]] = {
    "default (host's semanage.conf)": [],
    "disable-genhomedircon=true": ["disable-genhomedircon=true"],
    "optimize-policy=true": ["optimize-policy=true"],
    "save-linked=false, save-previous=false": ["save-linked=false", "save-previous=false"],
    # the store's module files uncompressed (those written so far are decompressed in place first)
    "bzip-blocksize=0": ["bzip-blocksize=0"],
    "all of: genhomedircon off, no saves, no bzip": [
        "disable-genhomedircon=true",
        "save-linked=false",
        "save-previous=false",
        "bzip-blocksize=0",
    ],
}


def decompress_store(root: Path, store: str) -> None:
    """Every bzip2-compressed file of the store's modules, uncompressed in place (libsemanage reads both)."""
    for path in (root / "var/lib/selinux" / store / "active/modules").rglob("*"):
        if path.is_file() and path.read_bytes()[:3] == b"BZh":
            path.write_bytes(bz2.decompress(path.read_bytes()))


PERF_REPORT = [
    "perf",
    "report",
    "--no-children",
    "-g",
    "none",
    "--percent-limit",
    "0.7",
    "--sort",
    "dso,sym",
    "--stdio",
    "-i",
]


def semodule(root: Path, store: str, *args: str, perf: Path | None = None, libsepol: Path | None = None) -> float:
    command = ["semodule", "-p", str(root), "-s", store, "-n", "-X", "200", *args]
    if perf is not None:
        command = ["perf", "record", "-F", "499", "-g", "-o", str(perf), "--", *command]
    env = dict(os.environ, LD_LIBRARY_PATH=str(libsepol)) if libsepol is not None else None
    start = time.monotonic()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.monotonic() - start


# The attributes the base puts sitepolicy's own into (base.te.j2, as the target's interfaces do).
HOLDERS = ("file_type", "non_security_file_type", "non_auth_file_type", "exec_type", "entry_type", "domain", "pidfile")


def required_holders(root: Path, store: str) -> dict[str, int]:
    """How many `(typeattributeset cil_gen_require <attribute>)` the store's modules hold per attribute that
    holds site types. libsepol's CIL verification (__verify_no_self_reference_in_expr) walks the whole
    expression tree of every attribute declaration, with no memory of what it walked: cil_gen_require's tree
    holds each of these that many times, so every rebuild walks each site type about that many times."""
    counts: collections.Counter[str] = collections.Counter()
    pattern = re.compile(r"\(typeattributeset cil_gen_require (\S+)\)")
    for cil in (root / "var/lib/selinux" / store / "active/modules").glob("*/*/cil"):
        counts.update(name for name in pattern.findall(read_cil(cil)) if name in HOLDERS)
    return {name: counts[name] for name in HOLDERS}


def main() -> None:
    args = sys.argv[1:]
    perf_out = libsepol = None
    if "--perf" in args:
        perf_out = Path(args[args.index("--perf") + 1])
        del args[args.index("--perf") : args.index("--perf") + 2]
    if "--libsepol" in args:
        libsepol = Path(args[args.index("--libsepol") + 1])
        del args[args.index("--libsepol") : args.index("--libsepol") + 2]
    count = int(args[0]) if args else 2000
    target = host_target()
    headers = resolve_headers(target, None)
    print(describe())
    print(f"store   : {target.store}; sites: {count}\n", flush=True)
    with tempfile.TemporaryDirectory(prefix="shape-profile-") as tmp:
        work = Path(tmp)
        base = compile_base(target, headers.directory, work / "base")
        for i in range(count + 1):
            render_site_cil(generated_site(i)).write(work / "cil")
        cil = [work / "cil" / f"{generated_site(i).names.module}.cil" for i in range(count + 1)]
        root = work / "root"
        linked = link_policy(root, target.store, [base, *cil[:count]])
        print(f"link base + {count} sites (one call): {linked.seconds:.1f} s", flush=True)
        holders = required_holders(root, target.store)
        print(f"cil_gen_require names, per attribute holding site types: {holders} ({sum(holders.values())})")
        conf = root / "etc/selinux/semanage.conf"
        original = conf.read_text()
        added = generated_site(count).names.module
        if perf_out is not None:
            seconds = semodule(root, target.store, "-i", str(cil[count]), perf=perf_out, libsepol=libsepol)
            print(f"\nperf record of one add: {seconds:.1f} s (perf's overhead included)", flush=True)
            report = subprocess.run(
                [*PERF_REPORT, str(perf_out)],
                capture_output=True,
                text=True,
            ).stdout
            print("\n".join(line for line in report.splitlines() if line.strip() and not line.startswith("#"))[:6000])
            by_dso = subprocess.run(
                [*PERF_REPORT[:-3], "dso", "--stdio", "-i", str(perf_out)], capture_output=True, text=True
            )
            print("\n".join(line for line in by_dso.stdout.splitlines() if line.strip() and not line.startswith("#")))
            semodule(root, target.store, "-r", added)
            print(flush=True)
        print("| semanage.conf | add one site | remove it |")
        print("|---|---|---|")
        for name, lines in SETTINGS.items():
            conf.write_text(original + "".join(f"{line}\n" for line in lines))
            if "bzip-blocksize=0" in lines:
                decompress_store(root, target.store)
            add = semodule(root, target.store, "-i", str(cil[count]))
            remove = semodule(root, target.store, "-r", added)
            print(f"| {name} | {add:.1f} s | {remove:.1f} s |", flush=True)
        shutil.rmtree(root)
    print(f"\n{describe_load()}")


if __name__ == "__main__":
    main()
