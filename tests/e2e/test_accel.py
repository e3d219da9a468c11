"""The accelerator probe's parts that need no guest kernel (the probe boots are in test_guest.py)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from sitepolicy.e2e.accel import Accel, Machine, detect_machine, probe, probe_init, probe_initramfs


def test_probe_init_writes_its_message_and_exits(tmp_path: Path) -> None:
    # The same bytes the guest kernel runs as /init; on the host it only writes and exits.
    init = tmp_path / "init"
    init.write_bytes(probe_init(b"sitepolicy-accel-probe 0123 reached user space\n"))
    init.chmod(0o755)
    done = subprocess.run([init], capture_output=True, timeout=10, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"sitepolicy-accel-probe 0123 reached user space\n", b"")


@pytest.mark.skipif(shutil.which("cpio") is None, reason="cpio is not installed")
def test_probe_initramfs_is_a_newc_archive_with_console_and_init(tmp_path: Path) -> None:
    archive = tmp_path / "probe.cpio"
    archive.write_bytes(probe_initramfs(b"hello\n"))
    listing = subprocess.run(["cpio", "-itv"], stdin=archive.open("rb"), capture_output=True, text=True, check=True)
    rows = [line.split() for line in listing.stdout.splitlines()]
    assert [(r[0], r[-1]) for r in rows] == [
        ("drwxr-xr-x", "dev"),
        ("crw-------", "dev/console"),
        ("-rwxr-xr-x", "init"),
    ]
    assert rows[1][4:6] == ["5,", "1"]  # the console device, major 5 minor 1


def test_a_machine_that_cannot_start_is_reported_with_qemu_s_words(tmp_path: Path) -> None:
    not_a_kernel = tmp_path / "vmlinuz"
    not_a_kernel.write_bytes(b"\0" * 4096)
    result = probe(Accel.TCG, not_a_kernel, timeout=30)
    assert not result.works
    assert result.reason.startswith("qemu -accel tcg failed to start: ") and "qemu" in result.reason[33:]


def test_no_working_kvm_falls_back_to_tcg_and_says_why(tmp_path: Path) -> None:
    # Whatever this host's KVM does, a kernel that cannot boot never proves it: TCG, with the reason.
    not_a_kernel = tmp_path / "vmlinuz"
    not_a_kernel.write_bytes(b"\0" * 4096)
    machine = detect_machine(not_a_kernel)
    assert machine.accel is Accel.TCG
    assert machine.reason.startswith("KVM probe failed: ")
    assert machine.describe() == f"tcg ({machine.reason})"


def test_asking_for_an_accelerator_skips_the_probe(tmp_path: Path) -> None:
    assert detect_machine(tmp_path / "missing", Accel.KVM) == Machine(Accel.KVM, "asked for with --accel")
