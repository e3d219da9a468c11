"""Real applications (issue 14): local database sockets under `network: [database]`, pool defaults that keep
the log clean, and the web server configuration each site ships."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import compiled_from, shared_target

from sitepolicy.definition.site import Site, site_from_mapping
from sitepolicy.package.headers import Headers
from sitepolicy.render import POLICY_TEMPLATES, render_policy, render_site
from sitepolicy.targets import PROFILES
from sitepolicy.verify.policyroot import link_policy


def make_site(name: str, **fields: object) -> Site:
    mapping = {"site": name, "docroot": f"/srv/www/{name}", "user": name.split(".")[0][:16], **fields}
    return site_from_mapping(mapping, Path(f"{name}.yaml"))


def te_of(site: Site, target_name: str = "el9") -> str:
    rendered = render_policy(site, PROFILES[target_name])
    return rendered.files[f"{site.names.module}.te"]


# --------------------------------------------------------------------------- 1. local database sockets


@pytest.mark.parametrize("target_name", sorted(PROFILES))
def test_database_renders_the_socket_interfaces_only_when_asked(target_name):
    db = te_of(make_site("db.example.com", network=["database"]), target_name)
    domain = "sitepolicy_db_example_com_t"
    for interface in ("mysql_stream_connect", "postgresql_stream_connect"):
        # inside optional_policy: a target without the module still links the site
        assert f"optional_policy(`\n\t{interface}({domain})\n')" in db
    for other in ([], ["http"], ["smtp", "redis", "memcache"]):
        te = te_of(make_site("web.example.com", network=other), target_name)
        assert "mysql" not in te and "postgresql" not in te


def _connectto(policy, source: str) -> set[str]:
    """Every type ``source`` may connectto (unix_stream_socket), attributes expanded, under any boolean."""
    import setools

    query = setools.TERuleQuery(
        policy, ruletype=["allow"], source=source, tclass=["unix_stream_socket"], perms=["connectto"]
    )
    return {str(t) for rule in query.results() for t in rule.target.expand()}


@pytest.mark.slow
def test_database_site_may_connect_to_the_local_servers_on_el9_and_the_other_may_not(tmp_path):
    import setools

    shared = shared_target("el9", need_root=True)
    target = PROFILES["el9"]
    headers = Headers(shared / "devel", is_host=False)
    with_db = make_site("withdb.example.com", network=["database"])
    without = make_site("nodb.example.com", network=["http"])
    modules = compiled_from(POLICY_TEMPLATES, [with_db, without], target, headers, tmp_path / "modules")
    linked = link_policy(tmp_path / "root", target.store, [m.path for m in modules], live_root=shared / "root")
    policy = setools.SELinuxPolicy(str(linked.policy_kern))
    servers = {"mysqld_t", "postgresql_t"}
    assert servers <= _connectto(policy, with_db.names.domain)
    assert not servers & _connectto(policy, without.names.domain)
    # the socket files themselves: write on the el9 names of the run directories' sockets
    for site, expected in ((with_db, True), (without, False)):
        for sock in ("mysqld_var_run_t", "postgresql_var_run_t"):
            query = setools.TERuleQuery(
                policy, ruletype=["allow"], source=site.names.domain, target=sock, tclass=["sock_file"], perms=["write"]
            )
            assert bool(list(query.results())) is expected, (site.name, sock)


# --------------------------------------------------------------------------- 2. pool defaults


@pytest.mark.parametrize("target_name", sorted(PROFILES))
def test_pool_turns_the_pcre_jit_off_for_good(target_name):
    site = make_site("jit.example.com")
    sources = render_site(site, PROFILES[target_name])
    pool = sources.files.files[f"{site.names.package}-php-fpm.conf"]
    lines = [line.strip() for line in pool.splitlines() if not line.lstrip().startswith(";")]
    # php_admin_value: ini_set() in the site cannot turn it back on (and with it the execmem denial)
    assert "php_admin_value[pcre.jit] = 0" in lines
    assert not [line for line in lines if "pcre.jit" in line and line != "php_admin_value[pcre.jit] = 0"]
    assert "execmem" not in te_of(site, target_name)


@pytest.mark.parametrize("target_name", sorted(PROFILES))
def test_sysfs_reads_at_start_are_silenced_not_granted(target_name):
    te = te_of(make_site("start.example.com"), target_name)
    domain = "sitepolicy_start_example_com_t"
    for tclass, perms in (("dir", "list_dir_perms"), ("file", "read_file_perms"), ("lnk_file", "read_lnk_file_perms")):
        assert f"dontaudit {domain} sysfs_t:{tclass} {perms};" in te
    assert not [line for line in te.splitlines() if "sysfs" in line and line.startswith(("allow", "dev_read"))]
