"""verify at scale: N generated sites linked into one private policy root with ONE semodule call, proven,
and reported (text + JSON), for each N given. Prints the figures and the machine; asserts nothing about time.

The modules of the largest N are compiled once (in parallel, not measured further); each N then verifies
the first N of them from scratch (no cache), as build-site --all runs verify.

    .venv/bin/python benchmarks/verify_scale.py [N ...]       (default 50 200 500)
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from machine import describe, describe_load
from policy_tools import compile_module

from sitepolicy.definition.site import Site, site_from_mapping
from sitepolicy.package.headers import resolve_headers
from sitepolicy.render import render_policy
from sitepolicy.targets import host_target
from sitepolicy.verify import verify_modules
from sitepolicy.verify.modules import modules_from_dir
from sitepolicy.verify.report import render_text


def generated_site(i: int) -> Site:
    return site_from_mapping(
        {
            "site": f"bench{i:03d}.example.com",
            "docroot": f"/srv/www/bench{i:03d}.example.com",
            "user": f"bench{i:03d}",
            "writable": ["uploads"],
            "network": ["database"] if i % 2 else [],
        },
        Path(f"bench{i:03d}.example.com.yaml"),
    )


def generated_sites(count: int) -> list[Site]:
    return [generated_site(i) for i in range(count)]


def _compile(args: tuple[int, str]) -> None:
    i, modules = args
    target = host_target()
    site = generated_site(i)
    directory = Path(modules) / site.names.module
    render_policy(site, target).write(directory)
    compile_module(directory, resolve_headers(target, None), site.names.module)


def main() -> None:
    counts = [int(a) for a in sys.argv[1:]] or [50, 200, 500]
    target = host_target()
    print(describe())
    print(f"store   : {target.store}; sites: {', '.join(map(str, counts))}\n", flush=True)
    with tempfile.TemporaryDirectory(prefix="verify-scale-") as tmp:
        work = Path(tmp)
        start = time.monotonic()
        with ProcessPoolExecutor(os.cpu_count()) as pool:
            list(pool.map(_compile, [(i, str(work / "modules")) for i in range(max(counts))], chunksize=8))
        print(f"compile {max(counts)} modules (make, {os.cpu_count()} in parallel): {time.monotonic() - start:.1f} s\n")
        print("| sites | checks | link (one semodule call) | proofs | report (JSON + text) | verify total | result |")
        print("|---|---|---|---|---|---|---|")
        for count in counts:
            sites = generated_sites(count)
            start = time.monotonic()
            result = verify_modules(
                modules_from_dir(work / "modules", sites), target.store, work / f"verify-{count}", use_cache=False
            )
            render_text(result.report)  # inside the total: build-site prints it
            total = time.monotonic() - start
            report = result.report
            start = time.monotonic()
            report.to_json()
            render_text(report)
            reported = time.monotonic() - start
            verdict = "all passed" if report.ok else f"{len(report.failures)} FAILED"
            print(
                f"| {count} | {len(report.findings)} | {report.link_seconds:.1f} s | {report.prove_seconds:.1f} s "
                f"| {reported:.1f} s | {total:.1f} s | {verdict} |",
                flush=True,
            )
        print(f"\n{describe_load()}")


if __name__ == "__main__":
    main()
