"""verify from end to end: modules -> one semodule call in a private root -> the proofs -> report."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import SitepolicyError
from . import cache
from .access import PolicyIndex
from .modules import SiteModule, module_file_contexts, module_types
from .policyroot import LinkedPolicy, link_policy
from .proofs import (
    INIT,
    WEB_SERVER,
    Finding,
    Labeler,
    Scope,
    flow_sets,
    prove_deputy,
    prove_domains,
    prove_entry,
    prove_file_contexts,
    prove_needs,
    prove_network,
    prove_pairs,
    prove_web_content,
    prove_web_server,
    scope_of,
)
from .report import Report


class VerifyFailed(SitepolicyError):
    """At least one proof failed; the message is the readable report."""

    exit_code = 3


@dataclass(frozen=True)
class VerifyResult:
    report: Report
    relinked: bool  # False: the result came from the cache, no semodule ran
    key: str
    policy_root: Path


def scopes_of(index: PolicyIndex, modules: Sequence[SiteModule], workdir: Path) -> list[Scope]:
    """Each site's types as its compiled module declares them; its domains are those the linked policy
    puts in the domain attribute."""
    domains = index.attribute_members("domain")
    scopes = []
    for module in modules:
        declared = module_types(module, workdir / "cil")
        scopes.append(scope_of(module.site, declared, [t for t in declared if t in domains]))
    return scopes


def prove_all(linked: LinkedPolicy, modules: Sequence[SiteModule], workdir: Path) -> tuple[Finding, ...]:
    import setools

    index = PolicyIndex(setools.SELinuxPolicy(str(linked.policy_kern)))
    labeler = Labeler(str(linked.file_contexts))
    sites = [m.site for m in modules]
    scopes = scopes_of(index, modules, workdir)
    index.preload([*(d for s in scopes for d in s.domains), WEB_SERVER, INIT])
    flows = {s.name: flow_sets(index, s) for s in scopes}
    pairs = prove_pairs(index, scopes, flows)
    findings: list[Finding] = []
    for module, scope in zip(modules, scopes):
        site = module.site
        findings += prove_entry(index, site)
        findings += prove_domains(index, scope)
        findings.append(prove_web_content(index, scope))
        findings += prove_needs(index, site)
        findings += prove_network(index, scope)
        findings += prove_file_contexts(labeler, site, module_file_contexts(module, workdir / "fc"), sites)
        findings += prove_web_server(index, scope)
        findings.append(prove_deputy(index, scope, scopes))
        for other in sites:
            if other.name != site.name:
                findings += pairs[(site.name, other.name)]
    return tuple(findings)


def verify_modules(
    modules: Sequence[SiteModule], store: str, workdir: Path, use_cache: bool = True, live_root: Path = Path("/")
) -> VerifyResult:
    """Link ``modules`` into a private copy of the host's ``store`` under ``workdir`` and prove them."""
    if not modules:
        raise SitepolicyError("no site module to verify: add a definition to sites.d/ (invoke new-site NAME)")
    key = cache.cache_key(modules, store, live_root)
    root = workdir / "policy-root"
    if use_cache:
        cached = cache.load(workdir / "results", key)
        if cached is not None:
            return VerifyResult(cached, relinked=False, key=key, policy_root=root)
    linked = link_policy(root, store, [m.path for m in modules], live_root)
    start = time.monotonic()
    findings = prove_all(linked, modules, workdir)
    report = Report(tuple(m.site.name for m in modules), store, findings, linked.seconds, time.monotonic() - start)
    cache.store(workdir / "results", key, report)
    return VerifyResult(report, relinked=True, key=key, policy_root=root)
