"""A verify result kept by the hashes of what it covered, so an unchanged set is not relinked.

The key covers the module files (sha256), the site definitions (paths are proven in proof 6), the
policy store and the host's linked base policy it was linked against, and the verify code itself.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .modules import SiteModule
from .policyroot import live_store
from .report import Report

_CODE = Path(__file__).resolve().parent


def _site_fields(module: SiteModule) -> dict[str, str]:
    fields = dataclasses.asdict(module.site)
    fields.pop("source", None)
    return {k: repr(v) for k, v in sorted(fields.items())}


def cache_key(
    modules: Sequence[SiteModule], store: str, live_root: Path = Path("/"), base: Path | None = None
) -> str:
    digest = hashlib.sha256()
    payload = {
        "store": store,
        "base": hashlib.sha256((live_store(store, live_root) / "policy.kern").read_bytes()).hexdigest(),
        "code": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(_CODE.glob("*.py"))},
        "shared_base": hashlib.sha256(base.read_bytes()).hexdigest() if base is not None else None,
        "modules": sorted((m.site.names.module, m.digest, json.dumps(_site_fields(m))) for m in modules),
    }
    digest.update(json.dumps(payload, sort_keys=True).encode())
    return digest.hexdigest()


def load(directory: Path, key: str) -> Report | None:
    path = directory / f"{key}.json"
    if not path.is_file():
        return None
    try:
        return Report.from_dict(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError):
        return None  # a damaged entry is recomputed


def store(directory: Path, key: str, report: Report) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=directory, prefix=f".{key}.", delete=False) as tmp:
        tmp.write(report.to_json(indent=None))
    Path(tmp.name).rename(directory / f"{key}.json")
