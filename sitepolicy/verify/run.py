"""verify from end to end: modules -> one semodule call in a private root -> the proofs -> report;
and the verify task (and the verify after build-site) on a Project."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..definition.site import Site
from ..errors import SitepolicyError
from ..package.run import build
from ..project import Project
from . import cache
from .access import PolicyIndex
from .modules import SiteModule, module_file_contexts, module_types, modules_from_rpms, selinux_rpm
from .policyroot import LinkedPolicy, link_policy
from .proofs import (
    INIT,
    WEB_SERVER,
    Finding,
    Labeler,
    Scope,
    SitePaths,
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
from .report import Report, render_text


class VerifyFailed(SitepolicyError):
    """At least one proof failed; the message is the readable report."""

    exit_code = 3


@dataclass(frozen=True)
class VerifyResult:
    report: Report
    relinked: bool  # False: the result came from the cache, no semodule ran
    key: str
    policy_root: Path


def scopes_of(
    index: PolicyIndex, modules: Sequence[SiteModule], workdir: Path, store_modules: Path | None = None
) -> list[Scope]:
    """Each site's types as its compiled module declares them; its domains are those the linked policy
    puts in the domain attribute."""
    domains = index.attribute_members("domain")
    scopes = []
    for module in modules:
        declared = module_types(module, workdir / "cil", store_modules)
        scopes.append(scope_of(module.site, declared, [t for t in declared if t in domains]))
    return scopes


def prove_all(linked: LinkedPolicy, modules: Sequence[SiteModule], workdir: Path) -> tuple[Finding, ...]:
    import setools

    index = PolicyIndex(setools.SELinuxPolicy(str(linked.policy_kern)))
    labeler = Labeler(str(linked.file_contexts))
    sites = [m.site for m in modules]
    scopes = scopes_of(index, modules, workdir, linked.store_modules)
    index.preload([*(d for s in scopes for d in s.domains), WEB_SERVER, INIT])
    flows = {s.name: flow_sets(index, s) for s in scopes}
    pairs = prove_pairs(index, scopes, flows)
    paths = SitePaths(sites)
    findings: list[Finding] = []
    for module, scope in zip(modules, scopes):
        site = module.site
        findings += prove_entry(index, site)
        findings += prove_domains(index, scope)
        findings.append(prove_web_content(index, scope))
        findings += prove_needs(index, site)
        findings += prove_network(index, scope)
        findings += prove_file_contexts(labeler, site, module_file_contexts(module, workdir / "fc"), paths)
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


# --------------------------------------------------------------------------- the verify task


def can_verify(project: Project) -> bool:
    """verify links against this host's own base policy: the target's store must be installed here."""
    target = project.target
    return target == project.host and (Path("/var/lib/selinux") / target.store / "active/policy.kern").is_file()


def _built_modules(project: Project, sites: Sequence[Site]) -> list[SiteModule]:
    return modules_from_rpms(project.layout, sites, project.layout.verify_dir / "modules")


def verify(project: Project, names: Sequence[str], use_cache: bool = True) -> VerifyResult:
    """Prove every site in sites.d/ isolated (building any whose RPMs are missing); report ``names`` only if given."""
    sites = project.require_sites()
    chosen = project.select(names) if names else list(sites)
    target = project.target
    if not can_verify(project):
        raise SitepolicyError(
            f"verify links against this host's own {target.store} policy store; this host "
            f"({project.host.name}) cannot verify target {target.name}"
        )
    layout = project.layout
    missing = [s for s in sites if selinux_rpm(layout, s) is None]
    if missing:  # built like build-site builds them: releases from the lock, the runtime with them
        build(project, [s.name for s in missing], False, None)
    result = verify_modules(_built_modules(project, sites), target.store, layout.verify_dir, use_cache)
    if names:
        report = result.report.restricted_to([s.name for s in chosen])
        result = VerifyResult(report, result.relinked, result.key, result.policy_root)
    return result


def verify_after_build(project: Project, headers: str | None) -> VerifyResult | None:
    """After build-site: prove every built site of the target, or None when this host cannot link them."""
    if headers or not can_verify(project):
        return None
    sites = [s for s in project.sites if selinux_rpm(project.layout, s) is not None]
    if not sites:
        return None
    return verify_modules(_built_modules(project, sites), project.target.store, project.layout.verify_dir)


def verify_text(result: VerifyResult, as_json: bool = False) -> str:
    return result.report.to_json().rstrip("\n") if as_json else render_text(result.report, result.relinked)


def check_verified(result: VerifyResult) -> None:
    if not result.report.ok:
        raise VerifyFailed(f"verify failed: {len(result.report.failures)} check(s) broken; the rules are listed above")
