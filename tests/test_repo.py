"""publish: a signed yum repository from the real tools (rpmsign, gpg, createrepo_c), and dnf installing from it.

The dnf tests install into a throwaway --installroot (tests/installroot.py): a recording /bin/sh and
stand-in semodule/restorecon/... record what the real scriptlets ran; every recorded semodule argument
list is then replayed with the real `semodule -p` on a private copy of this host's policy.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from conftest import EXAMPLES, invoke, make_project
from rpmroot import Call, Dnf, Scriptlet, calls, clear_log, make_root, provides_repo, read_log

from sitepolicy.definition.site import load_site, site_from_mapping
from sitepolicy.inspect import read_package as read_info
from sitepolicy.package.build import SiteBuild, build_site
from sitepolicy.publish.admission import read_package
from sitepolicy.publish.metadata import listed_packages, metadata_problems
from sitepolicy.publish.repo import PublishRefused, RepoError, publish
from sitepolicy.publish.repofile import render_repo_file
from sitepolicy.publish.signing import KEY_FILE, SigningKey, export_public_key, resolve_key, sign_file

SELINUX = "selinux.rskeens.com"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def gpg_key(tmp_path_factory) -> SigningKey:
    """A throwaway signing key in a private GNUPGHOME (FACTS.md), for this test session only."""
    home = tmp_path_factory.mktemp("gnupg")
    home.chmod(0o700)
    old = os.environ.get("GNUPGHOME")
    os.environ["GNUPGHOME"] = str(home)
    subprocess.run(
        [
            *("gpg", "--batch", "--passphrase", "", "--quick-gen-key"),
            *("sitepolicy test <test@example.invalid>", "rsa3072", "sign", "1d"),
        ],
        check=True,
        capture_output=True,
    )
    yield resolve_key("test@example.invalid")
    if old is None:
        os.environ.pop("GNUPGHOME", None)
    else:
        os.environ["GNUPGHOME"] = old


@pytest.fixture(scope="session")
def release2(tmp_path_factory, example_sites, target, headers) -> SiteBuild:
    """selinux.rskeens.com built again with release 2: an upgrade."""
    site = next(s for s in example_sites if s.name == SELINUX)
    return build_site(site, target, headers, tmp_path_factory.mktemp("build-r2"), release="2")


def rpms_of(builds: dict[str, SiteBuild], *names: str) -> list[Path]:
    return [p for name in (names or builds) for p in builds[name].rpms]


def snapshot(repo: Path) -> dict[str, str]:
    """Every file and link in the repository with its content digest (the lock file aside)."""
    out = {}
    for path in sorted(repo.rglob("*")):
        rel = str(path.relative_to(repo))
        if rel == ".sitepolicy/lock":
            continue
        if path.is_symlink():
            out[rel] = "-> " + os.readlink(path)
        elif path.is_file():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture
def signed_repo(tmp_path, example_builds, example_runtime, gpg_key, target) -> Path:
    repo = tmp_path / "repo"
    publish(repo, rpms_of(example_builds) + list(example_runtime.rpms), target.name, gpg_key)
    return repo


def small_rpm(directory: Path, name: str, provides: list[str], files: dict[str, str] | None = None) -> Path:
    """A hand-made RPM, e.g. one that only looks like a sitepolicy package."""
    spec = directory / f"{name}.spec"
    install = "".join(
        f"mkdir -p %{{buildroot}}$(dirname {p}); echo '{t}' > %{{buildroot}}{p}\n" for p, t in (files or {}).items()
    )
    spec.write_text(
        f"Name: {name}\nVersion: 9\nRelease: 1.deb12\nSummary: hand-made\nLicense: MIT\nBuildArch: noarch\n"
        + "".join(f"Provides: {p}\n" for p in provides)
        + "%description\nhand-made\n%install\n"
        + install
        + "%files\n"
        + "".join(f"{p}\n" for p in files or {})
    )
    subprocess.run(
        [
            *("rpmbuild", "-bb", "--define", f"_topdir {directory / 'top'}", "--define", f"_rpmdir {directory}"),
            *("--define", "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm", str(spec)),
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "HOME": str(directory)},
    )
    return directory / f"{name}-9-1.deb12.noarch.rpm"


# --------------------------------------------------------------------------- the repository


def test_signed_publish_layout_signatures_and_repo_file(signed_repo, example_builds, example_runtime, gpg_key, target):
    names = sorted(p.name for p in rpms_of(example_builds) + list(example_runtime.rpms))
    assert sorted(p.name for p in (signed_repo / "Packages").iterdir()) == names
    for path in (signed_repo / "Packages").iterdir():
        assert read_package(path).signer == gpg_key.key_id
    assert listed_packages(signed_repo) == [f"Packages/{n}" for n in names]
    assert metadata_problems(signed_repo) == []
    assert (signed_repo / "repodata").is_symlink()
    subprocess.run(
        ["gpg", "--batch", "--verify", signed_repo / "repodata/repomd.xml.asc", signed_repo / "repodata/repomd.xml"],
        check=True,
        capture_output=True,
    )
    shown = subprocess.run(
        ["gpg", "--batch", "--with-colons", "--show-keys", signed_repo / KEY_FILE], capture_output=True, text=True
    ).stdout
    assert gpg_key.fingerprint in shown
    repo_file = (signed_repo / "sites.repo").read_text()
    url = signed_repo.resolve().as_uri()
    for line in (
        f"[sitepolicy-{target.name}]",
        f"baseurl={url}",
        "gpgcheck=1",
        "repo_gpgcheck=1",
        f"gpgkey={url}/{KEY_FILE}",
        "skip_if_unavailable=0",
    ):
        assert line in repo_file.splitlines()
    # The build outputs themselves stay unsigned: publish signs its own copies.
    assert all(read_package(p).signer is None for p in rpms_of(example_builds))


def test_republishing_the_same_build_changes_nothing(signed_repo, example_builds, example_runtime, gpg_key, target):
    before = snapshot(signed_repo)
    result = publish(signed_repo, rpms_of(example_builds) + list(example_runtime.rpms), target.name, gpg_key)
    assert result.added == () and len(result.unchanged) == 5
    assert snapshot(signed_repo) == before


def test_unsigned_repository_and_base_url(tmp_path, example_builds, target):
    repo = tmp_path / "plain"
    publish(repo, rpms_of(example_builds, SELINUX), target.name, None, "https://repo.internal/sites/x/")
    text = (repo / "sites.repo").read_text()
    assert "baseurl=https://repo.internal/sites/x\n" in text and "gpgcheck=0" in text
    assert not (repo / KEY_FILE).exists() and not (repo / "repodata/repomd.xml.asc").exists()
    # The base URL is remembered by the next publish.
    publish(repo, rpms_of(example_builds), target.name, None)
    assert "baseurl=https://repo.internal/sites/x\n" in (repo / "sites.repo").read_text()
    with pytest.raises(Exception, match="base-url"):
        publish(repo, rpms_of(example_builds), target.name, None, "https://x/\nexclude=*")


def refused(repo: Path, *args, **kwargs) -> str:
    """Run a publish that must be refused; assert the repository did not change; return the message."""
    before = snapshot(repo) if repo.exists() else {}
    with pytest.raises((PublishRefused, RepoError)) as info:
        publish(repo, *args, **kwargs)
    assert (snapshot(repo) if repo.exists() else {}) == before
    return str(info.value)


def test_refuses_unsigned_packages_into_a_signed_repository(signed_repo, release2, target):
    message = refused(signed_repo, list(release2.rpms), target.name, None)
    assert "publish with --sign" in message
    assert f"{release2.rpms[0].name}: unsigned, but this repository is signed by" in message


def test_refuses_another_key(signed_repo, release2, target, tmp_path):
    other = SigningKey("0" * 40)
    assert "one key per repository" in refused(signed_repo, list(release2.rpms), target.name, other)


def test_refuses_packages_not_built_by_sitepolicy(signed_repo, gpg_key, target, tmp_path):
    foreign = small_rpm(tmp_path, "foreign-tool", [])
    lookalike = small_rpm(tmp_path, f"sitepolicy-{SELINUX}-selinux", [])
    no_buildinfo = small_rpm(
        tmp_path,
        "sitepolicy-shop.example.com-selinux",
        [f"sitepolicy-target({target.name})", "sitepolicy-site(shop.example.com) = 0123456789abcdef"],
    )
    message = refused(signed_repo, [foreign, lookalike, no_buildinfo], target.name, gpg_key)
    assert f"{foreign.name}: not built by sitepolicy: its name does not start with 'sitepolicy-'" in message
    assert f"{lookalike.name}: not built by sitepolicy: it has no sitepolicy-target(...)" in message
    assert f"{no_buildinfo.name}: not built by sitepolicy: its BUILDINFO (in the package docs) is missing" in message


def test_refuses_packages_of_another_target(signed_repo, release2, gpg_key, target, tmp_path):
    repo = tmp_path / "el9"
    message = refused(repo, list(release2.rpms), "el9", gpg_key)
    assert f"built for target {target.name!r}, but this repository is for 'el9'" in message
    assert not (repo / "Packages").exists()
    assert "one per target" in refused(signed_repo, list(release2.rpms), "el9", gpg_key)


def test_refuses_another_definition_of_a_published_site(signed_repo, gpg_key, target, headers, tmp_path):
    original = load_site(EXAMPLES / f"{SELINUX}.yaml")
    impostor = site_from_mapping(
        {"site": SELINUX, "docroot": "/srv/www/other", "user": "other", "version": "2.0"}, Path("<memory>")
    )
    build = build_site(impostor, target, headers, tmp_path / "build")
    message = refused(signed_repo, list(build.rpms), target.name, gpg_key)
    assert f"already holds sitepolicy-{SELINUX}-" in message and f"for a different definition of {SELINUX}" in message
    # The same site with a changed field that is not its identity (a new writable dir) is an upgrade.
    changed = site_from_mapping(
        {
            "site": SELINUX,
            "docroot": str(original.docroot),
            "user": original.user,
            "group": original.group,
            "writable": ["media"],
            "version": "2.0",
        },
        Path("<memory>"),
    )
    upgrade = build_site(changed, target, headers, tmp_path / "build2")
    assert publish(signed_repo, list(upgrade.rpms), target.name, gpg_key).added


def test_refuses_an_older_version_unless_forced(tmp_path, example_builds, release2, gpg_key, target):
    repo = tmp_path / "repo"
    publish(repo, list(release2.rpms), target.name, gpg_key)
    old = rpms_of(example_builds, SELINUX)
    message = refused(repo, old, target.name, gpg_key)
    assert "version 1.0-1.deb12 is older than 1.0-2.deb12, which the repository holds (--force" in message
    result = publish(repo, old, target.name, gpg_key, force=True)
    assert sorted(result.added) == sorted(p.name for p in old)
    assert metadata_problems(repo) == []


def test_refuses_the_same_version_with_other_content(signed_repo, gpg_key, target, example_sites, headers, tmp_path):
    site = next(s for s in example_sites if s.name == SELINUX)
    rebuilt = build_site(site, target, headers, tmp_path / "again")  # same NEVRA, another build time
    message = refused(signed_repo, list(rebuilt.rpms), target.name, gpg_key)
    assert "is already published with different content; build it with a higher --release" in message


def test_keeps_the_last_n_versions(tmp_path, example_builds, release2, gpg_key, target):
    repo = tmp_path / "repo"
    publish(repo, rpms_of(example_builds, SELINUX), target.name, gpg_key, keep=1)
    result = publish(repo, list(release2.rpms), target.name, gpg_key, keep=1)
    old = sorted(p.name for p in rpms_of(example_builds, SELINUX))
    assert sorted(result.pruned) == old
    assert listed_packages(repo) == sorted(f"Packages/{p.name}" for p in release2.rpms)
    assert metadata_problems(repo) == []
    # The pruned files stay one generation for readers holding the previous metadata, then go.
    on_disk = sorted(p.name for p in (repo / "Packages").iterdir())
    assert on_disk == sorted(old + [p.name for p in release2.rpms])
    publish(repo, rpms_of(example_builds, "private.rskeens.com"), target.name, gpg_key, keep=1)
    assert not any((repo / "Packages" / name).exists() for name in old)
    assert metadata_problems(repo) == []


def test_files_no_metadata_lists_are_not_part_of_the_repository(signed_repo, release2, gpg_key, target, tmp_path):
    stray = signed_repo / "Packages" / "foreign-tool-9-1.deb12.noarch.rpm"
    shutil.copy(small_rpm(tmp_path, "foreign-tool", []), stray)
    publish(signed_repo, list(release2.rpms), target.name, gpg_key)
    assert not stray.exists()
    assert "Packages/foreign-tool-9-1.deb12.noarch.rpm" not in listed_packages(signed_repo)
    assert metadata_problems(signed_repo) == []


def test_publish_task_with_srpms(tmp_path, target):
    root = make_project(tmp_path)
    assert invoke(root, "build-site", SELINUX).returncode == 0
    result = invoke(root, "publish", "--repo", str(tmp_path / "repo"), "--with-srpms")
    assert result.returncode == 0, result.stderr
    assert "NOT signed" in result.stdout and result.stdout.strip().endswith("sites.repo")
    assert len(list((tmp_path / "repo/SRPMS").glob("*.src.rpm"))) == 2  # the site's and sitepolicy-selinux-runtime's
    assert metadata_problems(tmp_path / "repo") == []
    # A refusal: a clear message, exit 2, no traceback.
    bad = invoke(root, "publish", "--repo", str(tmp_path / "repo"), "--target", "el9")
    assert bad.returncode == 1 and "nothing built for target el9" in bad.stderr and "Traceback" not in bad.stderr
    other = invoke(
        root,
        "publish",
        "--repo",
        str(tmp_path / "repo"),
        "--rpm",
        str(next((root / "build").rglob("*.rskeens.com-selinux-*.noarch.rpm"))),
        "--target",
        "el9",
    )
    assert other.returncode == 2 and "one per target" in other.stderr


def test_parallel_publishes_leave_consistent_metadata(tmp_path, example_builds, release2, gpg_key, target):
    """Two `invoke publish` at once (each adding other packages): the lock serialises them."""
    root = make_project(tmp_path)
    repo = tmp_path / "repo"
    sets = [rpms_of(example_builds, SELINUX), rpms_of(example_builds, "private.rskeens.com")]
    for round_ in range(2):
        procs = [
            subprocess.Popen(
                [
                    str(Path(os.environ.get("VIRTUAL_ENV", Path(__file__).parent.parent / ".venv")) / "bin/invoke"),
                    "publish",
                    "--repo",
                    str(repo),
                    "--sign",
                    gpg_key.fingerprint,
                    "--allow-unverified",  # the session's builds never went through build-site's verify gate
                ]
                + [arg for p in rpms for arg in ("--rpm", str(p))],
                cwd=root,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for rpms in (sets if round_ == 0 else [list(release2.rpms), sets[1]])
        ]
        outputs = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outputs
        assert metadata_problems(repo) == []
    expected = {p.name for s in sets for p in s} | {p.name for p in release2.rpms}
    assert {Path(h).name for h in listed_packages(repo)} == expected
    subprocess.run(
        ["gpg", "--batch", "--verify", repo / "repodata/repomd.xml.asc", repo / "repodata/repomd.xml"],
        check=True,
        capture_output=True,
    )


# --------------------------------------------------------------------------- dnf installs from it


@pytest.fixture(scope="session")
def host_provides(tmp_path_factory) -> Path:
    return provides_repo(tmp_path_factory.mktemp("testonly-provides"))


def new_root(tmp_path: Path, repo: Path, host_provides: Path, store: str | None = None) -> Dnf:
    # A host whose /etc/selinux/config names the packages' store: reconcile loads and relabels only then.
    root = make_root(tmp_path / "root", store=store)
    # The docroots exist on a real host before the site is installed: restorecon must then cover them.
    for site in ("selinux.rskeens.com", "private.rskeens.com"):
        (root / "srv/www" / site).mkdir(parents=True, exist_ok=True)
    return Dnf.configure(root, tmp_path / "dnf", [repo / "sites.repo"], host_provides)


@pytest.fixture
def policy_root(tmp_path) -> Path:
    """A private copy of this host's policy store (FACTS.md): semodule -p on it never touches the host."""
    root = tmp_path / "policy"
    shutil.copytree("/var/lib/selinux", root / "var/lib/selinux", symlinks=True)
    shutil.copytree("/etc/selinux", root / "etc/selinux", symlinks=True)
    return root


def replay_semodule(call: Call, installroot: Path, policy_root: Path) -> None:
    """Run a recorded semodule argument list with the real semodule on the private policy root."""
    argv = [
        str(installroot / a.lstrip("/")) if a.startswith("/") and (installroot / a.lstrip("/")).exists() else a
        for a in call.argv
    ]
    result = subprocess.run(["semodule", "-p", str(policy_root), *argv], capture_output=True, text=True)
    assert result.returncode == 0, f"recorded semodule {call.argv} failed on replay: {result.stdout}{result.stderr}"


def modules(policy_root: Path, store: str) -> set[str]:
    out = subprocess.run(["semodule", "-p", str(policy_root), "-s", store, "-l"], capture_output=True, text=True)
    return set(out.stdout.split())


def dnf_ok(result: subprocess.CompletedProcess[str]) -> None:
    # dnf exits 0 even when a scriptlet failed (FACTS.md): read its output too.
    text = result.stdout + result.stderr
    assert result.returncode == 0, text
    for bad in ("scriptlet failed", "Error in POSTIN", "Error in POSTUN", "Error in PREIN", "Error in PREUN"):
        assert bad not in text, text


def scriptlet_of(event: Scriptlet, package: Path, tag: str) -> bool:
    """Whether a recorded script is the package's scriptlet ``tag`` (rpm hands the text over unchanged)."""
    return event.text.strip() == read_info(package).scriptlets[tag].strip()


@pytest.mark.slow
def test_dnf_installs_both_sites_from_the_signed_repository(
    tmp_path, signed_repo, example_builds, host_provides, policy_root, target
):
    dnf = new_root(tmp_path, signed_repo, host_provides, target.store)
    packages = [f"sitepolicy-{s}-php-fpm" for s in example_builds]
    dnf_ok(dnf("install", *packages))
    query = dnf.rpm_q(*packages, *(f"sitepolicy-{s}-selinux" for s in example_builds))
    assert query.returncode == 0, query.stdout + query.stderr
    # The package signature dnf checked: the key is in the root's rpm database.
    assert "gpg-pubkey" in dnf.rpm_q("gpg-pubkey").stdout
    recorded = calls(dnf.root, "semodule")
    relabel_paths = {str(p) for b in example_builds.values() for p in (*b.site.relabel_paths, *b.site.writable_dirs)}
    # One restorecon for the whole transaction (sitepolicy-selinux-runtime), -T 0 where restorecon has it.
    restored = [c.argv[c.argv.index("--") + 1 :] for c in calls(dnf.root, "restorecon") if "-n" not in c.argv]
    # The paths of the file contexts that changed: each is a site path or below one (tmp/uploads).
    assert len(restored) == 1, restored
    assert all(any(p == r or p.startswith(r + "/") for r in relabel_paths) for p in restored[0]), restored
    for build in example_builds.values():
        site, n = build.site, build.site.names
        pp = f"/usr/share/selinux/packages/{target.store}/{n.module}.cil.bz2"
        for path in (pp, f"/usr/lib/systemd/system/{n.unit}", str(site.fpm_config), str(site.sessions_dir)):
            assert (dnf.root / path.lstrip("/")).exists(), path
        # However the scriptlets batch them: the module goes in once, at priority 200, into the store.
        assert module_operations(recorded, n.module) == [("-i", pp, "200", target.store)]
        assert {str(site.docroot), str(site.sessions_dir)} <= set(restored[0])
    for call in recorded:
        replay_semodule(call, dnf.root, policy_root)
    assert {b.site.names.module for b in example_builds.values()} <= modules(policy_root, target.store)


def module_operations(recorded: list[Call], module: str) -> list[tuple[str, str, str | None, str | None]]:
    """(-i path | -r name, priority, store) of every semodule operation on ``module``, in call order."""
    operations = []
    for call in recorded:
        priority = store = None
        argv = list(call.argv)
        for flag, value in zip(argv, [*argv[1:], ""]):
            if flag in ("-X", "--priority"):
                priority = value
            elif flag in ("-s", "--store"):
                store = value
            elif flag in ("-i", "--install", "-r", "--remove") and module in value:
                operations.append(({"--install": "-i", "--remove": "-r"}.get(flag, flag), value, priority, store))
    return operations


def tampered_copy(repo: Path, destination: Path) -> Path:
    shutil.copytree(repo, destination, symlinks=True)
    return destination


def dnf_fails(tmp_path: Path, repo: Path, host_provides: Path, target: str, expected: tuple[str, ...]) -> None:
    (repo / "sites.repo").write_text(render_repo_file(target, repo.as_uri(), signed=True))  # points at this copy
    dnf = new_root(tmp_path, repo, host_provides)
    result = dnf("install", f"sitepolicy-{SELINUX}-selinux")
    text = result.stdout + result.stderr
    assert result.returncode != 0, text
    assert all(e in text for e in expected), text
    assert dnf.rpm_q(f"sitepolicy-{SELINUX}-selinux").returncode != 0


@pytest.mark.slow
def test_dnf_refuses_an_unsigned_package_in_a_signed_repository(
    tmp_path, example_builds, example_runtime, gpg_key, host_provides, target
):
    repo = tmp_path / "repo"
    (repo / "Packages").mkdir(parents=True)
    for path in rpms_of(example_builds, SELINUX) + list(example_runtime.rpms):
        shutil.copy(path, repo / "Packages")  # unsigned, bypassing publish
    subprocess.run(["/usr/bin/createrepo_c", "--quiet", str(repo)], check=True)
    sign_file(repo / "repodata/repomd.xml", gpg_key)  # the metadata itself is correctly signed
    export_public_key(gpg_key, repo / KEY_FILE)
    dnf_fails(tmp_path / "t", repo, host_provides, target.name, ("is not signed", "GPG check FAILED"))


@pytest.mark.slow
def test_dnf_refuses_a_tampered_repomd(tmp_path, signed_repo, host_provides, target):
    repo = tampered_copy(signed_repo, tmp_path / "copy")
    repomd = repo / "repodata/repomd.xml"
    text = repomd.read_text()
    repomd.unlink()  # the link points into the generation: write a new file, not through it
    repomd.write_text(text.replace("</repomd>", "<!-- tampered --></repomd>"))
    dnf_fails(
        tmp_path / "t",
        repo,
        host_provides,
        target.name,
        ("repomd.xml GPG signature verification error: Bad GPG signature",),
    )


@pytest.mark.slow
def test_dnf_refuses_a_tampered_rpm(tmp_path, signed_repo, host_provides, target):
    repo = tampered_copy(signed_repo, tmp_path / "copy")
    rpm_path = next((repo / "Packages").glob(f"sitepolicy-{SELINUX}-selinux-*.rpm"))
    data = bytearray(rpm_path.read_bytes())
    data[-100] ^= 0xFF  # a byte of the compressed payload
    rpm_path.write_bytes(bytes(data))
    dnf_fails(tmp_path / "t", repo, host_provides, target.name, ("has incorrect checksum",))


@pytest.mark.slow
def test_dnf_upgrade_keeps_the_module_and_erase_removes_it(
    tmp_path, example_builds, example_runtime, release2, gpg_key, host_provides, policy_root, target
):
    repo = tmp_path / "repo"
    module = release2.site.names.module
    selinux_pkg = release2.site.names.selinux_package
    publish(repo, rpms_of(example_builds, SELINUX) + list(example_runtime.rpms), target.name, gpg_key)
    dnf = new_root(tmp_path, repo, host_provides, target.store)
    dnf_ok(dnf("install", release2.site.names.php_fpm_package))
    for call in calls(dnf.root, "semodule"):
        replay_semodule(call, dnf.root, policy_root)
    assert module in modules(policy_root, target.store)

    clear_log(dnf.root)
    publish(repo, list(release2.rpms), target.name, gpg_key)
    dnf_ok(dnf("upgrade", "--refresh"))
    assert dnf.rpm_q(selinux_pkg).stdout.strip().startswith(f"{selinux_pkg}-1.0-2")
    events = read_log(dnf.root)
    new_rpm = next(p for p in release2.rpms if p.name.startswith(selinux_pkg))
    post = [i for i, e in enumerate(events) if isinstance(e, Scriptlet) and scriptlet_of(e, new_rpm, "postin")]
    postun = [i for i, e in enumerate(events) if isinstance(e, Scriptlet) and scriptlet_of(e, new_rpm, "postun")]
    assert len(post) == 1 and len(postun) == 1, events
    assert events[post[0]].arg1 == "2" and events[postun[0]].arg1 == "1"  # type: ignore[union-attr]
    assert post[0] < postun[0], "the new %post must run before the old %postun"
    upgrade_calls = calls(dnf.root, "semodule")
    # Never -r. Release 2 rebuilt the same definition, so its module is byte-identical: the runtime's
    # reconcile installs a module only when its content changed, and here calls semodule not at all.
    assert [op[0] for op in module_operations(upgrade_calls, module)] in ([], ["-i"]), "never -r"
    for call in upgrade_calls:
        replay_semodule(call, dnf.root, policy_root)
    assert module in modules(policy_root, target.store)

    clear_log(dnf.root)
    dnf_ok(dnf("remove", release2.site.names.php_fpm_package, selinux_pkg))
    removal = calls(dnf.root, "semodule")
    assert module_operations(removal, module) == [("-r", module, "200", target.store)]
    for call in removal:
        replay_semodule(call, dnf.root, policy_root)
    assert module not in modules(policy_root, target.store)
    assert dnf.rpm_q(selinux_pkg).returncode != 0


def test_a_reader_never_sees_half_written_metadata(tmp_path, example_builds, release2, gpg_key, target):
    """While publishes run, read the repository the way dnf does (repomd.xml, then each file it names,
    through the repodata link) and verify every checksum of every snapshot read."""
    repo = tmp_path / "repo"
    publish(repo, rpms_of(example_builds, SELINUX), target.name, gpg_key, keep=1)
    done = threading.Event()
    reads: list[list[str]] = []

    def reader() -> None:
        while not done.is_set():
            reads.append(read_like_dnf(repo))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for rpms, force in (
            (list(release2.rpms), False),
            (rpms_of(example_builds, "private.rskeens.com"), False),
            (rpms_of(example_builds, SELINUX), True),
            (list(release2.rpms), False),
        ):
            publish(repo, rpms, target.name, gpg_key, keep=1, force=force)
    finally:
        done.set()
        thread.join()
    reads.append(read_like_dnf(repo))
    assert [problems for problems in reads if problems] == []


def read_like_dnf(repo: Path) -> list[str]:
    """Fetch repomd.xml once, then every file it names through repo/repodata/, as an HTTP client would."""
    import gzip
    import xml.etree.ElementTree as ET

    ns = {"repo": "http://linux.duke.edu/metadata/repo", "common": "http://linux.duke.edu/metadata/common"}
    repomd = ET.fromstring((repo / "repodata/repomd.xml").read_bytes())
    problems = []
    for data in repomd.findall("repo:data", ns):
        href = data.find("repo:location", ns).get("href")
        expected = data.find("repo:checksum", ns).text
        try:
            content = (repo / href).read_bytes()
        except FileNotFoundError:
            problems.append(f"{href} missing")
            continue
        if hashlib.sha256(content).hexdigest() != expected:
            problems.append(f"{href} checksum")
        if data.get("type") == "primary":
            for package in ET.fromstring(gzip.decompress(content)).findall("common:package", ns):
                location = package.find("common:location", ns).get("href")
                try:
                    digest = hashlib.sha256((repo / location).read_bytes()).hexdigest()
                except FileNotFoundError:
                    problems.append(f"{location} missing")
                    continue
                if digest != package.find("common:checksum", ns).text:
                    problems.append(f"{location} checksum")
    return problems


def test_publish_dry_run_lists_the_packages_and_changes_nothing(tmp_path, example_builds):
    root = make_project(tmp_path)
    rpms = rpms_of(example_builds, SELINUX)
    # --allow-unverified: the session's builds never went through build-site's verify gate
    args = ["--dry-run", "--allow-unverified", *[a for p in rpms for a in ("--rpm", str(p))]]
    refused = invoke(root, "publish", "--repo", str(tmp_path / "repo"), *args[:1], *args[2:])
    assert refused.returncode == 3 and "without a passing verify" in refused.stderr
    result = invoke(root, "publish", "--repo", str(tmp_path / "repo"), *args)
    assert result.returncode == 0, result.stderr
    assert f"publish would offer {len(rpms)} packages to {tmp_path / 'repo'}" in result.stdout
    assert "NOT signed" in result.stdout and all(str(p) in result.stdout for p in rpms)
    assert not (tmp_path / "repo").exists()
    nothing = invoke(root, "publish", "--repo", str(tmp_path / "repo"), "--dry-run")
    assert nothing.returncode == 1 and "nothing built for target" in nothing.stderr
