"""Which qemu accelerator really runs a guest here: KVM when a probe guest proves it, else TCG.

`/dev/kvm` existing, and even a paused `-S` machine starting and quitting, prove nothing: on a PVM
host a real guest under `-accel kvm` can sit silent for minutes (FACTS.md). The probe therefore
boots the guest's own kernel with a tiny initramfs whose /init prints a nonce on the serial console
and exits, and waits (bounded) for that line. Seeing it proves the vCPU ran the kernel all the way
to user space; anything else (qemu refusing to start, a silent console, a kernel that never reaches
/init) falls back to TCG, and the reason is kept for the report.
"""

from __future__ import annotations

import os
import secrets
import selectors
import struct
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from ..tools import clean_env, require_tool

QEMU = "qemu-system-x86_64"
PROBE_TIMEOUT = 20.0
_LOAD_ADDRESS = 0x400000


class Accel(Enum):
    KVM = "kvm"
    TCG = "tcg"


def accel_args(accel: Accel) -> list[str]:
    if accel is Accel.KVM:
        return ["-accel", "kvm", "-cpu", "host"]
    return ["-accel", "tcg,thread=multi,tb-size=256", "-cpu", "max"]


@dataclass(frozen=True)
class Machine:
    accel: Accel
    reason: str = ""
    smp: int = 2
    memory_mb: int = 1024

    def qemu_args(self) -> list[str]:
        return [*accel_args(self.accel), "-smp", str(self.smp), "-m", str(self.memory_mb)]

    def describe(self) -> str:
        return f"{self.accel.value} ({self.reason})" if self.reason else self.accel.value


@dataclass(frozen=True)
class ProbeResult:
    works: bool
    reason: str
    seconds: float
    console: str


def probe_init(message: bytes) -> bytes:
    """A static x86-64 Linux executable that writes `message` to stdout and exits 0.

    Hand-assembled (no compiler needed), position-dependent at 0x400000, one PT_LOAD segment:
        mov eax, 1; mov edi, 1; lea rsi, [rip+msg]; mov edx, len; syscall   # write(1, msg, len)
        mov eax, 60; xor edi, edi; syscall                                   # exit(0)
    As the guest's /init, exiting makes the kernel panic, and `panic=-1` + `-no-reboot` end qemu.
    """
    head = 64 + 56
    code_before_lea = bytes.fromhex("b801000000") + bytes.fromhex("bf01000000")
    tail = bytes.fromhex("ba") + struct.pack("<I", len(message)) + bytes.fromhex("0f05")
    tail += bytes.fromhex("b83c000000") + bytes.fromhex("31ff") + bytes.fromhex("0f05")
    # rip-relative: the displacement counts from the end of the lea instruction.
    code = code_before_lea + bytes.fromhex("488d35") + struct.pack("<i", len(tail)) + tail
    body = code + message
    entry = _LOAD_ADDRESS + head
    size = head + len(body)
    elf_header = (
        b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)  # 64-bit, little endian, version 1, System V
        + struct.pack("<HHIQQQIHHHHHH", 2, 0x3E, 1, entry, 64, 0, 0, 64, 56, 1, 0, 0, 0)
    )  # fmt: skip
    program_header = struct.pack("<IIQQQQQQ", 1, 5, 0, _LOAD_ADDRESS, _LOAD_ADDRESS, size, size, 0x1000)
    return elf_header + program_header + body


def _cpio_entry(name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0), ino: int = 0) -> bytes:
    """One entry of a `newc` cpio archive (what the kernel unpacks as an initramfs)."""
    encoded = name.encode() + b"\0"
    fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(encoded), 0)
    header = b"070701" + b"".join(b"%08X" % f for f in fields)
    out = header + encoded
    out += bytes(-len(out) % 4)
    out += data + bytes(-len(data) % 4)
    return out


def probe_initramfs(message: bytes) -> bytes:
    """An initramfs holding /dev/console and /init (which prints `message`)."""
    return (
        _cpio_entry("dev", 0o040755, ino=1)
        + _cpio_entry("dev/console", 0o020600, rdev=(5, 1), ino=2)
        + _cpio_entry("init", 0o100755, probe_init(message), ino=3)
        + _cpio_entry("TRAILER!!!", 0)
    )


def probe(
    accel: Accel,
    kernel: Path,
    *,
    timeout: float = PROBE_TIMEOUT,
    extra_args: Sequence[str] = (),
) -> ProbeResult:
    """Boot `kernel` with the probe initramfs under `accel`; works only if the nonce comes back.

    The machine is killed at `timeout` whatever it is doing. `extra_args` go to qemu (tests use
    `-S` to stand in for a guest that never runs).
    """
    nonce = secrets.token_hex(8)
    message = f"sitepolicy-accel-probe {nonce} reached user space\n".encode()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sitepolicy-probe-") as tmp:
        initrd = Path(tmp) / "probe.cpio"
        initrd.write_bytes(probe_initramfs(message))
        argv = [
            require_tool(QEMU),
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            *accel_args(accel), "-smp", "1", "-m", "256",
            "-kernel", str(kernel), "-initrd", str(initrd),
            "-append", "console=ttyS0,115200 panic=-1 rdinit=/init",
            "-serial", "stdio",
            *extra_args,
        ]  # fmt: skip
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=clean_env(),
            start_new_session=True,
        )
        output = b""
        seen = False
        assert proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            while not seen:
                left = timeout - (time.monotonic() - started)
                if left <= 0 or not sel.select(left):
                    break
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:  # qemu exited
                    break
                output += chunk
                seen = nonce.encode() in output
        seconds = time.monotonic() - started
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()
    console = output.decode(errors="replace")
    name = f"qemu -accel {accel.value}"
    if seen:
        return ProbeResult(True, f"probe guest reached user space in {seconds:.1f} s", seconds, console)
    last = console.strip().splitlines()[-1:] or [""]
    if seconds < timeout and proc.returncode not in (None, 0) and "Linux version" not in console:
        return ProbeResult(False, f"{name} failed to start: {last[0][:200]}", seconds, console)
    if not console.strip():
        return ProbeResult(False, f"{name}: the probe guest wrote nothing to its console in {timeout:.0f} s", seconds,
                           console)  # fmt: skip
    return ProbeResult(
        False, f"{name}: the probe guest printed boot output but never reached user space ({last[0][:120]})",
        seconds, console,
    )  # fmt: skip


def probe_kvm(kernel: Path, timeout: float = PROBE_TIMEOUT) -> ProbeResult:
    if not os.path.exists("/dev/kvm"):
        return ProbeResult(False, "/dev/kvm does not exist", 0.0, "")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return ProbeResult(False, "/dev/kvm is not readable and writable by this user", 0.0, "")
    return probe(Accel.KVM, kernel, timeout=timeout)


def detect_machine(kernel: Path, accel: Accel | None = None) -> Machine:
    """KVM when a probe guest proves it runs, else multi-threaded TCG; the reason says which and why."""
    if accel is not None:
        return Machine(accel=accel, reason="asked for with --accel")
    result = probe_kvm(kernel)
    if result.works:
        return Machine(accel=Accel.KVM, reason=result.reason)
    return Machine(accel=Accel.TCG, reason=f"KVM probe failed: {result.reason}")
