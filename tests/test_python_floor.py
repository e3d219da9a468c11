"""The code that runs on a build host or a repository server must run on Python 3.9 (EL 9's python3).

vermin reads the source and reports every construct newer than the floor (``zip(strict=)``,
``match``, 3.10+ library calls...). Annotations are not evaluated (every module has
``from __future__ import annotations``), so ``X | None`` in an annotation is fine.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
FLOOR = "3.9"
# Everything that runs on a host, a build machine or a repository server, and the tests that drive it.
CHECKED = ("sitepolicy", "tasks.py", "tests", "benchmarks")


def vermin(*paths: str | Path) -> subprocess.CompletedProcess[str]:
    # vermin has no __main__: call its entry point in this interpreter (the venv's pinned vermin).
    argv = [
        sys.executable,
        "-c",
        "import sys, vermin; sys.exit(vermin.main())",
        f"-t={FLOOR}-",
        "--violations",
        "--no-tips",
        "--no-parse-comments",
    ]
    return subprocess.run([*argv, *map(str, paths)], cwd=PROJECT, capture_output=True, text=True, check=False)


def test_no_construct_newer_than_the_floor() -> None:
    proc = vermin(*CHECKED)
    assert proc.returncode == 0, f"constructs newer than Python {FLOOR}:\n{proc.stdout}{proc.stderr}"


def test_the_check_sees_a_310_construct(tmp_path: Path) -> None:
    """The check above is real: vermin fails on zip(strict=) (the crash EL 9's python3 saw)."""
    bad = tmp_path / "bad.py"
    bad.write_text("from __future__ import annotations\n\n\ndef pairs(a, b):\n    return zip(a, b, strict=True)\n")
    proc = vermin(bad)
    assert proc.returncode != 0
    assert "zip(strict)" in proc.stdout
