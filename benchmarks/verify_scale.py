"""verify at scale: N generated sites compiled, linked into one private policy root with ONE semodule
call, and proven. Prints the figures and the machine; asserts nothing about time.

    .venv/bin/python benchmarks/verify_scale.py [N]       (default 50)
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sitepolicy.render import render_policy
from sitepolicy.selinux import compile_module, resolve_headers
from sitepolicy.site import Site, site_from_mapping
from sitepolicy.targets import host_target
from sitepolicy.verify import verify_modules
from sitepolicy.verify.modules import modules_from_dir


def generated_sites(count: int) -> list[Site]:
    return [
        site_from_mapping(
            {
                "site": f"bench{i:03d}.example.com",
                "docroot": f"/srv/www/bench{i:03d}.example.com",
                "user": f"bench{i:03d}",
                "writable": ["uploads"],
                "network": ["database"] if i % 2 else [],
            },
            Path(f"bench{i:03d}.example.com.yaml"),
        )
        for i in range(count)
    ]


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.node()}: {platform.platform()}, {os.cpu_count()} cores, {cpu}"


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    target = host_target()
    headers = resolve_headers(target, None)
    sites = generated_sites(count)
    with tempfile.TemporaryDirectory(prefix="verify-scale-") as tmp:
        work = Path(tmp)
        start = time.monotonic()
        for site in sites:
            directory = work / "modules" / site.names.module
            render_policy(site, target).write(directory)
            compile_module(directory, headers, site.names.module)
        compiled = time.monotonic() - start
        start = time.monotonic()
        result = verify_modules(modules_from_dir(work / "modules", sites), target.store, work / "verify")
        total = time.monotonic() - start
        report = result.report
        print(f"machine: {machine()}")
        print(f"sites: {count} (one semodule call, store {target.store})")
        print(f"compile (make, in series): {compiled:.1f} s")
        print(f"link (semodule -p, one call): {report.link_seconds:.1f} s")
        print(f"proofs ({len(report.findings)} checks): {report.prove_seconds:.1f} s")
        print(f"verify total (copy + link + proofs): {total:.1f} s")
        print(f"result: {'all passed' if report.ok else f'{len(report.failures)} FAILED'}")


if __name__ == "__main__":
    main()
