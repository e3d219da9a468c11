"""Scenario php-fpm (issue 15), in the guest: a php-fpm RPM upgrade reaches every site pool.

Called by runner.py with itself (its helpers and PLAN), in boot 1 after the upgrade of scenario 5, only on a
target whose php-fpm is an RPM (el9). The host built a stand-in of the target's php-fpm package (releases 1
and 2, owning the target's binary, the guest's own php-fpm bytes plus a trailer naming the release). Release 1
takes over the binary (rpm -i), then rpm -U brings release 2. After each transaction: the runtime's file
trigger restarted each site pool exactly once (one `systemctl try-restart` line of reconcile in the journal,
one start of each unit, a new MainPID running the new file), the binary carries the label the policy gives it
(the site domains' entrypoint: the guest's rpm wrote it bin_t, and reconcile relabelled it before the
restart, saying so in the journal), each master and worker runs in its site's domain and serves through nginx.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

SCENARIO = "php-fpm"


def main_pid(r, unit: str) -> int:
    out = r.sh("systemctl", "show", "-P", "MainPID", unit)["out"].strip()
    return int(out) if out.isdigit() else 0


def settled(r, units: list[str]) -> bool:
    """Every unit active with a master, and no job of systemd's queue is for one of them."""
    jobs = r.sh("systemctl", "list-jobs", "--no-legend", "--no-pager")["out"]
    return all(r.unit_state(u) == "active" and main_pid(r, u) > 0 and u not in jobs for u in units)


def journal(*match: str) -> list[str]:
    """This boot's journal messages (-o cat), all of them (the runner's sh() keeps only an output's tail).
    What a transaction logged is what follows the lines read before it."""
    argv = ["journalctl", "-b", "--no-pager", "-o", "cat", *match]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False).stdout.splitlines()


def expected_label(r, path: str) -> str:
    """The label the loaded policy's file contexts give `path`."""
    out = r.sh("matchpathcon", "-n", path)
    if out["rc"] == 0:
        return out["out"].strip()
    return ""


def transaction(r, step: str, argv: list[str], release: str, fpm: dict, sites: list[dict]) -> None:
    units = [s["unit"] for s in sites]
    path = fpm["path"]
    r.wait_for(lambda: settled(r, units), 60)
    before = {u: main_pid(r, u) for u in units}
    logged = len(journal("-t", "sitepolicy"))
    unit_logged = {u: len(journal("-u", u)) for u in units}
    t0 = r.begin()
    res = r.sh(*argv, timeout=900)
    rpm_seconds = time.time() - t0
    r.TIMINGS[f"php-fpm: {step}"] = rpm_seconds
    # reconcile queued the restarts (--no-block) before rpm returned: wait until systemd has done them.
    r.wait_for(lambda: settled(r, units) and all(main_pid(r, u) != before[u] for u in units), 90)
    r.wait_for(lambda: any("try-restart" in ln for ln in journal("-t", "sitepolicy")[logged:]), 15)
    query = r.sh("rpm", "-q", fpm["package"])
    r.check(
        SCENARIO,
        f"{step}: rpm succeeds, {fpm['package']} at release {release} ({rpm_seconds:.1f} s)",
        res["rc"] == 0 and "warning: %" not in res["out"] and query["out"].strip().endswith(f"-{release}.x86_64"),
        t0,
        {"rpm": res, "rpm_q": query},
    )
    t = r.begin()
    got, want = r.label(path), expected_label(r, path)
    try:  # what rpm itself gave the file, before reconcile restored the policy's label
        by_rpm = Path(fpm["rpm_label_file"]).read_text().strip()
    except OSError:
        by_rpm = None
    lines = journal("-t", "sitepolicy")[logged:]
    relabelled = [ln for ln in lines if ln.startswith(f"relabelled {path} ")]
    r.check(
        SCENARIO,
        f"{step}: {path} labelled {fpm['entry_type']}, as the policy's file contexts say (rpm wrote {by_rpm})",
        (got or "").split(":")[2:3] == [fpm["entry_type"]] and got == want,
        t,
        {"labels": {path: got}, "matchpathcon": want, "written_by_rpm": by_rpm},
    )
    t = r.begin()
    # rpm's label was not the entry type: reconcile must have put it right before the restart (not by luck).
    mislabelled = (by_rpm or "").split(":")[2:3] != [fpm["entry_type"]]
    restart_at = min((i for i, ln in enumerate(lines) if ln.startswith("systemctl try-restart:")), default=len(lines))
    what = f"reconcile relabelled {path} before the restart" if mislabelled else f"rpm labelled {path} itself"
    r.check(
        SCENARIO,
        f"{step}: {what}",
        len(relabelled) == (1 if mislabelled else 0) and all(lines.index(ln) < restart_at for ln in relabelled),
        t,
        {"journal": lines, "written_by_rpm": by_rpm},
    )
    t = r.begin()
    restarts = [ln for ln in lines if ln.startswith("systemctl try-restart:")]
    r.check(
        SCENARIO,
        f"{step}: reconcile's journal has one try-restart of every pool and no policy work",
        len(restarts) == 1
        and sorted(restarts[0].split(":", 1)[1].split()) == sorted(units)
        and not any(ln.startswith("policy store ") for ln in lines),
        t,
        {"journal": lines},
    )
    tail = Path(path).read_bytes()[-80:].decode(errors="replace")
    for site in sites:
        unit = site["unit"]
        t = r.begin()
        # systemd's "Started <unit> - <description>." (a start, or the start half of a restart)
        starts = [ln for ln in journal("-u", unit)[unit_logged[unit] :] if ln.startswith("Started ")]
        pid = main_pid(r, unit)
        exe = os.readlink(f"/proc/{pid}/exe") if pid else ""
        try:
            same_file = os.stat(f"/proc/{pid}/exe")[1:3] == os.stat(path)[1:3]  # (st_ino, st_dev)
        except OSError:
            same_file = False
        r.check(
            SCENARIO,
            f"{step}: {site['name']} restarted exactly once (MainPID {before[unit]} -> {pid}), on the new binary",
            len(starts) == 1
            and 0 < pid != before[unit]
            and same_file
            and not exe.endswith(" (deleted)")
            and f"release {release}" in tail,
            t,
            {"main_pid_before": before[unit], "main_pid_after": pid, "starts": starts, "exe": exe,
             "exe_is_the_installed_file": same_file, "binary_tail": tail},
        )  # fmt: skip
        t = r.begin()
        procs = r.unit_processes(site)
        ps = r.sh("ps", "-o", "label,pid,ppid,comm", "-p", str(pid))["out"]
        r.check(
            SCENARIO,
            f"{step}: {site['name']}: master and workers in {site['domain']} (ps -Z)",
            len(procs) >= 2
            and all(p["context"] == r.domain_context(site) for p in procs)
            and r.domain_context(site) in ps,
            t,
            {"processes": procs, "ps_Z_master": ps},
        )
        t = r.begin()
        res = r.probe(site, "context")
        r.check(
            SCENARIO,
            f"{step}: {site['name']} serves in {site['domain']} through nginx",
            res["status"] == 200 and (res["json"] or {}).get("context") == r.domain_context(site),
            t,
            res,
        )


def run(r) -> None:
    fpm = r.PLAN["php_fpm"]
    sites = list(r.SITES.values())
    r.say(f"scenario php-fpm: {fpm['package']} (stand-in, owns {fpm['path']}) installed, then upgraded")
    t0 = time.time()
    first, second = (str(r.PAYLOAD / "rpms" / name) for name in fpm["rpms"])
    # The binary is Debian's copy (configure-target.sh), owned by no rpm: release 1 takes it over.
    # --nodeps: the guest's rpm database has no /bin/sh (Debian's dpkg owns it), which %post requires
    transaction(r, "rpm -i release 1", ["rpm", "-i", "--nodeps", first], "1", fpm, sites)
    transaction(r, "rpm -U release 2", ["rpm", "-U", "--nodeps", second], "2", fpm, sites)
    r.TIMINGS["scenario php-fpm"] = time.time() - t0
