"""build-site --mock and submit (Copr, Koji), up to the tools this machine does not have.

mock, copr-cli and koji are not installed here. What is tested without them: the exact command lines,
the mapping of build roots to targets, the meaning of every documented exit code with the tail of the
right log, and the result directory layouts, replayed from a hand-made RECORDING
(tests/data/mock-recording/, see its RECORDING.md). The binary RPMs a replayed success holds are built
for real, from the SRPM alone, with a clean `rpmbuild --rebuild` (what mock runs in its chroot): the
SRPM is self-contained. The live tests run where the tool is on PATH and are skipped elsewhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import invoke, make_project, shared_target

from sitepolicy.definition.site import load_site
from sitepolicy.inspect import read_package
from sitepolicy.package.build import build_site
from sitepolicy.package.headers import resolve_headers
from sitepolicy.package.mock import (
    EXIT_CODES,
    Log,
    MockError,
    chain_command,
    explain,
    rebuild_command,
    target_for_build_root,
)
from sitepolicy.package.rpmbuild import rebuild
from sitepolicy.package.run import build_mock
from sitepolicy.project import Project
from sitepolicy.publish.submit import COPR_EXIT, KOJI_EXIT, SubmitError, koji_target
from sitepolicy.publish.submit import explain as explain_submit
from sitepolicy.targets import get_target
from sitepolicy.verify.run import current_outputs, verify_built, verify_source

RECORDING = Path(__file__).parent / "data" / "mock-recording"
CONFIG = "alma+epel-9-x86_64"
EL9 = get_target("el9")
# What an EL 9 build root's selinux-policy-devel defines as %_selinux_policy_version (the version floor).
EL9_BUILD_ROOT_MACROS = {"_selinux_policy_version": "38.1.46"}


# --------------------------------------------------------------------------- build roots and commands


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("alma+epel-9-x86_64", "el9"),
        ("rocky+epel-8-x86_64", "el8"),
        ("rhel+epel-10-x86_64", "el10"),
        ("centos-stream+epel-next-9-x86_64", "el9"),
        ("almalinux-9-aarch64", "el9"),
        ("epel-9-x86_64", "el9"),  # a Copr chroot
        ("fedora-41-x86_64", "fedora"),
        ("fedora-rawhide-aarch64", "fedora"),
        ("/etc/mock/alma+epel-10-x86_64.cfg", "el10"),
    ],
)
def test_build_root_names_map_to_targets(name, target):
    assert target_for_build_root(name).name == target


@pytest.mark.parametrize("name", ["opensuse-tumbleweed-x86_64", "epel-7-x86_64", "--help", "a b", "", "x\ny"])
def test_unknown_build_roots_are_refused(name):
    with pytest.raises(MockError):
        target_for_build_root(name)


def test_mock_command_lines(tmp_path):
    srpm = tmp_path / "sitepolicy-a.example.com-1.0-1.el9.src.rpm"
    assert rebuild_command(CONFIG, srpm, tmp_path / "out") == [
        "mock",
        "-r",
        CONFIG,
        "--rebuild",
        str(srpm),
        "--resultdir",
        str(tmp_path / "out"),
    ]
    assert chain_command(CONFIG, [srpm, srpm], tmp_path / "repo") == [
        *("mock", "-r", CONFIG, "--chain", "--continue", "--localrepo", str(tmp_path / "repo")),
        *(str(srpm), str(srpm)),
    ]


@pytest.mark.parametrize("code", sorted(EXIT_CODES))
def test_every_documented_mock_exit_code_is_explained_with_the_right_log(tmp_path, code):
    for log in Log:
        (tmp_path / log.value).write_text(f"first line\nthe last line of {log.value}\n")
    error = explain(code, tmp_path, "mock said goodbye")
    text = str(error)
    meaning = EXIT_CODES[code]
    assert error.code == code and error.exit_code == 1
    assert text.startswith(f"mock failed with exit code {code}: {meaning.meaning}")
    assert "mock said goodbye" in text
    for log in Log:
        assert (f"the last line of {log.value}" in text) == (log is meaning.log)


def test_the_documented_examples(tmp_path):
    (tmp_path / "build.log").write_text("error: Bad exit status (%build)\n")
    (tmp_path / "root.log").write_text("Error: Unable to find a match: selinux-policy-devel\n")
    assert "Bad exit status" in str(explain(10, tmp_path)) and "Unable to find" not in str(explain(10, tmp_path))
    for code in (20, 30):
        assert "Unable to find a match" in str(explain(code, tmp_path))
    assert "error with the SRPM" in str(explain(40, tmp_path))
    assert "build root locked" in str(explain(60, tmp_path))
    assert "not one mock documents" in str(explain(77, tmp_path))


# --------------------------------------------------------------------------- replaying the recording


class ReplayRecording:
    """Stands in for running mock: checks the exact command, then lays out a RECORDED result directory.

    Not a command on PATH: it is handed to the workflow as its runner. Successful packages are built
    for real from the SRPM named in the command (a clean rpmbuild --rebuild, as in mock's chroot).
    """

    def __init__(self, tmp_path: Path, scenarios: dict[str, str], headers: Path | None = None) -> None:
        self.tmp_path = tmp_path
        self.scenarios = scenarios  # site name (or "chain") -> recording scenario
        self.commands: list[list[str]] = []
        self.headers = headers  # the build root's devel tree (default: this host's)

    def __call__(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        self.commands.append(argv)
        assert argv[:3] == ["mock", "-r", CONFIG]
        if argv[3] == "--chain":
            assert argv[4:6] == ["--continue", "--localrepo"]
            destination, srpms, scenario = Path(argv[6]), [Path(a) for a in argv[7:]], self.scenarios["chain"]
            source = RECORDING / scenario / "localrepo"
        else:
            assert argv[3] == "--rebuild" and argv[5] == "--resultdir" and len(argv) == 7
            destination, srpms = Path(argv[6]), [Path(argv[4])]
            scenario = next(v for k, v in self.scenarios.items() if k in srpms[0].name)
            source = RECORDING / scenario / "resultdir"
        code = int((RECORDING / scenario / "exit-code").read_text())
        if source.exists():
            shutil.copytree(source, destination)
        for srpm in srpms:
            where = destination
            if argv[3] == "--chain":
                where = destination / "results" / CONFIG / srpm.name.removesuffix(".src.rpm")
                if not (where / "success").exists():
                    continue
            elif code != 0:
                continue
            topdir = self.tmp_path / "replay" / srpm.name
            rebuild(srpm, where, topdir, EL9, self.headers, True, EL9_BUILD_ROOT_MACROS)
            shutil.copy(srpm, where / srpm.name)
        output = (RECORDING / scenario / "output").read_text().replace("RESULTDIR", str(destination))
        return subprocess.CompletedProcess(argv, code, output.replace("LOCALREPO", str(destination)), "")


def mock_build(
    root: Path, replay: ReplayRecording, chain: bool = False, release: str = "1"
) -> tuple[list[Path] | Exception, list[str]]:
    """build-site --mock with --no-verify: this Debian host cannot verify an el9 build without a policy root."""
    lines: list[str] = []
    try:
        project = Project(root)
        el9 = project.with_target("el9")
        try:
            # the runtime is built here, its base module against el9's headers (issue 11)
            headers = replay.headers or shared_target("el9") / "devel"
            build_mock(project, [], True, [CONFIG], release, chain, lines.append, replay, str(headers))
        finally:  # released as --no-verify releases them, also what was built when another site failed
            verify_built(el9, None, list(project.sites))
        paths: list[Path] | Exception = current_outputs(el9, list(project.sites))
    except MockError as exc:
        paths = exc
    return paths, lines


def test_mock_without_a_policy_root_needs_no_verify(tmp_path):
    """Refused before mock runs (mock is not even installed here): the message names both ways out."""
    root = make_project(tmp_path)
    result = invoke(root, "build-site", "--all", "--mock", CONFIG)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "build-site --target el9 cannot be verified here" in result.stderr and "--no-verify" in result.stderr
    assert not (root / "build" / "el9").exists()


@pytest.mark.slow
def test_mock_packages_are_verified_against_a_policy_root(tmp_path):
    """mock's packages are gated like a local build's: verified against the el9 root before rpms/."""
    el9_tree = shared_target("el9", need_root=True)
    root = make_project(tmp_path)
    scenarios = {"selinux.rskeens.com": "rebuild-ok", "private.rskeens.com": "rebuild-ok"}
    replay = ReplayRecording(tmp_path, scenarios, el9_tree / "devel")  # an EL 9 build root: el9's headers
    project = Project(root)
    el9 = project.with_target("el9")
    source = verify_source(el9, str(el9_tree / "root"), False, "build-site")
    assert source is not None and source.live_root == (el9_tree / "root").resolve()
    build_mock(project, [], True, [CONFIG], "1", False, lambda line: None, replay, str(el9_tree / "devel"))
    assert not list((root / "build/el9/rpms").glob("*.rpm"))  # waiting for verify
    verified = verify_built(el9, source, list(project.sites))
    assert verified is not None
    assert set(verified.report.sites) == {"selinux.rskeens.com", "private.rskeens.com"}
    released = sorted((root / "build/el9/rpms").glob("*.rpm"))
    assert len(released) == (5 if verified.report.ok else 0)


def test_mock_success_lands_in_build_like_a_local_build(tmp_path):
    root = make_project(tmp_path)
    replay = ReplayRecording(tmp_path, {"selinux.rskeens.com": "rebuild-ok", "private.rskeens.com": "rebuild-ok"})
    paths, lines = mock_build(root, replay)
    assert not isinstance(paths, Exception), paths
    el9 = root / "build" / "el9"
    assert sorted(p.name for p in paths) == sorted(
        [
            f"sitepolicy-{s}-{kind}-1.0-1.el9.noarch.rpm"
            for s in ("selinux.rskeens.com", "private.rskeens.com")
            for kind in ("selinux", "php-fpm")
        ]
        + [f"sitepolicy-{s}-1.0-1.el9.src.rpm" for s in ("selinux.rskeens.com", "private.rskeens.com")]
        # the runtime the -selinux packages require (with the base module): built here, not in mock
        + ["sitepolicy-selinux-runtime-0.1.0-1.el9.noarch.rpm", "sitepolicy-selinux-runtime-0.1.0-1.el9.src.rpm"]
    )
    assert all(p.is_file() and p.is_relative_to(el9) for p in paths)
    # One mock call per SRPM, each with its own result directory, kept whole (logs and packages).
    assert [c[6] for c in replay.commands] == [
        str(el9 / "mock" / s) for s in ("private.rskeens.com", "selinux.rskeens.com")
    ]
    for site in ("private.rskeens.com", "selinux.rskeens.com"):
        kept = sorted(p.name for p in (el9 / "mock" / site).iterdir())
        assert "build.log" in kept and "root.log" in kept and len([k for k in kept if k.endswith(".rpm")]) == 3
    selinux = read_package(el9 / "rpms" / "sitepolicy-selinux.rskeens.com-selinux-1.0-1.el9.noarch.rpm")
    assert "sitepolicy-target(el9)" in selinux.provides
    assert "/usr/share/selinux/packages/targeted/sitepolicy_selinux_rskeens_com.cil.bz2" in selinux.files
    # The same packages as a local build of the same sources: the SRPM alone reproduces them.
    local = build_site(
        load_site(root / "sites.d/selinux.rskeens.com.yaml"),
        EL9,
        resolve_headers(
            EL9, Path("/usr/share/selinux/devel"), policy_version=EL9_BUILD_ROOT_MACROS["_selinux_policy_version"]
        ),
        tmp_path / "local",
    )
    for path in local.rpms:
        from_mock = read_package(el9 / "rpms" / path.name)
        assert (from_mock.files, from_mock.requires, from_mock.provides) == (
            read_package(path).files,
            read_package(path).requires,
            read_package(path).provides,
        )
    # A progress line per site, then the summary table.
    assert lines[0].startswith("[1/2] private.rskeens.com: mock -r alma+epel-9-x86_64 --rebuild ")
    assert "[2/2] selinux.rskeens.com: ok" in lines
    table = lines[-1].splitlines()
    assert table[0].split()[:4] == ["site", "mock", "config", "result"]
    assert any(row.startswith("selinux.rskeens.com") and " ok " in row for row in table)
    assert not list((root / "build" / ".staging").iterdir())


def test_mock_builds_take_their_releases_from_the_lock(tmp_path):
    """Without --release, a changed definition gets the next release in mock too; an unchanged one keeps its own."""
    root = make_project(tmp_path)
    scenarios = {"selinux.rskeens.com": "rebuild-ok", "private.rskeens.com": "rebuild-ok"}
    first, _ = mock_build(root, ReplayRecording(tmp_path / "one", scenarios), release="")
    assert not isinstance(first, Exception), first
    definition = root / "sites.d" / "selinux.rskeens.com.yaml"
    definition.write_text(definition.read_text() + "max_children: 7\n")
    second, _ = mock_build(root, ReplayRecording(tmp_path / "two", scenarios), release="")
    assert not isinstance(second, Exception), second
    names = {p.name for p in second}
    assert "sitepolicy-selinux.rskeens.com-selinux-1.0-2.el9.noarch.rpm" in names
    assert "sitepolicy-private.rskeens.com-selinux-1.0-1.el9.noarch.rpm" in names
    lock = (root / "sites.d" / "releases.lock").read_text()
    assert "el9 sitepolicy-selinux.rskeens.com 1.0 2 " in lock and "el9 sitepolicy-private.rskeens.com 1.0 1 " in lock


@pytest.mark.parametrize(
    ("scenario", "code", "log_line", "meaning"),
    [
        ("rebuild-build-failure", 10, "make: *** [/usr/share/selinux/devel/include/Makefile:157", "build failure"),
        ("rebuild-package-manager-error", 30, "Error: Unable to find a match: selinux-policy-devel", "package manager"),
        ("rebuild-chroot-error", 20, "permission denied", "error in the chroot"),
        ("rebuild-locked", 60, "Build root is locked by another process", "build root locked"),
    ],
)
def test_a_failed_mock_build_reports_its_meaning_and_log(tmp_path, scenario, code, log_line, meaning):
    root = make_project(tmp_path)
    replay = ReplayRecording(tmp_path, {"selinux.rskeens.com": "rebuild-ok", "private.rskeens.com": scenario})
    error, lines = mock_build(root, replay)
    assert isinstance(error, MockError)
    text = str(error)
    assert text.startswith("1 of 2 mock builds failed:\nprivate.rskeens.com (alma+epel-9-x86_64): ")
    assert f"mock failed with exit code {code}: {meaning}" in text and log_line in text
    # The other site still built; the failed one left nothing in build/el9/rpms.
    rpms = sorted(p.name for p in (root / "build/el9/rpms").iterdir())
    assert rpms == [
        "sitepolicy-selinux.rskeens.com-php-fpm-1.0-1.el9.noarch.rpm",
        "sitepolicy-selinux.rskeens.com-selinux-1.0-1.el9.noarch.rpm",
    ]
    assert any(r.startswith("private.rskeens.com") and f"FAILED: exit code {code}" in r for r in lines[-1].splitlines())


def test_chain_reads_each_package_marker(tmp_path):
    root = make_project(tmp_path)
    replay = ReplayRecording(tmp_path, {"chain": "chain-partial"})
    error, lines = mock_build(root, replay, chain=True)
    assert len(replay.commands) == 1 and replay.commands[0][3] == "--chain"
    assert replay.commands[0][6] == str(root / "build/el9/mock/chain")
    assert isinstance(error, MockError)
    assert "private.rskeens.com (alma+epel-9-x86_64): mock failed with --chain: failed" in str(error)
    assert "make: *** [/usr/share/selinux/devel/include/Makefile:157" in str(error)
    assert (root / "build/el9/rpms/sitepolicy-selinux.rskeens.com-selinux-1.0-1.el9.noarch.rpm").is_file()
    assert "[chain] selinux.rskeens.com: ok" in lines and "[chain] private.rskeens.com: FAILED" in lines


def test_build_site_mock_from_the_command_line(tmp_path):
    root = make_project(tmp_path)
    bad = invoke(root, "build-site", "--all", "--mock", "opensuse-tumbleweed-x86_64")
    assert bad.returncode == 1 and "names no build root sitepolicy has a target for" in bad.stderr
    assert "Traceback" not in bad.stderr
    two = invoke(root, "build-site", "--all", "--mock", CONFIG, "--mock", "rocky+epel-9-x86_64")
    assert two.returncode == 1 and "both build for el9" in two.stderr
    assert invoke(root, "build-site", "--all", "--chain").returncode == 1
    if shutil.which("mock") is None:
        missing = invoke(root, "build-site", "--all", "--mock", CONFIG, "--no-verify")
        assert missing.returncode == 1 and "'mock' is not installed" in missing.stderr
        assert not (root / "build" / "el9").exists()


@pytest.mark.skipif(shutil.which("mock") is None, reason="mock is not installed on this machine")
@pytest.mark.slow
def test_live_mock_build(tmp_path):
    root = make_project(tmp_path)
    config = os.environ.get("SITEPOLICY_MOCK_CONFIG", CONFIG)
    result = invoke(root, "build-site", "--all", "--mock", config, "--no-verify")
    assert result.returncode == 0, result.stderr
    printed = [Path(line) for line in result.stdout.split()]
    assert len(printed) == 8 and all(p.is_file() for p in printed)  # with sitepolicy-selinux-runtime


# --------------------------------------------------------------------------- Copr and Koji


def test_copr_command_line(tmp_path):
    root = make_project(tmp_path)
    result = invoke(root, "submit", "--copr", "owner/project", "--chroot", "epel-9-x86_64", "--dry-run")
    assert result.returncode == 0, result.stderr
    out = root / "build" / "el9" / "submit"
    srpms = sorted(out.glob("*.src.rpm"))
    assert [p.name for p in srpms] == [
        "sitepolicy-private.rskeens.com-1.0-1.el9.src.rpm",
        "sitepolicy-selinux.rskeens.com-1.0-1.el9.src.rpm",
    ]
    assert result.stdout.splitlines() == [
        "copr-cli build --chroot epel-9-x86_64 owner/project " + " ".join(str(p) for p in srpms)
    ]


def test_koji_command_lines(tmp_path):
    root = make_project(tmp_path)
    result = invoke(root, "submit", "--koji", "epel9-candidate", "--site", "selinux.rskeens.com", "--dry-run")
    assert result.returncode == 0, result.stderr
    srpm = root / "build/el9/submit/sitepolicy-selinux.rskeens.com-1.0-1.el9.src.rpm"
    assert result.stdout.splitlines() == [f"koji build epel9-candidate {srpm}"]
    assert koji_target("f41-candidate").name == "fedora" and koji_target("epel10").name == "el10"
    with pytest.raises(SubmitError, match="pass --target"):
        koji_target("mycorp-build")
    custom = invoke(root, "submit", "--koji", "mycorp-build", "--target", "el8", "--dry-run")
    assert custom.returncode == 0 and "koji build mycorp-build " in custom.stdout and ".el8.src.rpm" in custom.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--copr", "not a project", "--chroot", "epel-9-x86_64"],
        ["--copr", "owner/project"],
        ["--copr", "owner/project", "--chroot", "epel-9-x86_64", "--chroot", "fedora-41-x86_64"],
        ["--copr", "owner/project", "--chroot", "epel-9-x86_64", "--koji", "epel9"],
        ["--koji", "-x", "--target", "el9"],
        [],
    ],
)
def test_submit_refuses_bad_arguments(tmp_path, args):
    root = make_project(tmp_path)
    result = invoke(root, "submit", *args, "--dry-run")
    assert result.returncode == 1 and "sitepolicy: " in result.stderr and "Traceback" not in result.stderr
    assert not (root / "build").exists() or not list((root / "build").rglob("*.src.rpm"))


@pytest.mark.parametrize(("tool", "codes"), [("copr-cli", COPR_EXIT), ("koji", KOJI_EXIT)])
def test_every_documented_submit_exit_code_is_explained(tool, codes):
    for code, meaning in codes.items():
        error = explain_submit(tool, code, [tool, "build", "x"], "line 1\nthe tool's last words")
        assert str(error).startswith(f"{tool} failed with exit code {code}: {meaning}\ncommand: {tool} build x")
        assert "the tool's last words" in str(error) and error.code == code


@pytest.mark.skipif(shutil.which("copr-cli") is not None, reason="copr-cli is installed: the live test runs instead")
def test_submit_without_the_tool_names_the_command(tmp_path):
    root = make_project(tmp_path)
    result = invoke(root, "submit", "--copr", "owner/project", "--chroot", "epel-9-x86_64")
    assert result.returncode == 1
    assert "copr-cli is not installed here" in result.stderr
    assert "copr-cli build --chroot epel-9-x86_64 owner/project " in result.stderr


@pytest.mark.skipif(
    shutil.which("copr-cli") is None or not os.environ.get("SITEPOLICY_COPR_PROJECT"),
    reason="copr-cli is not installed, or SITEPOLICY_COPR_PROJECT (owner/project to build in) is not set",
)
def test_live_copr_submit(tmp_path):
    root = make_project(tmp_path)
    project = os.environ["SITEPOLICY_COPR_PROJECT"]
    result = invoke(root, "submit", "--copr", project, "--chroot", "epel-9-x86_64", "--site", "selinux.rskeens.com")
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(
    shutil.which("koji") is None or not os.environ.get("SITEPOLICY_KOJI_TARGET"),
    reason="koji is not installed, or SITEPOLICY_KOJI_TARGET (a build target you may use) is not set",
)
def test_live_koji_submit(tmp_path):
    root = make_project(tmp_path)
    result = invoke(root, "submit", "--koji", os.environ["SITEPOLICY_KOJI_TARGET"], "--site", "selinux.rskeens.com")
    assert result.returncode == 0, result.stderr
