"""verify from end to end: modules -> one semodule call in a private root -> the proofs -> report;
and the verify task (and the verify after build-site) on a Project."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..definition.names import RUNTIME_PACKAGE
from ..definition.site import Site
from ..errors import SitepolicyError, TargetError
from ..package import gate
from ..package.gate import PolicySource, policy_source, require_source
from ..package.run import build
from ..project import MANIFEST, Project
from . import cache
from .access import PolicyIndex
from .allowlist import MAIL_DOMAIN
from .modules import (
    SiteModule,
    base_from_runtime,
    module_file_contexts,
    module_types,
    modules_from_rpms,
    selinux_rpm,
)
from .policyroot import LinkedPolicy, link_policy
from .proofs import (
    INIT,
    WEB_SERVER,
    Finding,
    Labeler,
    Scope,
    SitePaths,
    flow_sets,
    mail_domains,
    prove_deputy,
    prove_domains,
    prove_entry,
    prove_file_contexts,
    prove_mail,
    prove_needs,
    prove_network,
    prove_pairs,
    prove_web_content,
    prove_web_server,
    scope_of,
)
from .report import Report, render_text, trial_sites


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
    mail = any(s.mail for s in sites)
    # One pass over the rules for every subject, the mail domain included (proof 10 needs another pass only if
    # it may enter further domains under NoNewPrivileges, which no target's allows).
    index.preload([*(d for s in scopes for d in s.domains), WEB_SERVER, INIT, *([MAIL_DOMAIN] if mail else [])])
    flows = {s.name: flow_sets(index, s) for s in scopes}
    pairs = prove_pairs(index, scopes, flows)
    paths = SitePaths(sites)
    reached = mail_domains(index) if mail else ()
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
        findings += prove_mail(index, scope, scopes, reached)
        for other in sites:
            if other.name != site.name:
                findings += pairs[(site.name, other.name)]
    return tuple(findings)


def verify_modules(
    modules: Sequence[SiteModule],
    store: str,
    workdir: Path,
    use_cache: bool = True,
    live_root: Path = Path("/"),
    base: Path | None = None,
) -> VerifyResult:
    """Link ``modules`` into a private copy of the host's ``store`` under ``workdir`` and prove them.
    ``base``: the shared base module the sites' CIL modules need (issue 11), linked in the same call."""
    if not modules:
        raise SitepolicyError("no site module to verify: add a definition to sites.d/ (invoke new-site NAME)")
    key = cache.cache_key(modules, store, live_root, base)
    root = workdir / "policy-root"
    if use_cache:
        cached = cache.load(workdir / "results", key)
        if cached is not None:
            return VerifyResult(cached, relinked=False, key=key, policy_root=root)
    extra = [base] if base is not None else []
    linked = link_policy(root, store, [*extra, *(m.path for m in modules)], live_root)
    start = time.monotonic()
    findings = prove_all(linked, modules, workdir)
    report = Report(tuple(m.site.name for m in modules), store, findings, linked.seconds, time.monotonic() - start)
    cache.store(workdir / "results", key, report)
    return VerifyResult(report, relinked=True, key=key, policy_root=root)


# --------------------------------------------------------------------------- the verify task


def _built_modules(project: Project, sites: Sequence[Site]) -> list[SiteModule]:
    return modules_from_rpms(project.layout, sites, project.layout.verify_dir / "modules")


def verify_source(project: Project, policy_root: str | None, no_verify: bool, task: str) -> PolicySource | None:
    """The policy a build or verify of ``project.target`` links against: --policy-root, else this host's own
    store when the host runs the target's OS. None only with ``no_verify``; a build that cannot be
    verified is refused (package/gate.py says both ways out)."""
    if no_verify:
        if policy_root:
            raise SitepolicyError("--no-verify and --policy-root: choose one (the root is only for verify)")
        return None
    try:
        host: str | None = project.host.name
    except TargetError:
        host = None
    return require_source(project.target, policy_source(project.target, policy_root, host), host, task)


def _records(project: Project, sites: Sequence[Site]) -> list[Path]:
    """The build records (manifest.json) of the runtime and of ``sites`` that were built."""
    layout = project.layout
    dirs = [layout.runtime_dir, *(layout.site_dir(s) for s in sites)]
    return [d / MANIFEST for d in dirs if (d / MANIFEST).is_file()]


def current_outputs(project: Project, sites: Sequence[Site]) -> list[Path]:
    """The current files of the runtime and ``sites``: in rpms/ and srpms/ once released, else in unverified/."""
    layout = project.layout
    records = [layout.record(None), *(layout.record(s) for s in sites)]
    return [path for record in records if record is not None for path in record.outputs]


def verify_and_release(project: Project, source: PolicySource, use_cache: bool = True) -> VerifyResult:
    """Prove every built site of the target against ``source``; when every proof passes, release the
    packages waiting in unverified/ into rpms/ (package/gate.py)."""
    layout = project.layout
    sites = [s for s in project.sites if selinux_rpm(layout, s) is not None]
    if not sites:
        raise SitepolicyError(f"no site is built for {project.target.name}: nothing to verify")
    modules = _built_modules(project, sites)
    base = base_from_runtime(layout, layout.verify_dir / "modules")
    if base is None and any(m.is_cil for m in modules):
        raise SitepolicyError(
            f"no {RUNTIME_PACKAGE} is built for {project.target.name}: the sites' CIL modules link only with its "
            "base module; build it (build-site builds it with the sites)"
        )
    result = verify_modules(modules, project.target.store, layout.verify_dir, use_cache, source.live_root, base)
    if result.report.ok:
        trial = set(trial_sites(result.report))
        enforcing = [s for s in sites if s.name not in trial]
        gate.release(layout.root, _records(project, enforcing), gate.PASSED, source.description)
        trials = [layout.site_dir(s) / MANIFEST for s in sites if s.name in trial]
        gate.release(layout.root, [p for p in trials if p.is_file()], gate.PASSED_PERMISSIVE, source.description)
    return result


def verify_built(project: Project, source: PolicySource | None, sites: Sequence[Site]) -> VerifyResult | None:
    """After build-site: with no ``source`` (--no-verify) release the builds of ``sites`` unverified, as
    such; else verify every built site against ``source`` and release them all on a pass."""
    if source is None:
        gate.release(project.layout.root, _records(project, sites), gate.SKIPPED, "")
        return None
    return verify_and_release(project, source)


def verify(
    project: Project,
    names: Sequence[str],
    use_cache: bool = True,
    headers: str | None = None,
    policy_root: str | None = None,
    policy_version: str | None = None,
) -> tuple[VerifyResult, PolicySource]:
    """Prove every site in sites.d/ isolated against the target's policy (this host's store, or
    ``policy_root``), building any whose RPMs are missing (with ``headers``); report ``names`` only if
    given. A pass releases the packages waiting in unverified/ into rpms/."""
    sites = project.require_sites()
    chosen = project.select(names) if names else list(sites)
    source = verify_source(project, policy_root, False, "verify")
    assert source is not None
    missing = [s for s in sites if selinux_rpm(project.layout, s) is None]
    if missing:  # built like build-site builds them: releases from the lock, the runtime with them
        build(project, [s.name for s in missing], False, headers, policy_version=policy_version)
    result = verify_and_release(project, source, use_cache)
    if names:
        report = result.report.restricted_to([s.name for s in chosen])
        result = VerifyResult(report, result.relinked, result.key, result.policy_root)
    return result, source


def verify_text(result: VerifyResult, as_json: bool = False, source: PolicySource | None = None) -> str:
    if as_json:
        return result.report.to_json().rstrip("\n")
    against = f"verify: against {source.description}\n" if source is not None else ""
    return against + render_text(result.report, result.relinked)


def check_verified(result: VerifyResult, unverified: Path | None = None) -> None:
    if not result.report.ok:
        held = f"; the packages stay in {unverified}, not in rpms/" if unverified is not None else ""
        raise VerifyFailed(
            f"verify failed: {len(result.report.failures)} check(s) broken; the rules are listed above{held}"
        )
