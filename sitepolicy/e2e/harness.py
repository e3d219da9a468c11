"""`invoke e2e`: build the RPMs and the guest, run the scenarios in two boots, report.

Boot 1 (phase "install"): scenarios 1-4, 7, the upgrade half of 5 and the trial half of 8.
Boot 2 (phase "reboot", same root disk): scenario 6, the enforcing half of 8 (after audit --apply on the host),
then the erase half of 5.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..definition.names import RUNTIME_PACKAGE
from ..definition.site import Site
from ..errors import E2EError, GuestError
from ..package.run import build as build_packages
from ..project import Project
from ..targets import PHP_FPM_ENTRY_TYPE
from . import trial as trial_scenario
from .accel import Accel, Machine, detect_machine
from .avc import merge, parse_audit_log, parse_marks
from .guest import BootResult, boot, new_overlay
from .image import GuestImage, ImageSpec, build_image
from .phpfpm import RPM_LABEL_FILE, build_stand_in
from .policy import GuestPolicy, debian_policy
from .report import Report, evaluate

UPGRADE_RELEASE = "2"
PAYLOAD_FILES = ("run.sh", "runner.py", "probe.php", "trial.py", "mediawiki.py", "fpm_upgrade.py")


@dataclass(frozen=True)
class E2ERun:
    report: Report
    work_dir: Path
    image: GuestImage
    machine: Machine
    policy: GuestPolicy
    optional: tuple[str, ...]  # the optional scenarios this run ran ("app", "8")


def site_facts(site: Site) -> dict[str, object]:
    """What the in-guest runner needs to know about a site, all from the core's own model."""
    n = site.names
    return {
        "name": site.name,
        "domain": n.domain,
        "module": n.module,
        "unit": n.unit,
        "types": {role or "domain": t for role, t in n.types.items()},
        "selinux_package": n.selinux_package,
        "php_fpm_package": n.php_fpm_package,
        "user": site.user,
        "group": site.group,
        "docroot": str(site.docroot),
        "writable": [str(w) for w in site.writable],
        "writable_dirs": [str(w) for w in site.writable_dirs],
        "state_dir": str(site.state_dir),
        "sessions_dir": str(site.sessions_dir),
        "tmp_dir": str(site.tmp_dir),
        "log_dir": str(site.log_dir),
        "run_dir": str(site.run_dir),
        "socket": str(site.socket),
        "config_dir": str(site.config_dir),
        "network": sorted(n.value for n in site.network),
        "mail": site.mail,
        "mail_helper": n.mail_helper,
    }


def _trial_plan(trial: trial_scenario.Trial, rpms: list[Path]) -> dict[str, object]:
    """What the in-guest runner needs of scenario 8's site in one boot: the site, its packages, its application."""
    return {"site": site_facts(trial.site), "rpms": [p.name for p in rpms], "app": trial.application.name}


def _build_rpms(
    project: Project, sites: list[Site], upgrade: Site, dest: Path, policy: GuestPolicy
) -> tuple[list[Path], list[Path]]:
    """Release 1 of every site, and release 2 of the site the upgrade scenario uses.

    build-site replaces a site's previous packages, so each release is copied aside into `dest`.
    """
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)

    def build(names: list[str], release: str) -> list[Path]:
        headers = str(policy.headers) if policy.headers else None
        records = build_packages(project, names, not names, headers, release)
        return [Path(shutil.copy2(p, dest / p.name)) for r in records for p in r.rpms if p.name.endswith(".noarch.rpm")]

    # build-site also builds sitepolicy-selinux-runtime, which the -selinux packages require: it goes
    # into the first transaction with both sites (one policy rebuild); the upgrade is the site's alone.
    first = build([], "1")
    second = [p for p in build([upgrade.name], UPGRADE_RELEASE) if not p.name.startswith(RUNTIME_PACKAGE + "-")]
    if len(first) != 2 * len(sites) + 1 or len(second) != 2:
        raise E2EError(f"build-site gave unexpected packages: {[p.name for p in first + second]}")
    return first, second


def _payload(dest: Path, plan: Mapping[str, object], rpms: list[Path]) -> Path:
    shutil.rmtree(dest, ignore_errors=True)
    (dest / "rpms").mkdir(parents=True)
    source = Path(__file__).parent / "guestfiles" / "payload"
    for name in PAYLOAD_FILES:
        shutil.copyfile(source / name, dest / name)
    (dest / "run.sh").chmod(0o755)
    for rpm in rpms:
        shutil.copyfile(rpm, dest / "rpms" / rpm.name)
    (dest / "plan.json").write_text(json.dumps(plan, indent=1))
    return dest


def _observations(result: BootResult, name: str) -> tuple[list[dict[str, object]], dict[str, float]]:
    path = result.results / "results.json"
    if not path.is_file():
        log = (result.results / "run.log").read_text(errors="replace") if (result.results / "run.log").is_file() else ""
        raise GuestError(f"{name}: the guest runner wrote no results.json (rc {result.run_rc})", log[-3000:])
    data = json.loads(path.read_text())
    return data["checks"], {f"{name}: {k}": round(v, 1) for k, v in data["timings"].items()}


def run_e2e(
    root: Path,
    *,
    keep: bool = False,
    policy: GuestPolicy | None = None,
    accel: Accel | None = None,
    mirror: str | None = None,
    boot_timeout: float = 1500.0,
    image_dir: Path | None = None,
    app: bool = False,
    trial: bool | None = None,
) -> E2ERun:
    """Everything `invoke e2e` does; raises E2EError (a SitepolicyError) when the harness fails.

    Outputs go under root/build/e2e; the guest image is cached in image_dir (default: the same).
    ``app``: also scenario "app" (MediaWiki; a bigger image). ``trial``: scenario 8 (default: on Debian's
    policy only; it has passed on el9's too, but its two extra installs cost CI minutes there).
    """
    policy = policy or debian_policy()
    with_trial = policy.target == debian_policy().target if trial is None else trial
    # scenario php-fpm (issue 15): only where php-fpm is an RPM (Debian's is a .deb: no rpm trigger fires)
    with_fpm = policy.target != debian_policy().target
    if app and with_trial:  # boot 1 then installs MediaWiki twice (scenario app, and the trial site's)
        boot_timeout = max(boot_timeout, 3000.0)
    optional = (*(("app",) if app else ()), *(("8",) if with_trial else ()), *(("php-fpm",) if with_fpm else ()))
    build_dir = root / "build" / "e2e"
    work = build_dir / "run"
    timings: dict[str, float] = {}

    started = time.monotonic()
    image = build_image(ImageSpec.default(mirror, app), image_dir or build_dir, policy)
    if image.cached:
        timings["image (cached)"] = round(time.monotonic() - started, 1)
    else:
        timings.update(image.phases)

    project = Project(root, policy.target)
    target = project.target
    sites = list(project.sites)
    if len(sites) < 2:
        raise E2EError("e2e needs at least two sites in sites.d/ (one is the other's neighbour)")
    upgrade = sites[0]
    started = time.monotonic()
    first, second = _build_rpms(project, sites, upgrade, build_dir / "rpms", policy)
    timings["build-site"] = round(time.monotonic() - started, 1)

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    facts = [site_facts(s) for s in sites]
    common = {
        "sites": facts,
        "web_group": target.web_group,
        "store": policy.store,
        "web_server_searches_every_dir": policy.web_server_searches_every_dir,
    }
    plan1 = {
        **common,
        "phase": "install",
        "install_rpms": [p.name for p in first],
        "upgrade": {"site": upgrade.name, "release": UPGRADE_RELEASE, "rpms": [p.name for p in second]},
        "app": app,
    }
    plan2 = {**common, "phase": "reboot", "upgrade": plan1["upgrade"]}
    # scenario 8 (issue 16): a third site in trial mode, its definition written by `invoke audit --apply`
    headers = str(policy.headers) if policy.headers else None
    trial_site = None
    if with_trial:
        trial_site = trial_scenario.prepare(root, build_dir / "trial-project", policy.target, headers, app)
    trial_rpms: list[Path] = []
    if trial_site is not None:
        trial_rpms = trial_site.build("1", build_dir / "rpms-trial")
        plan1["trial"] = _trial_plan(trial_site, trial_rpms)
    fpm_rpms = build_stand_in(image.root, target, build_dir / "rpms-php-fpm") if with_fpm else []
    if fpm_rpms:
        plan1["php_fpm"] = {
            "package": target.php_fpm_package,
            "path": str(target.php_fpm),
            "entry_type": PHP_FPM_ENTRY_TYPE,
            "rpms": [p.name for p in fpm_rpms],
            "rpm_label_file": RPM_LABEL_FILE,
        }
    started = time.monotonic()
    machine = detect_machine(image.kernel, accel)
    timings["accelerator probe"] = round(time.monotonic() - started, 1)
    disk = new_overlay(image, work / "root.qcow2")

    boot1 = boot(image, disk, _payload(work / "payload1", plan1, first + second + trial_rpms + fpm_rpms), work, machine,
                 name="boot1", timeout=boot_timeout)  # fmt: skip
    timings["boot 1 (scenarios 1-4, 7, 5a, 8a)"] = round(boot1.seconds, 1)
    between: list[dict[str, object]] = []
    if trial_site is not None:
        started = time.monotonic()
        between = [trial_scenario.between_boots(trial_site, boot1.results / "audit.log")]
        trial_rpms = trial_site.build("2", build_dir / "rpms-trial-enforcing")
        plan2["trial"] = _trial_plan(trial_site, trial_rpms)
        timings["between the boots: audit --apply, rebuild"] = round(time.monotonic() - started, 1)
    boot2 = boot(image, disk, _payload(work / "payload2", plan2, trial_rpms), work, machine, name="boot2",
                 timeout=boot_timeout)  # fmt: skip
    timings["boot 2 (scenarios 6, 5b)"] = round(boot2.seconds, 1)

    obs1, t1 = _observations(boot1, "boot 1")
    obs2, t2 = _observations(boot2, "boot 2")
    timings.update(t1)
    timings.update(t2)
    avcs = merge(
        parse_audit_log((boot1.results / "audit.log").read_text(errors="replace")),
        parse_audit_log((boot2.results / "audit.log").read_text(errors="replace")),
    )
    marks = {}
    for b in (boot1, boot2):
        marks.update(parse_marks((b.results / "audit.log").read_text(errors="replace")))
    # the trial site's permissive=1 records of boot 1 are expected
    trial_domains = (trial_site.site.names.domain,) if trial_site is not None else ()
    report = evaluate([*obs1, *between, *obs2], avcs, timings, marks, run_facts(policy, machine, boot1), trial_domains)
    (build_dir / "report.json").write_text(report.to_json())
    if keep:
        kept = build_dir / "last-run"
        shutil.rmtree(kept, ignore_errors=True)
        kept.mkdir(parents=True)
        for b, name in ((boot1, "boot1"), (boot2, "boot2")):
            shutil.copytree(b.results, kept / name)
            shutil.copyfile(b.console_log, kept / name / "console.log")
        shutil.copyfile(build_dir / "report.json", kept / "report.json")
    shutil.rmtree(work, ignore_errors=True)
    return E2ERun(
        report=report,
        work_dir=build_dir / "last-run" if keep else build_dir,
        image=image,
        machine=machine,
        policy=policy,
        optional=optional,
    )


def run_facts(policy: GuestPolicy, machine: Machine, first_boot: BootResult) -> dict[str, str]:
    """What the run ran on, for the report: accelerator and why, the policy the guest really loaded."""
    loaded_file = first_boot.results / "policy.json"
    loaded = json.loads(loaded_file.read_text()) if loaded_file.is_file() else {}
    facts = {
        "accelerator": machine.describe(),
        "policy": policy.describe(),
        "policy loaded in the guest": (
            f"{loaded.get('name', '?')} (kernel policy format {loaded.get('policyvers', '?')}, "
            f"selinux-policy {loaded.get('version') or 'not recorded'}, enforce={loaded.get('enforce', '?')})"
        ),
        "permissive base-policy domains": "; ".join(f"{d} ({why})" for d, why in sorted(policy.permissive.items()))
        or "none",
        "base-policy booleans changed": "; ".join(
            f"{name}={'on' if value else 'off'} ({why})" for name, (value, why) in sorted(policy.booleans.items())
        )
        or "none",
    }
    return facts
