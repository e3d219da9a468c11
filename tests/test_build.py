"""build-site with the real rpmbuild: what the packages contain, require and run."""

from __future__ import annotations

import bz2
import os
import subprocess
from pathlib import Path

import pytest
from policy_tools import declared_types

from sitepolicy.errors import SitepolicyError
from sitepolicy.inspect import PackageInfo, check_scriptlets_expanded, read_package, read_payload_file
from sitepolicy.package.filecontexts import intended as intended_fc
from sitepolicy.package.filecontexts import parse as parse_fc
from sitepolicy.package.rpmbuild import rebuild
from sitepolicy.verify.modules import cil_file_contexts
from sitepolicy.verify.policyroot import link_policy

PROJECT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).parent / "data" / "golden"


def packages(build) -> dict[str, PackageInfo]:
    infos = [read_package(p) for p in build.rpms]
    return {info.name.removeprefix(build.site.names.package + "-"): info for info in infos}


@pytest.fixture(params=["selinux.rskeens.com", "private.rskeens.com"])
def build(request, example_builds):
    return example_builds[request.param]


def test_outputs_are_named_by_site_version_release_and_dist(build, target):
    n = build.site.names
    assert sorted(p.name for p in build.rpms) == [
        f"{n.php_fpm_package}-1.0-1{target.dist}.noarch.rpm",
        f"{n.selinux_package}-1.0-1{target.dist}.noarch.rpm",
    ]
    assert build.srpm.name == f"{n.package}-1.0-1{target.dist}.src.rpm"
    for info in packages(build).values():
        assert (info.version, info.release, info.arch) == ("1.0", f"1{target.dist}", "noarch")


def test_selinux_package_files(build, target):
    s, n = build.site, build.site.names
    doc = f"/usr/share/doc/{n.selinux_package}-1.0"
    assert packages(build)["selinux"].files == tuple(
        sorted(
            [
                doc,
                f"{doc}/BUILDINFO",
                f"{doc}/{n.module}.cil",  # the module's readable source (issue 11: CIL, no m4)
                f"/usr/share/selinux/packages/{target.store}/{n.module}.cil.bz2",
                f"/usr/share/sitepolicy/fc/{target.store}/{n.module}.fc",
                f"/var/lib/selinux/{target.store}/active/modules/200/{n.module}",
            ]
        )
    )
    assert s.docroot.as_posix() not in "".join(packages(build)["selinux"].files)


def test_php_fpm_package_files_never_include_the_docroot(build, target):
    s, n = build.site, build.site.names
    files = packages(build)["php-fpm"].files
    web = target.web_server(s.web_server)
    assert files == tuple(
        sorted(
            [
                "/etc/sitepolicy",
                f"/etc/logrotate.d/{n.php_fpm_package}",  # rotates the site's php-fpm logs
                f"{web.config_dir}/{n.package}.conf",  # the site's web server configuration
                str(s.config_dir),
                str(s.fpm_config),
                str(s.run_dir),
                f"/usr/lib/systemd/system/{n.unit}",
                f"/usr/lib/sysusers.d/{n.package}.conf",
                f"/usr/lib/tmpfiles.d/{n.package}.conf",
                "/var/lib/sitepolicy",
                str(s.state_dir),
                str(s.sessions_dir),
                str(s.tmp_dir),
                str(s.upload_tmp_dir),
                "/var/log/sitepolicy",
                str(s.log_dir),
            ]
        )
    )
    assert not any(f.startswith(str(s.docroot)) for f in files)


def test_requires(build, target, headers):
    pkgs, n = packages(build), build.site.names
    fpm = pkgs["php-fpm"].requires
    assert f"({n.selinux_package} = 1.0-1{target.dist} if selinux-policy-{target.store})" in fpm
    assert target.php_fpm_package in fpm and "systemd" in fpm and target.useradd_package in fpm
    sel = pkgs["selinux"].requires
    # the version floor, for the package and for its %post (semodule links against that policy)
    floor = f"selinux-policy-{target.store} >= {headers.policy_version.value}"
    assert sel.count(floor) == 2 and f"selinux-policy-{target.store}" not in sel and "policycoreutils" in sel
    assert "sitepolicy-selinux-runtime >= 0.1.0" in sel
    assert f"sitepolicy-base({target.store}) = 1" in sel  # the runtime whose base module this CIL links with
    assert f"sitepolicy-target({target.name})" in pkgs["selinux"].provides


def test_scriptlets_match_the_reviewed_text(build):
    """The exact shell that runs as root on every host, compared with reviewed copies in tests/data/golden."""
    for suffix, info in packages(build).items():
        for tag, text in info.scriptlets.items():
            golden = GOLDEN / build.site.name / f"{suffix}.{tag}"
            if os.environ.get("SITEPOLICY_WRITE_GOLDEN"):
                golden.parent.mkdir(parents=True, exist_ok=True)
                golden.write_text(text)
            assert text == golden.read_text(), f"{info.name} %{tag} differs from {golden}"
        expected = {"postin", "postun"} if suffix == "selinux" else {"prein", "postin", "preun", "postun"}
        assert set(info.scriptlets) == expected


def test_selinux_scriptlets_install_at_priority_200_and_remove_only_on_erase(build, target):
    n = build.site.names
    post = packages(build)["selinux"].scriptlets["postin"]
    postun = packages(build)["selinux"].scriptlets["postun"]
    install = f"-X 200 -i /usr/share/selinux/packages/{target.store}/{n.module}.cil.bz2"
    assert install in post and "semodule -n" in post
    # the direct install runs only without the runtime, whose trigger batches it otherwise
    assert "if [ ! -x /usr/libexec/sitepolicy/reconcile ]; then" in post.split("semodule")[0]
    before_removal = postun.split("semodule")[0]
    assert 'if [ "$1" -eq 0 ] && [ ! -x /usr/libexec/sitepolicy/reconcile ]; then' in before_removal
    assert f"-X 200 -r {n.module}" in postun
    # restorecon touches exactly the site's paths
    for text in (post, postun):
        loop = next(line for line in text.splitlines() if line.strip().startswith("for path in"))
        paths = loop.split(" in ", 1)[1].rstrip("; do").split()
        assert paths == [str(p) for p in build.site.relabel_paths]
        assert 'restorecon -R -- "$path"' in text


def test_no_unexpanded_macro_in_any_scriptlet(build):
    for info in packages(build).values():
        check_scriptlets_expanded(info)


def test_unexpanded_macro_is_caught_in_a_real_package(tmp_path):
    spec = tmp_path / "bad.spec"
    spec.write_text(
        "Name: bad\nVersion: 1\nRelease: 1\nSummary: x\nLicense: MIT\nBuildArch: noarch\n"
        "%description\nx\n%post\n%systemd_post bad.service\n%files\n"
    )
    subprocess.run(
        ["rpmbuild", "-bb", "--define", f"_topdir {tmp_path}", "--define", f"_rpmdir {tmp_path}", str(spec)],
        check=True,
        capture_output=True,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    built = next(tmp_path.rglob("bad-1-1.noarch.rpm"))
    with pytest.raises(SitepolicyError, match="systemd_post"):
        check_scriptlets_expanded(read_package(built))


def test_policy_module_is_valid_and_declares_the_site_types(build, target, tmp_path, example_runtime):
    """The shipped CIL module links with the runtime's base module (issue 11) into a copy of the host's policy,
    declares exactly the site's types, and its file contexts are the ones reconcile relabels from."""
    n = build.site.names
    sel = next(p for p in build.rpms if ".rskeens.com-selinux-" in p.name)
    cil = tmp_path / f"{n.module}.cil.bz2"
    cil.write_bytes(read_payload_file(sel, f"/usr/share/selinux/packages/{target.store}/{n.module}.cil.bz2"))
    shipped_fc = read_payload_file(sel, f"/usr/share/sitepolicy/fc/{target.store}/{n.module}.fc").decode()
    # reconcile relabels from the file contexts the module holds, which are the intended ones.
    assert parse_fc(shipped_fc, "shipped") == intended_fc(build.site)
    text = bz2.decompress(cil.read_bytes()).decode()
    assert parse_fc(cil_file_contexts(text), "cil") == intended_fc(build.site)
    mail_helper = {n.mail_helper} if build.site.mail else set()  # declared only with `mail: sendmail`
    assert declared_types(text) == set(n.types.values()) | mail_helper
    base = tmp_path / "sitepolicy_base.cil.bz2"
    member = f"/usr/share/selinux/packages/{target.store}/sitepolicy_base.cil.bz2"
    base.write_bytes(read_payload_file(example_runtime.rpms[0], member))
    linked = link_policy(tmp_path / "root", target.store, [base, cil])
    fc = linked.file_contexts.read_text()
    assert f"{build.site.docroot.as_posix().replace('.', chr(92) + '.')}(/.*)?" in fc


def test_package_documents_its_sources_and_build(build, target, headers):
    n = build.site.names
    sel = next(p for p in build.rpms if "-selinux-" in p.name.removeprefix(n.package))
    doc = f"/usr/share/doc/{n.selinux_package}-1.0"
    shipped = read_payload_file(sel, f"{doc}/{n.module}.cil").decode()
    assert shipped == (build.sources / f"{n.module}.cil").read_text()
    info = dict(line.split("=", 1) for line in read_payload_file(sel, f"{doc}/BUILDINFO").decode().splitlines())
    assert info["target"] == target.name and info["store"] == target.store and info["site"] == build.site.name
    assert info["headers"].startswith(("selinux-policy-dev ", "selinux-policy-devel "))
    assert info["policy_version"] == headers.policy_version.value and info["policy_version_from"]


def test_unit_and_pool_start_the_site_in_its_domain(build, target):
    s, n = build.site, build.site.names
    fpm = next(p for p in build.rpms if p.name.startswith(n.php_fpm_package + "-1"))
    unit = read_payload_file(fpm, f"/usr/lib/systemd/system/{n.unit}").decode()
    assert f"SELinuxContext=system_u:system_r:{n.domain}:s0\n" in unit
    assert (
        f"ExecStart={target.php_fpm} --nodaemonize --fpm-config {s.fpm_config} -d opcache.lockfile_path={s.run_dir}\n"
        in unit
    )
    assert "ExecReload=+/bin/kill -USR2 $MAINPID\n" in unit
    pool = read_payload_file(fpm, str(s.fpm_config)).decode()
    assert f"listen = {s.socket}\n" in pool and f"user = {s.user}\n" in pool
    assert f"listen.group = {target.web_group}\n" in pool
    assert pool.count("\n[") == 2  # [global] and this site's one pool


def test_srpm_alone_rebuilds_the_same_packages(build, target, headers, tmp_path):
    """The SRPM is self-contained: a fresh _topdir and nothing but the SRPM give the same file lists.

    The policy version floor comes from the build root, as Fedora/EL's selinux-policy-devel macros
    define it (%_selinux_policy_version); without it the build fails and says why."""
    with pytest.raises(SitepolicyError, match="no selinux-policy version to require as the floor"):
        rebuild(build.srpm, tmp_path / "bare", tmp_path / "topdir-bare", target, None, nodeps=True)
    build_root = {"_selinux_policy_version": headers.policy_version.value}
    rebuilt = rebuild(build.srpm, tmp_path / "out", tmp_path / "topdir", target, None, True, build_root)
    assert sorted(p.name for p in rebuilt) == sorted(p.name for p in build.rpms)
    for new in rebuilt:
        old = next(p for p in build.rpms if p.name == new.name)
        assert read_package(new).files == read_package(old).files
        assert read_package(new).scriptlets == read_package(old).scriptlets
        assert read_package(new).requires == read_package(old).requires


def test_rpmlint_reports_no_error(build):
    spec = next(build.sources.glob("*.spec"))
    result = subprocess.run(
        ["rpmlint", "-c", str(PROJECT / "rpmlint.toml"), *map(str, build.outputs), str(spec)],
        capture_output=True,
        text=True,
    )
    summary = result.stdout.strip().splitlines()[-1]
    assert " 0 errors" in summary, result.stdout


EXTRA_HEADERS = [Path(p) for p in os.environ.get("SITEPOLICY_EXTRA_HEADERS", "").split(":") if p]


@pytest.mark.skipif(not EXTRA_HEADERS, reason="set SITEPOLICY_EXTRA_HEADERS=DIR[:DIR] to a target's devel tree")
@pytest.mark.parametrize("headers_dir", EXTRA_HEADERS, ids=str)
def test_templates_compile_against_other_headers(headers_dir, example_sites, tmp_path):
    from sitepolicy.package.build import build_site
    from sitepolicy.package.headers import resolve_headers
    from sitepolicy.targets import get_target

    el9 = get_target("el9")
    for site in example_sites:
        result = build_site(site, el9, resolve_headers(el9, headers_dir), tmp_path)
        assert len(result.rpms) == 2
