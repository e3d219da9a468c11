"""Run many package builds at once: a thread per rpmbuild (the work is in the subprocesses)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from ..errors import SitepolicyError


@dataclass(frozen=True)
class Job:
    """One package to build: its name for the display, and the build itself."""

    name: str
    release: str
    run: Callable[[], tuple[Path, ...]]


@dataclass(frozen=True)
class Result:
    name: str
    outcome: Outcome
    release: str
    outputs: tuple[Path, ...]
    seconds: float
    error: SitepolicyError | None = None


class Outcome(Enum):
    BUILT = "built"
    UP_TO_DATE = "up to date"
    FAILED = "FAILED"


def run_jobs(jobs: Sequence[Job], workers: int, report: Callable[[str], None]) -> list[Result]:
    """Build every job, ``workers`` at a time; report one line per finished job, in finishing order.

    A failed job does not stop the others; its error is in its result.
    """
    results: list[Result] = []
    total = len(jobs)

    def timed(job: Job) -> Result:
        start = time.monotonic()
        try:
            outputs = job.run()
        except SitepolicyError as exc:
            return Result(job.name, Outcome.FAILED, job.release, (), time.monotonic() - start, exc)
        except OSError as exc:  # a full disk or an unwritable build tree: report it like a tool failure
            error = SitepolicyError(f"cannot write the outputs of {job.name}: {exc}")
            return Result(job.name, Outcome.FAILED, job.release, (), time.monotonic() - start, error)
        return Result(job.name, Outcome.BUILT, job.release, outputs, time.monotonic() - start)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(timed, job) for job in jobs]
        for done, future in enumerate(as_completed(futures), 1):
            result = future.result()
            results.append(result)
            width = len(str(total))
            line = f"[{done:>{width}}/{total}] {result.outcome.value:<6} {result.name} (release {result.release}, "
            report(line + f"{result.seconds:.1f} s)")
            if result.error is not None:
                report("    " + str(result.error).splitlines()[0])
    return results
