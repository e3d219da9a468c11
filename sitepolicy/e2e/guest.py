"""Boot the guest under qemu, hand it a payload, collect its results.

Transport (works in enforcing mode, needs no network and no shared filesystem):
  payload  a tar archive on a virtio disk with serial "e2e-payload" (the guest unpacks it);
  results  a raw virtio disk with serial "e2e-results" the guest writes a tar archive onto.
The guest's root is a qcow2 overlay over the cached image, so a run can reboot into the same
state (the reboot scenario) and the cached image stays pristine.
"""

from __future__ import annotations

import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import GuestError
from ..tools import clean_env, require_tool, run
from .accel import QEMU, Machine
from .image import GuestImage

RESULTS_DISK_MB = 256
KERNEL_ARGS = (
    "root=/dev/vda rw console=ttyS0,115200 panic=-1 "
    "selinux=1 security=selinux enforcing=1 "
    "systemd.unit=sitepolicy-e2e.target systemd.show_status=0"
)


@dataclass(frozen=True)
class BootResult:
    results: Path
    console_log: Path
    seconds: float
    run_rc: int


def new_overlay(image: GuestImage, path: Path) -> Path:
    """A fresh copy-on-write root disk over the cached image."""
    path.unlink(missing_ok=True)
    run(
        [
            "qemu-img",
            "create",
            "-q",
            "-f",
            "qcow2",
            "-F",
            "raw",
            "-b",
            image.root.resolve(),
            path,
        ],
        timeout=60,
        clean=True,
    )
    return path


def _pack_payload(payload_dir: Path, disk: Path) -> None:
    with tarfile.open(disk, "w", format=tarfile.GNU_FORMAT) as tar:
        for entry in sorted(payload_dir.iterdir()):
            tar.add(entry, arcname=entry.name)
    size = disk.stat().st_size
    with disk.open("r+b") as fh:  # whole MiB: a block device is read in sectors
        fh.truncate(((size >> 20) + 1) << 20)


def _extract(archive: Path, dest: Path) -> None:
    """Unpack the guest's results, refusing anything but plain files and directories inside dest."""
    with tarfile.open(archive, "r:") as tar:
        members = tar.getmembers()
        for member in members:
            parts = Path(member.name).parts
            if member.name.startswith("/") or ".." in parts or not (member.isfile() or member.isdir()):
                raise GuestError(f"unexpected entry in the guest's results: {member.name!r}")
        tar.extractall(dest, members=members)


def _tail(path: Path, lines: int = 40) -> str:
    if not path.is_file():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def boot(
    image: GuestImage,
    root_disk: Path,
    payload_dir: Path,
    work_dir: Path,
    machine: Machine,
    *,
    name: str = "boot",
    timeout: float = 1200.0,
    kernel_args: str = KERNEL_ARGS,
) -> BootResult:
    """Boot once: the guest runs payload_dir/run.sh, writes results, powers off.

    Returns the unpacked results directory; raises GuestError if the guest hangs past `timeout`,
    crashes, or comes back without results.
    """
    qemu = require_tool(QEMU)
    work_dir.mkdir(parents=True, exist_ok=True)
    payload_disk = work_dir / f"{name}-payload.tar"
    results_disk = work_dir / f"{name}-results.img"
    console = work_dir / f"{name}-console.log"
    results = work_dir / f"{name}-results"
    _pack_payload(payload_dir, payload_disk)
    results_disk.unlink(missing_ok=True)
    with results_disk.open("wb") as fh:
        fh.truncate(RESULTS_DISK_MB << 20)
    console.unlink(missing_ok=True)
    guest_timeout = max(60, int(timeout) - 120)
    argv = [
        qemu,
        "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        *machine.qemu_args(),
        "-kernel", str(image.kernel),
        "-initrd", str(image.initrd),
        "-append", f"{kernel_args} sitepolicy.timeout={guest_timeout}",
        "-drive", f"file={root_disk},if=none,id=root,format=qcow2,discard=unmap",
        "-device", "virtio-blk-pci,drive=root",
        "-drive", f"file={payload_disk},if=none,id=payload,format=raw,readonly=on",
        "-device", "virtio-blk-pci,drive=payload,serial=e2e-payload",
        "-drive", f"file={results_disk},if=none,id=results,format=raw",
        "-device", "virtio-blk-pci,drive=results,serial=e2e-results",
        "-device", "virtio-rng-pci",
        "-nic", "none",
        "-serial", f"file:{console}",
    ]  # fmt: skip
    started = time.monotonic()
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=clean_env(),
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise GuestError(f"guest '{name}' did not power off within {timeout:.0f} s", _tail(console)) from None
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise GuestError(f"qemu exited with {proc.returncode}: {out.strip()}", _tail(console))
    results.mkdir(parents=True, exist_ok=True)
    try:
        _extract(results_disk, results)
    except (tarfile.TarError, GuestError) as exc:
        raise GuestError(f"guest '{name}' wrote no results ({exc})", _tail(console)) from exc
    rc_file = results / "run.rc"
    if not rc_file.is_file():
        raise GuestError(f"guest '{name}' results have no run.rc", _tail(console))
    return BootResult(
        results=results,
        console_log=console,
        seconds=seconds,
        run_rc=int(rc_file.read_text()),
    )
