"""The verify gate: packages reach build/<target>/rpms only after verify passed, or with --no-verify.

A build moves its packages into build/<target>/unverified/{rpms,srpms}; each package's build record
(manifest.json) lists them as its ``outputs`` and says ``verify: pending``. A passing verify promotes
every pending package of the target into build/<target>/{rpms,srpms} (replacing the package's
previously promoted files, listed as ``promoted``) and records each promoted file's sha256 with the
verdict in build/<target>/verified.json. A failed verify promotes nothing: rpms/ keeps the last set
that passed. ``--no-verify`` promotes at once and records ``skipped (--no-verify)``.

publish reads verified.json: a package whose exact bytes have no ``passed`` entry is refused unless
``--allow-unverified``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import SitepolicyError, TargetError
from ..targets import Target

UNVERIFIED = "unverified"  # build/<target>/unverified/{rpms,srpms}
RECORD = "verified.json"
PASSED = "passed"
# A site whose definition asks for a trial run (mode: permissive): every proof passed, but its domain denies
# nothing. publish refuses such packages unless --allow-permissive.
PASSED_PERMISSIVE = "passed (trial/permissive, not isolated)"
SKIPPED = "skipped (--no-verify)"
PENDING = "pending"  # a build record's verify while its outputs wait in unverified/


class UnverifiedError(SitepolicyError):
    """publish was given packages without a passing verify record."""

    exit_code = 3


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class Verdict:
    """What verify said about one package file (by its exact bytes)."""

    verify: str  # PASSED or SKIPPED
    policy: str  # the policy it was linked against ("" when skipped)
    when: str


def _read_json(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_json(path: Path, data: dict[str, object], sort_keys: bool = True) -> None:
    """Atomically, and only when the text changes: a verify that changes nothing leaves build/ as it was."""
    text = json.dumps(data, indent=2, sort_keys=sort_keys) + "\n"
    try:
        if path.read_text() == text:
            return
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    partial.write_text(text)
    os.replace(partial, path)


def read_record(target_root: Path) -> dict[str, Verdict]:
    """sha256 -> verdict, for every package file this target's builds promoted."""
    packages = _read_json(target_root / RECORD).get("packages", {})
    out: dict[str, Verdict] = {}
    if isinstance(packages, dict):
        for entry in packages.values():
            if isinstance(entry, dict) and isinstance(entry.get("sha256"), str):
                out[entry["sha256"]] = Verdict(
                    str(entry.get("verify", "")), str(entry.get("policy", "")), str(entry.get("when", ""))
                )
    return out


def _record(target_root: Path, files: Iterable[Path], verdict: str, policy: str) -> None:
    path = target_root / RECORD
    data = _read_json(path)
    packages = data.get("packages")
    if not isinstance(packages, dict):
        packages = {}
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for file in files:
        entry = {"sha256": sha256(file), "verify": verdict, "policy": policy}
        old = packages.get(file.name)
        if isinstance(old, dict) and all(old.get(k) == v for k, v in entry.items()):
            continue  # the same verdict on the same bytes: keep when it was first given
        packages[file.name] = {**entry, "when": when}
    # only what is still on disk: a pruned or replaced file's entry goes with it
    live = {p.name for d in ("rpms", "srpms") for p in (target_root / d).glob("*.rpm")}
    data["packages"] = {name: entry for name, entry in packages.items() if name in live}
    _write_json(path, data)


def _strings(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def release(target_root: Path, manifests: Iterable[Path], verdict: str, policy: str) -> list[Path]:
    """Record ``verdict`` for the current outputs of ``manifests`` (build records), moving any still in
    unverified/ into rpms/ and srpms/ (replacing the package's previously released files). No record: nothing
    is written (a build that never started leaves build/ as it was)."""
    manifests = list(manifests)
    if not manifests:
        return []
    released: list[Path] = []
    for manifest_path in manifests:
        manifest = _read_json(manifest_path)
        outputs = _strings(manifest.get("outputs"))
        for old in _strings(manifest.get("promoted")):
            if old not in outputs:
                (target_root / str(old)).unlink(missing_ok=True)
        finals = []
        for relative in outputs:
            source = target_root / relative
            final = target_root / ("srpms" if source.name.endswith(".src.rpm") else "rpms") / source.name
            if source != final:
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(source, final)
            finals.append(final)
        manifest["outputs"] = manifest["promoted"] = [str(p.relative_to(target_root)) for p in finals]
        manifest["verify"] = verdict
        _write_json(manifest_path, manifest, sort_keys=False)  # keys in BuildRecord.write's order
        released += finals
    _record(target_root, released, verdict, policy)
    for sub in ("unverified/rpms", "unverified/srpms", "unverified"):
        directory = target_root / sub
        if directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()
    return released


def check_publishable(
    target_root: Path, candidates: list[Path], allow_unverified: bool, allow_permissive: bool = False
) -> None:
    """Refuse packages whose exact bytes never passed verify (unless ``allow_unverified``). A file is looked
    up by its sha256 in every target's record under build/ (``--rpm`` may name another target's package:
    the repository then refuses it for its target, with that reason)."""
    record: dict[str, Verdict] = {}
    for other in sorted(target_root.parent.glob(f"*/{RECORD}")):
        record.update(read_record(other.parent))
    record.update(read_record(target_root))
    refused, trial = [], []
    for path in candidates:
        verdict = record.get(sha256(path))
        if verdict is not None and verdict.verify == PASSED_PERMISSIVE:
            if not allow_permissive:
                trial.append(path.name)
            continue
        if allow_unverified:
            continue
        if verdict is None or verdict.verify != PASSED:
            why = "built with --no-verify" if verdict is not None else "no verify record"
            refused.append(f"{path.name} ({why})")
    if trial:
        raise UnverifiedError(
            "refusing to publish a trial run (mode: permissive, NOT isolated: its domain denies nothing): "
            + ", ".join(trial)
            + "; set the site enforcing (drop mode: permissive, invoke audit --apply first), or pass --allow-permissive"
        )
    if refused:
        raise UnverifiedError(
            "refusing to publish packages without a passing verify: "
            + ", ".join(refused)
            + f"; verify them (invoke verify --target {target_root.name} ..., see README) or pass --allow-unverified"
        )


@dataclass(frozen=True)
class PolicySource:
    """The base policy verify links the site modules into (it links into a copy, never into this)."""

    live_root: Path  # "/" for this host's own store, else --policy-root
    description: str


def policy_source(target: Target, policy_root: str | None, host_name: str | None) -> PolicySource | None:
    """--policy-root ROOT, else this host's own store when the host runs the target's OS; None: neither."""
    store = target.store
    if policy_root:
        root = Path(policy_root).resolve()
        if not (root / "var/lib/selinux" / store / "active").is_dir() or not (root / "etc/selinux" / store).is_dir():
            raise TargetError(
                f"--policy-root {policy_root}: no {store} policy store in it (expected "
                f"ROOT/var/lib/selinux/{store}/active and ROOT/etc/selinux/{store}, a linked {target.name} policy)"
            )
        return PolicySource(root, f"the {target.name} policy at {root} (--policy-root, linked into a copy)")
    if host_name == target.name and (Path("/var/lib/selinux") / store / "active/policy.kern").is_file():
        return PolicySource(Path("/"), f"this host's {store} policy store (linked into a copy)")
    return None


def require_source(target: Target, source: PolicySource | None, host_name: str | None, task: str) -> PolicySource:
    """A build or verify that cannot be verified is refused, naming both ways out."""
    if source is not None:
        return source
    host = f"this host ({host_name})" if host_name else "this host"
    raise TargetError(
        f"{task} --target {target.name} cannot be verified here: {host} does not run the {target.name} "
        f"policy and no --policy-root was given. Pass --policy-root ROOT (a linked {target.name} policy: "
        f"ROOT/etc/selinux and ROOT/var/lib/selinux/{target.store}) to verify against it, or --no-verify to "
        "build packages that skip the proof (recorded in BUILDINFO and the build record; publish refuses "
        "them without --allow-unverified)"
    )
