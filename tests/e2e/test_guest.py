"""Issue 4's scenarios in a real enforcing SELinux guest (qemu): slow, marked `e2e`.

One session-scoped run boots the guest twice (install, then reboot) and every test below asserts
on that run's verdicts and evidence. `./sp test --quick` skips the module (-m "not e2e").
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import PROJECT, make_project

from sitepolicy.e2e.harness import E2ERun, run_e2e
from sitepolicy.e2e.report import SCENARIOS, Report

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def e2e_run(tmp_path_factory) -> E2ERun:
    missing = [t for t in ("qemu-system-x86_64", "debootstrap", "mkfs.ext4", "qemu-img") if not shutil.which(t)]
    if missing:
        pytest.fail(f"e2e needs {', '.join(missing)} (./sp setup installs them)")
    root = make_project(tmp_path_factory.mktemp("e2e"))
    # The guest image is cached in the checkout's build/e2e, keyed by its inputs.
    return run_e2e(root, keep=True, image_dir=PROJECT / "build" / "e2e")


@pytest.fixture(scope="session")
def report(e2e_run: E2ERun) -> Report:
    print(e2e_run.report.to_text())
    return e2e_run.report


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_scenario(report: Report, scenario: str) -> None:
    mine = [c for c in report.checks if c.scenario == scenario]
    assert mine, f"scenario {scenario} ran no checks"
    failed = [f"{c.name}: {c.reason}; AVCs {list(c.avcs_in_window)}; {c.evidence}" for c in mine if not c.passed]
    assert not failed, "\n".join(failed)


def test_no_denials_beyond_the_attacks(report: Report) -> None:
    assert report.unexpected_denials == ()


def test_every_attack_is_proven_by_its_own_avc(report: Report) -> None:
    attacks = [c for c in report.checks if c.expected_avc]
    # 6 attempts each way between the two sites, and 2 nginx attempts per site
    assert len(attacks) == 6 * 2 + 2 * 2
    for c in attacks:
        assert c.matching_avc and "permissive=0" in c.matching_avc, c.name


def test_sites_run_confined_and_serve(report: Report) -> None:
    served = [c for c in report.checks if c.scenario in ("1", "6") and "serves" in c.name]
    assert len(served) == 4
    for c in served:
        assert c.evidence["status"] == 200
        assert c.evidence["json"]["context"].startswith("system_u:system_r:sitepolicy_")


def test_kept_logs(e2e_run: E2ERun) -> None:
    for boot in ("boot1", "boot2"):
        assert (e2e_run.work_dir / boot / "audit.log").is_file()
        assert (e2e_run.work_dir / boot / "console.log").is_file()
    assert (e2e_run.work_dir / "report.json").is_file()


def test_a_guest_that_does_not_finish_is_killed_with_a_clear_error(tmp_path: Path) -> None:
    from sitepolicy.e2e.guest import boot, detect_machine, new_overlay
    from sitepolicy.e2e.image import ImageSpec, build_image
    from sitepolicy.errors import GuestError

    image = build_image(ImageSpec.default(), PROJECT / "build" / "e2e")  # cached by the run above

    payload = tmp_path / "payload"
    payload.mkdir()
    (payload / "run.sh").write_text("sleep 600\n")
    disk = new_overlay(image, tmp_path / "root.qcow2")
    with pytest.raises(GuestError, match="did not power off within 5 s"):
        boot(image, disk, payload, tmp_path, detect_machine(), name="hang", timeout=5)
