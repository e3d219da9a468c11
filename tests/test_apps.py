"""Real applications (issue 14): local database sockets under `network: [database]`, pool defaults that keep
the log clean, and the web server configuration each site ships."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import compiled_from, shared_target

from sitepolicy.definition.site import Site, site_from_mapping
from sitepolicy.errors import SitepolicyError
from sitepolicy.inspect import read_package, read_payload_file
from sitepolicy.package.build import build_site
from sitepolicy.package.headers import Headers
from sitepolicy.render import POLICY_TEMPLATES, render_policy, render_site, web_value
from sitepolicy.targets import PROFILES, Target
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


# --------------------------------------------------------------------------- 2b. uploads moved from tmp


@pytest.mark.parametrize("target_name", sorted(PROFILES))
def test_uploads_in_flight_carry_the_writable_type_so_a_moved_upload_is_servable(target_name):
    """move_uploaded_file() renames (same file system: the label stays) or copies (the new file takes its
    directory's label). PHP's upload_tmp_dir is labelled with the site's writable type, so either way the
    file in uploads/ has a type httpd_t reads; the rest of tmp keeps the tmp type httpd_t never reads."""
    site = make_site("up.example.com", writable=["uploads"])
    target = PROFILES[target_name]
    pool = render_site(site, target).files.files[f"{site.names.package}-php-fpm.conf"]
    lines = [line.strip() for line in pool.splitlines() if not line.lstrip().startswith(";")]
    assert f"php_admin_value[upload_tmp_dir] = {site.upload_tmp_dir}" in lines
    assert f"php_admin_value[sys_temp_dir] = {site.tmp_dir}" in lines
    assert site.upload_tmp_dir.parent == site.tmp_dir  # inside the site's own tmp tree (proof 6)
    fc = render_policy(site, target).files[f"{site.names.module}.fc"]
    t = site.names
    upload_regex = str(site.upload_tmp_dir).replace(".", "\\.")
    assert f"`{upload_regex}(/.*)?'\tgen_context(system_u:object_r:{t.type('rw')},s0)" in fc
    spec = render_site(site, target).spec("1")
    assert f"%dir %attr(0700,{site.user},{site.group}) {site.upload_tmp_dir}" in spec


# --------------------------------------------------------------------------- 3. the site's web server configuration

NGINX = Path("/usr/sbin/nginx")
APACHE = Path("/usr/sbin/apache2")  # Debian's httpd; EL's /usr/sbin/httpd reads the same syntax
APACHE_MODULES = Path("/usr/lib/apache2/modules")


def web_conf(site: Site, target: Target) -> tuple[str, str]:
    """(installed path, text) of the site's web server configuration as the -php-fpm package ships it."""
    sources = render_site(site, target)
    context_path = f"{target.web_server(site.web_server).config_dir}/{site.names.package}.conf"
    return context_path, sources.files.files[f"{site.names.package}-web.conf"]


def logs_in(target: Target, directory: Path) -> Target:
    """``target`` with its web servers' log directory in ``directory``: `-t` opens the logs, never the host's."""
    servers = tuple(dataclasses.replace(s, log_dir=str(directory)) for s in target.web_servers)
    return dataclasses.replace(target, web_servers=servers)


APP = {"writable": ["uploads", "cache/img"], "network": ["database"]}


@pytest.mark.parametrize("target_name", sorted(PROFILES))
def test_nginx_config_names_the_site_its_socket_and_keeps_php_out_of_writable_dirs(target_name):
    target = PROFILES[target_name]
    site = make_site("shop.example.com", web_server="nginx", **APP)
    path, text = web_conf(site, target)
    assert path == {"debian12": "/etc/nginx/sites-available"}.get(target_name, "/etc/nginx/conf.d") + (
        "/" + site.names.package + ".conf"
    )
    assert "server_name shop.example.com;" in text and "root /srv/www/shop.example.com;" in text
    assert "disable_symlinks if_not_owner;" in text
    # PHP goes to this site's socket and nowhere else
    assert [line.strip() for line in text.splitlines() if "fastcgi_pass" in line] == [
        f"fastcgi_pass unix:{site.socket};"
    ]
    for rel in ("uploads", "cache/img"):
        block = text.split(f"location ^~ /{rel}/ {{", 1)[1].split("\n    }\n", 1)[0]
        assert "return 403;" in block and "fastcgi_pass" not in block
    assert f"/var/log/nginx/{site.name}-access.log" in text and f"/var/log/nginx/{site.name}-error.log" in text
    if target_name == "debian12":
        assert "sites-enabled" in text  # the note: Debian reads sites-enabled/, not what the package installs


@pytest.mark.parametrize("target_name", sorted(PROFILES))
def test_httpd_config_names_the_site_its_socket_and_keeps_php_out_of_writable_dirs(target_name):
    target = PROFILES[target_name]
    site = make_site("shop.example.com", web_server="httpd", **APP)
    path, text = web_conf(site, target)
    assert path.startswith({"debian12": "/etc/apache2/sites-available/"}.get(target_name, "/etc/httpd/conf.d/"))
    assert "ServerName shop.example.com" in text and "DocumentRoot /srv/www/shop.example.com" in text
    assert "Options SymLinksIfOwnerMatch" in text and "AllowOverride None" in text
    assert [line.strip() for line in text.splitlines() if "proxy:unix:" in line] == [
        f'SetHandler "proxy:unix:{site.socket}|fcgi://{site.names.package}/"'
    ]
    for directory in site.writable_dirs:
        block = text.split(f"<Directory {directory}>", 1)[1].split("</Directory>", 1)[0]
        assert "Require all denied" in block and "SetHandler None" in block


@pytest.mark.parametrize("value", ["a b", "x;y", "$host", 'a"b', "a{b", "a#b", "a\nb", "/srv/../etc", ""])
def test_a_value_nginx_or_httpd_would_read_as_syntax_is_refused(value):
    with pytest.raises(SitepolicyError):
        web_value(value)


def _nginx_test(conf_dir: Path, site_conf: str) -> subprocess.CompletedProcess[str]:
    (conf_dir / "site.conf").write_text(site_conf)
    shutil.copy2("/etc/nginx/fastcgi_params", conf_dir / "fastcgi_params")
    (conf_dir / "nginx.conf").write_text(
        f"pid {conf_dir}/nginx.pid;\nerror_log {conf_dir}/error.log;\nevents {{}}\n"
        f"http {{\n    client_body_temp_path {conf_dir}/body;\n    include {conf_dir}/site.conf;\n}}\n"
    )
    return subprocess.run(
        [
            str(NGINX),
            "-t",
            "-q",
            "-p",
            str(conf_dir),
            "-e",
            str(conf_dir / "error.log"),
            "-c",
            str(conf_dir / "nginx.conf"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("target_name", sorted(PROFILES))
def test_nginx_accepts_the_rendered_config(target_name, tmp_path):
    """`nginx -t` (parses, opens the logs, starts nothing) on a main config that includes the site's."""
    if not NGINX.is_file():
        pytest.skip("nginx is not installed (./sp installs nginx-light on Debian)")
    site = make_site("shop.example.com", web_server="nginx", **APP)
    _, text = web_conf(site, logs_in(PROFILES[target_name], tmp_path))
    result = _nginx_test(tmp_path, text)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / f"{site.name}-access.log").exists()  # -t opened the site's own logs, where configured
    # the same harness fails on a broken config: the check above can fail
    broken = _nginx_test(tmp_path, text.replace("disable_symlinks if_not_owner;", "disable_symlinks maybe;"))
    assert broken.returncode != 0 and "maybe" in broken.stderr


def _apache_test(conf_dir: Path, site_conf: str) -> subprocess.CompletedProcess[str]:
    (conf_dir / "site.conf").write_text(site_conf)
    modules = ("mpm_event", "authz_core", "dir", "mime", "proxy", "proxy_fcgi")  # log_config: built in
    loads = "".join(f"LoadModule {m}_module {APACHE_MODULES}/mod_{m}.so\n" for m in modules)
    (conf_dir / "httpd.conf").write_text(
        f"ServerRoot {conf_dir}\nPidFile {conf_dir}/httpd.pid\nErrorLog {conf_dir}/error.log\n{loads}"
        f"Listen 80\nInclude {conf_dir}/site.conf\n"
    )
    return subprocess.run(
        [str(APACHE), "-t", "-f", str(conf_dir / "httpd.conf")], capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize("target_name", sorted(PROFILES))
def test_httpd_accepts_the_rendered_config(target_name, tmp_path):
    """`apache2 -t` (Debian's httpd: parses, starts nothing) on a minimal main config including the site's."""
    if not APACHE.is_file():
        pytest.skip("apache2 is not installed (./sp installs apache2-bin on Debian)")
    site = make_site("shop.example.com", web_server="httpd", **APP)
    _, text = web_conf(site, logs_in(PROFILES[target_name], tmp_path))
    result = _apache_test(tmp_path, text)
    assert result.returncode == 0, result.stderr
    broken = _apache_test(tmp_path, text.replace("Options SymLinksIfOwnerMatch", "Options SymLinksIfOwnerMatchX"))
    assert broken.returncode != 0 and "SymLinksIfOwnerMatchX" in broken.stderr


@pytest.mark.slow
def test_the_php_fpm_package_ships_the_web_server_config_where_the_server_reads_it(target, headers, tmp_path):
    """Built with the real rpmbuild; the file read back from the -php-fpm RPM with rpmfile."""
    site = make_site("shop.example.com", web_server="httpd", **APP)
    build = build_site(site, target, headers, tmp_path / "build")
    path, text = web_conf(site, target)
    php_fpm = next(p for p in build.rpms if p.name.startswith(site.names.php_fpm_package + "-"))
    selinux = next(p for p in build.rpms if p.name.startswith(site.names.selinux_package + "-"))
    assert path in read_package(php_fpm).files
    assert path not in read_package(selinux).files
    shipped = read_payload_file(php_fpm, path).decode()
    assert shipped == text and f"proxy:unix:{site.socket}|" in shipped
