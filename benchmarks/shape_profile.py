"""Issue 11: where one semodule call goes on a host holding N sites in the new shape (base + one CIL module
per site). Links the base and N generated sites once into a private root, then times adding one site and
removing it again under several libsemanage settings (semanage.conf in the private root, which semodule -p
reads), and records one perf profile of the add with the default settings.

    flock /work/wt/notes/heavy.lock .venv/bin/python benchmarks/shape_profile.py [N] [--perf OUT]

Prints the machine, each setting's add and remove times, and (with --perf) perf's top symbols.
"""

from __future__ import annotations

import bz2
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
from sitepolicy.shape.base import compile_base
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


def semodule(root: Path, store: str, *args: str, perf: Path | None = None) -> float:
    command = ["semodule", "-p", str(root), "-s", store, "-n", "-X", "200", *args]
    if perf is not None:
        command = ["perf", "record", "-F", "499", "-g", "-o", str(perf), "--", *command]
    start = time.monotonic()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - start


def main() -> None:
    args = sys.argv[1:]
    perf_out = None
    if "--perf" in args:
        perf_out = Path(args[args.index("--perf") + 1])
        del args[args.index("--perf") : args.index("--perf") + 2]
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
        conf = root / "etc/selinux/semanage.conf"
        original = conf.read_text()
        added = generated_site(count).names.module
        if perf_out is not None:
            seconds = semodule(root, target.store, "-i", str(cil[count]), perf=perf_out)
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
