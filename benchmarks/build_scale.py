"""Benchmark 2: build N generated sites from scratch with -j J, against the floor; then a no-op rebuild.

  floor    : the same rpmbuild -bs + rpmbuild --rebuild (which compiles the module) per site, run
             bare by `xargs -P J` over benchmarks/floor-build.sh, from sources rendered beforehand
             (untimed); run before AND after the scratch build, and averaged, because other work
             on a shared machine changes its speed from minute to minute;
  scratch  : `invoke build-site --all -j J` in a fresh project (render, digests, both rpmbuilds,
             scriptlet checks, moving outputs, the release lock), as a user runs it;
  no-op    : the same command again with nothing changed (goal: under 2 s), run twice.
build-site ends by verifying the built sites (benchmarks/verify_scale.py measures that). Here it is
skipped with --no-verify (the packages differ only in BUILDINFO's verify= line): this measures
building, as the goal asks, with verification reported separately.

    .venv/bin/python benchmarks/build_scale.py [--count 500] [-j 2] [--work DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

from machine import PROJECT, describe, describe_load, make_project, write_definitions

from sitepolicy.definition.site import load_sites
from sitepolicy.package.build import render_sources
from sitepolicy.targets import host_target

INVOKE = PROJECT / ".venv" / "bin" / "invoke"


def timed(argv: list[str], cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None) -> tuple[float, str]:
    start = time.monotonic()
    result = subprocess.run(argv, cwd=cwd, env=env, input=stdin, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - start
    if result.returncode != 0:
        raise SystemExit(f"{argv[:3]} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return elapsed, result.stderr


def build_part(log: str) -> float:
    """The seconds build-site's own summary reports for building (without verify and start-up)."""
    line = next(line for line in log.splitlines() if line.startswith("build-site ("))
    return float(line.split(" in ")[1].split(" s")[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="sp-bench-build-"))
    target = host_target()
    print(describe())
    print(f"target  : {target.name}; {args.count} sites, -j {args.jobs}; work dir {work}\n", flush=True)

    project = make_project(work / "project")
    write_definitions(project / "sites.d", args.count)

    # The floor: render once (untimed), then only the rpmbuilds, J at a time.
    sources = []
    for site in load_sites(project / "sites.d"):
        src = work / "floor-sources" / site.name
        render_sources(site, target, "1", src)
        sources.append((site.name, src))

    def floor_run(name: str) -> float:
        pairs = [f"{src} {work / name / site}" for site, src in sources]
        floor_cmd = ["xargs", "-P", str(args.jobs), "-L", "1", "sh", str(PROJECT / "benchmarks" / "floor-build.sh")]
        elapsed, _ = timed(floor_cmd, work, {**os.environ, "DIST": target.dist}, "\n".join(pairs) + "\n")
        print(f"{name:<8}: {elapsed:.1f} s", flush=True)
        return elapsed

    floor_before = floor_run("floor-1")
    build_cmd = [str(INVOKE), "build-site", "--all", "-j", str(args.jobs), "--no-verify"]
    scratch, log = timed(build_cmd, project)
    scratch_build = build_part(log)
    print(f"scratch : {scratch:.1f} s in all, {scratch_build:.1f} s building", flush=True)
    floor_after = floor_run("floor-2")
    floor = (floor_before + floor_after) / 2
    noops = []
    for _ in range(2):
        noop, log = timed(build_cmd, project)
        noops.append((noop, build_part(log)))
        print(f"no-op   : {noop:.2f} s in all, {build_part(log):.2f} s deciding that nothing changed", flush=True)
    noop, noop_build = min(noops)

    print()
    print(
        "| sites | -j | floor: bare rpmbuilds (before / after) | build-site from scratch | ratio | no-op build-site |"
    )
    print("|---|---|---|---|---|---|")
    print(
        f"| {args.count} | {args.jobs} | {floor:.0f} s ({floor_before:.0f} / {floor_after:.0f}) | {scratch:.0f} s "
        f"| {scratch / floor:.2f}x | {noop:.2f} s ({noop_build:.2f} s of it deciding; goal < 2 s) |"
    )
    print(describe_load())


if __name__ == "__main__":
    main()
