"""Hostile definitions (issue 13): the corpus in tests/data/hostile, accounts, docroots, php-fpm, lengths."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from conftest import TARGET_NAMES, shared_target

from sitepolicy.definition import allowlists
from sitepolicy.definition.site import load_site, site_from_mapping
from sitepolicy.definition.starter import default_user
from sitepolicy.errors import DefinitionError
from sitepolicy.inspect import read_package

CORPUS = Path(__file__).parent / "data" / "hostile"
EXPECT = re.compile(r"^# expect: (\S+) \| (.+)$")
SITE_LINE = re.compile(r"^site: ([a-z0-9.-]+)$", re.MULTILINE)


def corpus() -> list[Path]:
    return sorted(CORPUS.glob("*.yaml"))


def expectation(path: Path) -> tuple[str, str]:
    match = EXPECT.match(path.read_text().splitlines()[0])
    assert match, f"{path.name}: first line must be '# expect: FIELD | TEXT' (FIELD OK for accepted)"
    return match.group(1), match.group(2)


@pytest.mark.parametrize("path", corpus(), ids=lambda p: p.stem)
def test_hostile_corpus(path, tmp_path):
    """Each definition is refused with its field and reason named, or (OK) accepted as written."""
    field, text = expectation(path)
    site = SITE_LINE.search(path.read_text())
    definition = tmp_path / f"{site.group(1) if site else 'x.example.com'}.yaml"
    definition.write_bytes(path.read_bytes())
    if field == "OK":
        loaded = load_site(definition)
        if text.startswith("version="):
            assert loaded.version == text.split("=", 1)[1]
        return
    with pytest.raises(DefinitionError) as info:
        load_site(definition)
    assert info.value.field == field, str(info.value)
    assert text in str(info.value), str(info.value)
    assert len(str(info.value)) < 1500, "an error message must stay short whatever the definition holds"


def test_corpus_covers_every_class_of_the_issue():
    stems = {p.stem.split("-")[0] for p in corpus()}
    assert {"user", "group", "php", "docroot", "yaml", "name", "m4"} <= stems


def test_alias_bomb_is_refused_fast_and_short(tmp_path):
    definition = tmp_path / "h.example.com.yaml"
    definition.write_bytes((CORPUS / "yaml-alias-bomb.yaml").read_bytes())
    with pytest.raises(DefinitionError) as info:
        load_site(definition)
    assert "alias" in str(info.value) and len(str(info.value)) < 400


def test_thirty_thousand_levels_of_nesting_are_refused_without_recursion():
    from sitepolicy.definition import yamlload

    with pytest.raises(yamlload.YamlRefused, match="nesting deeper than 8"):
        yamlload.load("x: " + "[" * 30000 + "]" * 30000)


def test_error_values_are_shortened():
    with pytest.raises(DefinitionError) as info:
        site_from_mapping(
            {"site": "h.example.com", "docroot": "/srv/www/h", "user": "x", "notes": ["y" * 10**6] * 1000},
            Path("<memory>"),
        )
    assert len(str(info.value)) < 800


@pytest.mark.parametrize(
    "name", ["root", "sys", "backup", "proxy", "_apt", "docker", "ssl-cert", "kvm", "systemd-oom", "Debian-exim"]
)
def test_reserved_accounts(name):
    assert allowlists.reserved_account(name.lower() if name != "Debian-exim" else name) is not None


def test_generated_account_names_carry_the_prefix():
    assert default_user("sys.example.com") == "sp_sys_example_com"
    assert allowlists.reserved_account(default_user("backup.example.com")) is None
    assert len(default_user("a" * 60 + ".com")) == 31


@pytest.mark.parametrize(
    ("docroot", "ok"),
    [
        ("/srv/www/shop", True),
        ("/srv/shop", False),
        ("/var/www/shop", True),
        ("/var/www/html", False),
        ("/var/www/html/shop", True),
        ("/var/www/cgi-bin", False),
        ("/opt/sites/shop", True),
        ("/opt/rh/php", False),
        ("/opt/remi/x/y", False),
        ("/data/www/shop", True),
        ("/data/shop", False),
        ("/web/sites/shop", True),
        ("/home/alice/www", False),
    ],
)
def test_docroot_rules(docroot, ok):
    from pathlib import PurePosixPath

    assert (allowlists.docroot_problem(PurePosixPath(docroot)) is None) == ok


def test_php_fpm_allow_list():
    from pathlib import PurePosixPath

    good = [
        "/usr/sbin/php-fpm",
        "/opt/rh/rh-php73/root/usr/sbin/php-fpm",
        "/opt/remi/php82/root/usr/sbin/php-fpm",
        "/usr/sbin/php-fpm8.2",
    ]
    bad = [
        "/bin/sh",
        "/srv/www/h/php-fpm",
        "/usr/sbin/php-fpm8.2x",
        "/opt/remi/php82/root/usr/sbin/php-fpm.d",
        "/usr/bin/php",
    ]
    assert all(allowlists.php_fpm_allowed(PurePosixPath(p)) for p in good)
    assert not any(allowlists.php_fpm_allowed(PurePosixPath(p)) for p in bad)
    assert not allowlists.php_fpm_allowed(PurePosixPath("/usr/sbin/php-fpm8.2"), "el")
    # No docroot can hold an allowed binary.
    for p in good:
        for parent in PurePosixPath(p).parents:
            assert allowlists.docroot_problem(parent) is not None, parent


@pytest.mark.parametrize("name", TARGET_NAMES)
def test_the_targets_php_fpm_is_httpd_exec_t_in_its_base_policy(name):
    """The default (and allow-listed) /usr/sbin/php-fpm carries httpd_exec_t in each target's file contexts."""
    from sitepolicy.verify.proofs import Labeler

    root = shared_target(name, need_root=True) / "root"
    labeler = Labeler(str(root / "etc/selinux/targeted/contexts/files/file_contexts"))
    assert labeler.type_of("/usr/sbin/php-fpm") == "httpd_exec_t"


def test_name_length_follows_sun_path():
    longest = "a" * 63 + "." + "b" * 10 + ".com"
    site = site_from_mapping({"site": longest, "docroot": "/srv/www/h", "user": "shop"}, Path("<memory>"))
    assert len(str(site.socket).encode()) + 1 == allowlists.SUN_PATH_BYTES
    with pytest.raises(DefinitionError, match="at most 78 characters: the php-fpm socket") as info:
        site_from_mapping({"site": "c." + longest, "docroot": "/srv/www/h", "user": "shop"}, Path("<memory>"))
    assert info.value.field == "site"


# ----------------------------------------------------------------------------- %pre reuses only its own account


def prein(example_builds, site_name: str) -> str:
    build = example_builds[site_name]
    fpm = next(read_package(p) for p in build.rpms if "-php-fpm-" in p.name)
    return fpm.scriptlets["prein"]


def run_prein(script: str, tmp_path: Path, passwd: str, group: str) -> subprocess.CompletedProcess[str]:
    """The real scriptlet under sh, with getent reading fake databases and groupadd/useradd recording."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "passwd").write_text(passwd)
    (tmp_path / "group").write_text(group)
    (tmp_path / "calls").write_text("")
    (bin_dir / "getent").write_text(f'#!/bin/sh\ngrep "^$2:" "{tmp_path}/$1" || exit 2\n')
    for tool in ("groupadd", "useradd"):
        (bin_dir / tool).write_text(f'#!/bin/sh\necho "{tool} $*" >> "{tmp_path}/calls"\n')
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    return subprocess.run(
        ["sh", "-c", script], env={"PATH": f"{bin_dir}:/usr/bin:/bin"}, capture_output=True, text=True, check=False
    )


MARKER = "sitepolicy pool of private.rskeens.com"


@pytest.mark.parametrize(
    ("passwd", "group", "ok", "creates"),
    [
        ("", "", True, True),
        (
            f"private_rskeens:x:990:990:{MARKER}:/srv/www/private.rskeens.com:/sbin/nologin\n",
            "private_rskeens:x:990:\n",
            True,
            False,
        ),
        (
            "private_rskeens:x:990:990:php-fpm pool of private.rskeens.com:/srv:/sbin/nologin\n",
            "private_rskeens:x:990:\n",
            True,
            False,
        ),
        ("private_rskeens:x:34:34:backup:/var/backups:/usr/sbin/nologin\n", "private_rskeens:x:34:\n", False, False),
        (
            f"private_rskeens:x:990:27:{MARKER}:/srv:/sbin/nologin\n",
            "private_rskeens:x:990:\nsudo:x:27:\n",
            False,
            False,
        ),
        ("", "private_rskeens:x:999:alice\n", False, False),
    ],
    ids=[
        "fresh",
        "own-account",
        "own-account-before-the-marker",
        "foreign-user",
        "wrong-primary-group",
        "foreign-group",
    ],
)
def test_prein_reuses_only_this_sites_account(example_builds, tmp_path, passwd, group, ok, creates):
    result = run_prein(prein(example_builds, "private.rskeens.com"), tmp_path, passwd, group)
    assert (result.returncode == 0) == ok, result.stderr
    calls = (tmp_path / "calls").read_text()
    assert ("useradd" in calls) == creates
    if creates:
        assert f"-c {MARKER} private_rskeens" in calls
    if not ok:
        assert "refusing to reuse it" in result.stderr


# ----------------------------------------------------------------------------- sites.d/ as a whole


def test_load_definitions_keeps_the_valid_and_lists_the_refused(tmp_path):
    from sitepolicy.definition.loading import DefinitionsRefused, load_definitions

    write = {
        "a.example.com.yaml": "site: a.example.com\ndocroot: /srv/www/a\nuser: sp_a\n",
        "b.example.com.yaml": "site: b.example.com\ndocroot: /srv/www/b\nuser: root\n",  # invalid on its own
        "c.example.com.yaml": "site: c.example.com\ndocroot: /srv/www/c\nuser: sp_c\n",
        "d.example.com.yaml": "site: d.example.com\ndocroot: /srv/www/c/d\nuser: sp_d\n",  # inside c's docroot
        "e.example.com.yml": "site: e.example.com\ndocroot: /srv/www/e\nuser: sp_e\n",  # not a definition name
        "releases.lock": "",
    }
    for name, text in write.items():
        (tmp_path / name).write_text(text)
    loaded = load_definitions(tmp_path)
    assert [s.name for s in loaded.sites] == ["a.example.com"]
    assert [Path(e.file).name for e in loaded.refused] == [
        "b.example.com.yaml",
        "c.example.com.yaml",
        "d.example.com.yaml",
        "e.example.com.yml",
    ]
    with pytest.raises(DefinitionsRefused) as info:
        loaded.check()
    assert info.value.exit_code == 2 and "4 definition(s) refused" in str(info.value)
    assert "not shared with site d.example.com" in str(info.value)
    assert "not shared with site c.example.com" in str(info.value)


def test_php_fpm_must_be_the_targets_own():
    site = site_from_mapping(
        {"site": "h.example.com", "docroot": "/srv/www/h", "user": "shop", "php_fpm": "/usr/sbin/php-fpm8.2"},
        Path("<memory>"),
    )
    allowlists.check_for_target([site], "debian12")
    with pytest.raises(DefinitionError, match="for target el9") as info:
        allowlists.check_for_target([site], "el9")
    assert info.value.field == "php_fpm"
