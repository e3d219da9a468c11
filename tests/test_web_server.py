"""web_server: nginx | httpd decides the group that may reach a site's socket, per target.

The group appears in three places that must agree (pool listen.group, the run directory in
tmpfiles.d, the run directory's %ghost attributes); a host without it gets a clear message from the
-php-fpm package, never a swallowed error.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rpmroot import RpmRoot, build_host_package

from sitepolicy.definition.site import site_from_mapping
from sitepolicy.errors import DefinitionError
from sitepolicy.render import render_site
from sitepolicy.targets import PROFILES, WEB_SERVERS, get_target

GOOD = {"site": "shop.example.com", "docroot": "/srv/www/shop.example.com", "user": "shop"}
FILE = Path("sites.d/shop.example.com.yaml")
# target -> web server -> the group its package creates (what a host really has)
EXPECTED_GROUPS = {
    "el8": {"nginx": "nginx", "httpd": "apache"},
    "el9": {"nginx": "nginx", "httpd": "apache"},
    "el10": {"nginx": "nginx", "httpd": "apache"},
    "fedora": {"nginx": "nginx", "httpd": "apache"},
    "debian12": {"nginx": "www-data", "httpd": "www-data"},
}


def test_every_target_knows_every_web_server_and_defaults_to_nginx():
    assert set(EXPECTED_GROUPS) == set(PROFILES)
    for name, target in PROFILES.items():
        assert {s.name: s.group for s in target.web_servers} == EXPECTED_GROUPS[name]
        assert target.web_server(None).name == "nginx"


@pytest.mark.parametrize("value", ["httpd", "nginx"])
def test_web_server_is_taken_as_written(value):
    assert site_from_mapping({**GOOD, "web_server": value}, FILE).web_server == value
    assert site_from_mapping(GOOD, FILE).web_server is None  # the target's default


@pytest.mark.parametrize("value", ["apache", "apache2", "Nginx", "nginx\n", "caddy", "", 1, ["nginx"], True, "dnl"])
def test_web_server_outside_the_allow_list_is_refused(value):
    with pytest.raises(DefinitionError) as info:
        site_from_mapping({**GOOD, "web_server": value}, FILE)
    assert info.value.field == "web_server"
    assert all(server in info.value.allowed for server in WEB_SERVERS)


@pytest.mark.parametrize("target_name", sorted(EXPECTED_GROUPS))
@pytest.mark.parametrize("server", [None, *WEB_SERVERS])
def test_the_group_reaches_pool_tmpfiles_and_spec(target_name, server):
    target = get_target(target_name)
    site = site_from_mapping({**GOOD, **({"web_server": server} if server else {})}, FILE)
    group = EXPECTED_GROUPS[target_name][server or "nginx"]
    rendered = render_site(site, target)
    files = rendered.files.files
    pool = files[f"{site.names.package}-php-fpm.conf"]
    assert f"\nlisten.group = {group}\n" in pool
    assert f"\nd {site.run_dir} 0750 root {group} -\n" in files[f"{site.names.package}-tmpfiles.conf"]
    spec = rendered.spec("1")
    assert f"%ghost %dir %attr(0750,root,{group}) {site.run_dir}\n" in spec
    assert f"if ! getent group {group} >/dev/null; then\n" in spec
    package = target.web_server(server).package
    assert f"\nOrderWithRequires: {package}\n" in spec
    for other in set(EXPECTED_GROUPS[target_name].values()) - {group}:
        assert f"listen.group = {other}" not in pool and f"root,{other})" not in spec and f"group {other} " not in spec


@pytest.fixture(scope="module")
def host_package(tmp_path_factory, target) -> Path:
    return build_host_package(tmp_path_factory.mktemp("host"), target)


def _install(tmp_path: Path, target, example_builds, example_runtime, host_package, groups: str | None):
    root = RpmRoot(tmp_path / "root", target.store)
    if groups is not None:
        (root.path / "etc/group").write_text(groups)
    assert root.rpm("-i", host_package).returncode == 0
    build = example_builds["selinux.rskeens.com"]
    result = root.rpm("-U", example_runtime.rpms[0], *build.rpms)
    return root, build, result


def test_a_host_with_the_group_creates_the_run_directory(
    tmp_path, target, example_builds, example_runtime, host_package
):
    root, build, result = _install(tmp_path, target, example_builds, example_runtime, host_package, None)
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "scriptlet failed" not in output, output
    n = build.site.names
    calls = [(c.tool, c.args) for c in root.calls()]
    assert ("systemd-tmpfiles", ("--create", f"/usr/lib/tmpfiles.d/{n.package}.conf")) in calls
    assert ("systemctl", ("--no-reload", "preset", n.unit)) in calls


def test_a_host_without_the_group_is_told_why_the_site_cannot_serve(
    tmp_path, target, example_builds, example_runtime, host_package
):
    group = target.web_group
    others = "".join(f"{g}:x:{i}:\n" for i, g in enumerate(["nginx", "apache", "www-data"], 900) if g != group)
    root, build, result = _install(tmp_path, target, example_builds, example_runtime, host_package, others)
    output = result.stdout + result.stderr
    n = build.site.names
    assert f"{n.php_fpm_package}: the group {group} of the web server nginx does not exist on this host" in output
    assert f"cannot reach {build.site.socket}: the site {build.site.name} cannot serve" in output
    assert f"%post({n.php_fpm_package}-" in output and "scriptlet failed, exit status 1" in output
    calls = [(c.tool, c.args) for c in root.calls()]
    assert not [c for c in calls if c[0] == "systemd-tmpfiles"]  # the group would not resolve
    assert ("systemctl", ("--no-reload", "preset", n.unit)) in calls  # it starts at boot once the group exists
    # %post did not queue its start: nobody starts it
    assert not [c for c in calls if c[0] == "systemctl" and c[1][:1] == ("start",)]
