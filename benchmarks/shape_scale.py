"""Issue 11: a host holding N generated sites, in today's shape (one .pp per site) and in the new one (the
shared base module + one CIL module per site), measured in the same run: link all N in one semodule call,
then add one site, then change one (its definition gains a writable directory), each its own semodule
call into the same private root, as reconcile makes them on a host. Prints the kernel policy's size and
rule counts and the machine; asserts nothing about time.

    flock /work/wt/notes/heavy.lock .venv/bin/python benchmarks/shape_scale.py [N ...]   (default 500 2000)

The .pp modules are compiled once for the largest N (in parallel; the time is printed, not part of the
figures); the CIL modules are rendered (no compiler). Each N links the first N sites of the set.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path, PurePosixPath

from machine import describe, describe_load
from policy_tools import compile_module
from verify_scale import generated_site

from sitepolicy.definition.site import Site
from sitepolicy.package.headers import resolve_headers
from sitepolicy.render import render_policy, render_site_cil
from sitepolicy.shape.base import compile_base
from sitepolicy.targets import host_target
from sitepolicy.tools import run
from sitepolicy.verify.policyroot import link_policy


def changed_site(i: int) -> Site:
    site = generated_site(i)
    return dataclasses.replace(site, writable=(*site.writable, PurePosixPath("cache")))


def _compile(args: tuple[int, str, bool]) -> None:
    i, out, changed = args
    target = host_target()
    site = changed_site(i) if changed else generated_site(i)
    directory = Path(out) / site.names.module
    render_policy(site, target).write(directory)
    compile_module(directory, resolve_headers(target, None), site.names.module)


@dataclasses.dataclass
class Figures:
    link: float
    add: float
    change: float
    kern_bytes: int
    allow: int
    dontaudit: int
    allow_added: int
    dontaudit_added: int


def _counts(root: Path, store: str) -> tuple[int, int, int]:
    import setools

    kern = root / "var/lib/selinux" / store / "active/policy.kern"
    policy = setools.SELinuxPolicy(str(kern))
    return kern.stat().st_size, policy.allow_count, policy.dontaudit_count


def _semodule(root: Path, store: str, module: Path) -> float:
    start = time.monotonic()
    run(["semodule", "-p", root, "-s", store, "-n", "-X", "200", "-i", module], timeout=1800)
    return time.monotonic() - start


def measure(root: Path, store: str, modules: list[Path], added: Path, changed: Path) -> Figures:
    linked = link_policy(root, store, modules)
    size, allow, dontaudit = _counts(root, store)
    add = _semodule(root, store, added)
    _, allow_after, dontaudit_after = _counts(root, store)
    change = _semodule(root, store, changed)
    added = (allow_after - allow, dontaudit_after - dontaudit)
    return Figures(linked.seconds, add, change, size, allow, dontaudit, *added)


def main() -> None:
    counts = [int(a) for a in sys.argv[1:]] or [500, 2000]
    target = host_target()
    headers = resolve_headers(target, None)
    top = max(counts)
    print(describe())
    print(f"store   : {target.store}; sites: {', '.join(map(str, counts))}\n", flush=True)
    with tempfile.TemporaryDirectory(prefix="shape-scale-") as tmp:
        work = Path(tmp)
        start = time.monotonic()
        jobs = [(i, str(work / "pp"), False) for i in range(top + 1)] + [(0, str(work / "pp-changed"), True)]
        with ProcessPoolExecutor(os.cpu_count()) as pool:
            list(pool.map(_compile, jobs, chunksize=8))
        print(f"compile {top + 2} .pp modules (make, {os.cpu_count()} in parallel): {time.monotonic() - start:.1f} s")
        start = time.monotonic()
        base = compile_base(target, headers.directory, work / "base")
        print(f"compile the base module: {time.monotonic() - start:.1f} s")
        start = time.monotonic()
        for i in range(top + 1):
            render_site_cil(generated_site(i)).write(work / "cil")
        render_site_cil(changed_site(0)).write(work / "cil-changed")
        print(f"render {top + 2} CIL modules: {time.monotonic() - start:.1f} s\n", flush=True)

        def pp(i: int, directory: str = "pp") -> Path:
            module = generated_site(i).names.module
            return work / directory / module / f"{module}.pp"

        def cil(i: int, directory: str = "cil") -> Path:
            return work / directory / f"{generated_site(i).names.module}.cil"

        print(
            "| sites | shape | link all (one call) | add one site | change one site | policy.kern | allow "
            "| dontaudit | allow (+dontaudit) one site adds |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for count in counts:
            shapes = {
                "today (.pp per site)": ([pp(i) for i in range(count)], pp(count), pp(0, "pp-changed")),
                "base + CIL per site": ([base, *(cil(i) for i in range(count))], cil(count), cil(0, "cil-changed")),
            }
            for name, (modules, added, changed) in shapes.items():
                root = work / f"root-{count}"
                f = measure(root, target.store, modules, added, changed)
                shutil.rmtree(root)
                print(
                    f"| {count} | {name} | {f.link:.1f} s | {f.add:.1f} s | {f.change:.1f} s "
                    f"| {f.kern_bytes / 1e6:.1f} MB | {f.allow:,} | {f.dontaudit:,} "
                    f"| {f.allow_added} (+{f.dontaudit_added}) |",
                    flush=True,
                )
        print(f"\n{describe_load()}")


if __name__ == "__main__":
    main()
