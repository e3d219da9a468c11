"""Publish timings: K generated sites into a signed repository. Prints figures and the machine.

    .venv/bin/python benchmarks/publish.py [K]      (default K = 20)

Measures, with the real rpmsign, gpg and createrepo_c: the first signed publish of 2K packages, a
republish that changes nothing, publishing one upgraded site into the K-site repository, and two
publishes at once (serialised by the lock).
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sitepolicy.definition.site import site_from_mapping
from sitepolicy.package.build import build_sites
from sitepolicy.package.headers import resolve_headers
from sitepolicy.publish.metadata import metadata_problems
from sitepolicy.publish.repo import publish
from sitepolicy.publish.signing import resolve_key
from sitepolicy.targets import host_target


def timed(label: str, action) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    action()
    elapsed = time.perf_counter() - start
    print(f"{label:<52} {elapsed:7.2f} s")
    return elapsed


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    work = Path(tempfile.mkdtemp(prefix="sitepolicy-bench-publish-"))
    os.environ["GNUPGHOME"] = str(work / "gnupg")
    (work / "gnupg").mkdir(mode=0o700)
    subprocess.run(
        [
            *("gpg", "--batch", "--passphrase", "", "--quick-gen-key"),
            *("bench <bench@example.invalid>", "rsa3072", "sign", "1d"),
        ],
        check=True,
        capture_output=True,
    )
    key = resolve_key("bench@example.invalid")
    target = host_target()
    headers = resolve_headers(target, None)
    sites = [
        site_from_mapping(
            {"site": f"site{i}.example.com", "docroot": f"/srv/www/site{i}", "user": f"site{i}"}, Path("<memory>")
        )
        for i in range(count)
    ]
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} CPUs, {platform.platform()}")
    print(f"sites: {count} ({2 * count} packages), target {target.name}")
    builds: list = []
    timed(
        f"build {count} sites (rpmbuild, for the inputs)",
        lambda: builds.extend(build_sites(sites, target, headers, work / "build")),
    )
    rpms = [p for b in builds for p in b.rpms]
    repo = work / "repo"
    timed(f"first signed publish of {len(rpms)} packages", lambda: publish(repo, rpms, target.name, key))
    timed("republish, nothing changed", lambda: publish(repo, rpms, target.name, key))
    upgrade = build_sites(sites[:1], target, headers, work / "build-r2", release="2")
    timed(
        "publish one upgraded site into the repository", lambda: publish(repo, list(upgrade[0].rpms), target.name, key)
    )
    more = build_sites(sites[1:3], target, headers, work / "build-r3", release="3")
    threads = [threading.Thread(target=publish, args=(repo, list(b.rpms), target.name, key)) for b in more]
    timed("two publishes at once (one site each)", lambda: ([t.start() for t in threads], [t.join() for t in threads]))
    print(f"metadata problems after all: {len(metadata_problems(repo))}")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
