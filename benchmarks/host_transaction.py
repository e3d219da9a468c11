"""Benchmark 1: K site packages in one rpm transaction — policy rebuilds, relabels, and their cost.

For each K it builds K generated sites, then in a throwaway rpm root (tests/rpmroot.py: the real rpm,
stand-in semodule/restorecon/load_policy that record their arguments):
  - batched: installs sitepolicy-selinux-runtime and the K -selinux packages in ONE `rpm -i`;
  - per package: installs the same K packages without the runtime (`--nodeps`), so each package's
    own %post runs (the design with one semodule per package), in the same run, for comparison.
It counts the recorded semodule, load_policy and restorecon calls of each, then replays the recorded
semodule argument lists with the real `semodule -p` on a private copy of this host's policy store
and times them. One call per package costs a whole policy rebuild each; for large K only the first
few per-package calls are timed and the rest is extrapolated from their mean (printed as "~").

    .venv/bin/python benchmarks/host_transaction.py [--ks 1,10,50,200] [--sample 5] [--work DIR]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from machine import describe, describe_load, make_project, write_definitions  # sets sys.path for the two below
from rpmroot import Call, RpmRoot, build_host_package, make_policy_root, semodule_argv_for_replay

from sitepolicy.definition.site import load_sites
from sitepolicy.package.run import build as build_packages
from sitepolicy.package.run import outputs as outputs_of
from sitepolicy.project import Project
from sitepolicy.targets import host_target


def build(work: Path, count: int) -> tuple[dict[str, Path], Path, list]:
    project = make_project(work / "project")
    write_definitions(project / "sites.d", count)
    start = time.monotonic()
    outputs = outputs_of(build_packages(Project(project), [], True, None, jobs=2))
    print(f"built {count} sites and the runtime in {time.monotonic() - start:.0f} s (-j 2)")
    selinux = {
        p.name.split("-selinux-")[0].removeprefix("sitepolicy-"): p for p in outputs if "-selinux-1.0-" in p.name
    }
    runtime = next(p for p in outputs if p.name.startswith("sitepolicy-selinux-runtime-") and p.parent.name == "rpms")
    return selinux, runtime, load_sites(project / "sites.d")


def prepare_root(path: Path, host_rpm: Path, sites: list) -> RpmRoot:
    root = RpmRoot(path)
    assert root.rpm("-i", host_rpm).returncode == 0
    for site in sites:
        for p in (*site.relabel_paths, *site.writable_dirs):
            (root.path / str(p).lstrip("/")).mkdir(parents=True, exist_ok=True)
    return root


def counts(calls: list[Call]) -> dict[str, int]:
    return {tool: sum(c.tool == tool for c in calls) for tool in ("semodule", "load_policy", "restorecon")}


def replay(calls: list[Call], root: Path, policy: Path) -> list[float]:
    times = []
    for call in calls:
        argv = semodule_argv_for_replay(call, root, policy)
        start = time.monotonic()
        subprocess.run(argv, check=True, capture_output=True)
        times.append(time.monotonic() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ks", default="1,10,50,200")
    parser.add_argument("--sample", type=int, default=5, help="per-package calls timed when K > 10")
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    ks = sorted(int(k) for k in args.ks.split(","))
    work = args.work or Path(tempfile.mkdtemp(prefix="sp-bench-host-"))
    print(describe())
    print(f"target  : {host_target().name}; work dir {work}\n")
    rpms, runtime, sites = build(work, max(ks))
    host_rpm = build_host_package(work / "host", host_target())
    rows = []
    for k in ks:
        chosen = sites[:k]
        files = [rpms[s.name] for s in chosen]

        batched = prepare_root(work / f"k{k}-batched", host_rpm, chosen)
        start = time.monotonic()
        result = batched.rpm("-i", runtime, *files)
        rpm_batched = time.monotonic() - start
        assert result.returncode == 0 and "failed" not in result.stderr, result.stderr
        batched_calls = batched.calls()

        single = prepare_root(work / f"k{k}-single", host_rpm, chosen)
        start = time.monotonic()
        result = single.rpm("-i", "--nodeps", *files)
        rpm_single = time.monotonic() - start
        assert result.returncode == 0 and "failed" not in result.stderr, result.stderr
        single_calls = single.calls()

        policy = make_policy_root(work / f"k{k}-policy-batched")
        batched_time = sum(replay([c for c in batched_calls if c.tool == "semodule"], batched.path, policy))
        policy = make_policy_root(work / f"k{k}-policy-single")
        per_package = [c for c in single_calls if c.tool == "semodule"]
        measured = per_package if k <= 10 else per_package[: args.sample]
        times = replay(measured, single.path, policy)
        single_time = sum(times) / len(times) * len(per_package)
        batched_counts, single_counts = counts(batched_calls), counts(single_calls)
        rows.append(
            (k, batched_counts, single_counts, batched_time, single_time, len(measured), rpm_batched, rpm_single)
        )
        for path in (work / f"k{k}-policy-batched", work / f"k{k}-policy-single"):
            shutil.rmtree(path)
        print(f"K={k}: done", flush=True)

    print("\nK sites in one rpm transaction. calls = semodule / load_policy / restorecon made by the scriptlets")
    print("and triggers (recorded); rebuild = wall time of those semodule calls replayed with the real")
    print("semodule -p on a private copy of the policy store. ~ = extrapolated from the timed calls.\n")
    table = [("K", "batched calls", "batched rebuild", "per-package calls", "per-package rebuild", "ratio")]
    for k, bc, sc, bt, st, n, _rb, _rs in rows:
        mark = "" if n == k else "~"
        table.append(
            (
                str(k),
                f"{bc['semodule']} / {bc['load_policy']} / {bc['restorecon']}",
                f"{bt:.1f} s",
                f"{sc['semodule']} / {sc['load_policy']} / {sc['restorecon']}",
                f"{mark}{st:.1f} s",
                f"{mark}{st / bt:.0f}x" if bt else "-",
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for number, row in enumerate(table):
        print(" | ".join(cell.rjust(width) for cell, width in zip(row, widths)))
        if number == 0:
            print("-+-".join("-" * width for width in widths))
    print()
    for k, _bc, _sc, _bt, _st, n, rb, rs in rows:
        note = "all timed" if n == k else f"{n} timed, their mean x {k} (extrapolated)"
        print(f"K={k}: per-package rebuilds {note}; rpm itself (stand-ins) {rb:.1f} s batched, {rs:.1f} s per package")
    print(describe_load())


if __name__ == "__main__":
    main()
