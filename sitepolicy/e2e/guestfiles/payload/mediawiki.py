"""Scenario "app" (issue 14): a real PHP application nobody here wrote, MediaWiki + MariaDB from Debian
bookworm's archive, in the site with `network: [database]` and `mail: sendmail`, driven through nginx.

Setup is the admin's (as root, outside any check): MediaWiki's code copied from /usr/share/mediawiki into the
site's docroot, a database and user in MariaDB (networking off: only its unix socket), MediaWiki installed
with maintenance/install.php (LocalSettings.php in the docroot), the admin's e-mail address set, msmtp as
the host's sendmail (relays over SMTP to the local Exim, which queues and delivers: under the unit's
NoNewPrivileges a setuid or setgid sendmail cannot queue, see README). Then, through nginx -> the site's
php-fpm: the main page, a login, an edit, an upload through Special:Upload (multipart, with the edit
token), the upload served by nginx, a password reset whose mail lands in the MTA's spool; and from the
other site, the application's secrets denied with their AVCs; a shell from each site.

Reusable by other scenarios (e.g. a trial-mode site running the same application): every step is a function
of the site facts (`site`: one entry of the plan's "sites", harness.site_facts) and `r`, the runner module
(its sh/say); none decides a check or writes into the audit stream:
  install(r, site, db=DB, wiki_name=WIKI_NAME) -> steps    the admin's setup of one site; steps["installed"]
  mail_setup(r, site) -> steps                             msmtp as sendmail to Exim, the admin's address
  Browser(site["name"])                                    HTTP through nginx, cookies kept
  login(web, site["name"]) / edit(web, title) / upload(web, Path(site["docroot"])) -> (passed, evidence)
PHP_CLI runs the admin's maintenance scripts (PCRE JIT off: no execmem denial in the log). A second site
needs its own `db` (names and user) and its own docroot; MariaDB is switched to its socket once.
"""

from __future__ import annotations

import hashlib
import html
import http.client
import json
import os
import re
import shutil
import struct
import subprocess
import time
import zlib
from pathlib import Path
from types import ModuleType
from urllib.parse import urlencode

MEDIAWIKI = Path("/usr/share/mediawiki")
DB = {"name": "sitepolicy_wiki", "user": "sitepolicy_wiki", "password": "e2e-Wiki-db-pw-1"}
ADMIN = {"name": "Admin", "password": "e2e-Admin-pw-1234"}
WIKI_NAME = "Sitepolicy Wiki"
UPLOAD_NAME = "Sitepolicy-e2e.png"
SCENARIO = "app"
TOP_SKIPPED = ("LocalSettings.php", "images", "config")
# The admin's PHP CLI runs as root in unconfined_t, which Debian's policy denies execmem: PCRE's JIT off, as in
# the site's pool (php_admin_value[pcre.jit] = 0), so the setup leaves no denial in the log.
PHP_CLI = ("php", "-d", "pcre.jit=0")


class Browser:
    """HTTP to nginx on 127.0.0.1:80 with a Host header and a cookie jar; every step's status is recorded."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.cookies: dict[str, str] = {}

    def go(self, method: str, path: str, body: bytes | None = None, content_type: str | None = None) -> dict:
        conn = http.client.HTTPConnection("127.0.0.1", 80, timeout=120)
        headers = {"Host": self.host}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if content_type:
            headers["Content-Type"] = content_type
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            for header in resp.headers.get_all("Set-Cookie") or []:
                name, _, rest = header.partition("=")
                value = rest.split(";", 1)[0]
                if value == "deleted" or "expires=Thu, 01 Jan 1970" in header or "expires=Thu, 01-Jan-1970" in header:
                    self.cookies.pop(name.strip(), None)
                else:
                    self.cookies[name.strip()] = value
            return {
                "url": f"http://{self.host}{path}",
                "method": method,
                "status": resp.status,
                "location": resp.getheader("Location"),
                "body": raw.decode(errors="replace")[:2000],
                "raw": raw,
            }
        except OSError as exc:
            return {"url": f"http://{self.host}{path}", "method": method, "status": None, "body": repr(exc), "raw": b""}
        finally:
            conn.close()

    def api(self, params: dict, post: bool = False) -> dict:
        params = {**params, "format": "json"}
        if post:
            r = self.go("POST", "/api.php", urlencode(params).encode(), "application/x-www-form-urlencoded")
        else:
            r = self.go("GET", "/api.php?" + urlencode(params))
        try:
            r["json"] = json.loads(r["raw"])
        except ValueError:
            r["json"] = None
        return r


def shown(r: dict) -> dict:
    """A response as evidence (no raw bytes)."""
    return {k: v for k, v in r.items() if k != "raw"}


def png() -> bytes:
    """A small valid PNG (8x8, RGB), with a marker so the served bytes can be compared."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\0" + b"".join(bytes((x * 30, y * 30, 200)) for x in range(8)) for y in range(8))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
        + chunk(b"tEXt", b"Comment\0sitepolicy e2e upload")
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def multipart(fields: dict[str, str], files: dict[str, tuple[str, str, bytes]]) -> tuple[bytes, str]:
    boundary = "----sitepolicy-e2e-" + hashlib.sha1(str(time.time()).encode()).hexdigest()
    out = b""
    for name, value in fields.items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += value.encode() + b"\r\n"
    for name, (filename, ctype, data) in files.items():
        out += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: {ctype}\r\n\r\n"
        ).encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"


def local_settings() -> str:
    return """
# sitepolicy e2e (issue 14): what the site definition allows
$wgEnableUploads = true;
$wgUploadDirectory = "$IP/uploads";
$wgUploadPath = "$wgScriptPath/uploads";
$wgCacheDirectory = "$IP/cache";
$wgArticlePath = "$wgScript?title=$1";
$wgUsePathInfo = false;
$wgUseImageMagick = false;
$wgUseInstantCommons = false;
$wgEnableEmail = true;
$wgEnableUserEmail = true;
$wgEmailAuthentication = false;
$wgPasswordSender = "wiki@localhost";
$wgEmergencyContact = "wiki@localhost";
$wgSMTP = false;
# Jobs in the request itself: no HTTP call of the site to itself (that needs network: [http]).
$wgJobRunRate = 1;
$wgRunJobsAsync = false;
$wgShowExceptionDetails = true;
"""


def install(r: ModuleType, site: dict, db: dict[str, str] | None = None, wiki_name: str = WIKI_NAME) -> dict:
    """The admin's part for one site (root, outside any check): MediaWiki's code copied into site["docroot"],
    MariaDB on its unix socket only, the database `db` (default DB) and its user, maintenance/install.php
    (LocalSettings.php in the docroot, 0640 root:site["group"], plus local_settings()), the writable
    directories given to the pool user, the docroot relabelled. Returns each step's {argv, rc, out} and
    "installed" (bool). `site` is one entry of the plan's sites (harness.site_facts)."""
    db = db or DB
    docroot = Path(site["docroot"])
    steps: dict = {}
    shutil.copytree(
        MEDIAWIKI,
        docroot,
        symlinks=False,
        ignore_dangling_symlinks=True,
        dirs_exist_ok=True,
        # Only the top level's links into /etc/mediawiki and /var/lib/mediawiki (includes/config is code).
        ignore=lambda directory, names: [n for n in names if directory == str(MEDIAWIKI) and n in TOP_SKIPPED],
        copy_function=shutil.copyfile,
    )
    # copytree gives each directory its source's extended attributes, the SELinux label included (el9's
    # policy labels /usr/share/mediawiki mediawiki_content_t, which the site domain may not even stat): the
    # site's own labels at once, not only at the end, so that no later step's failure leaves them foreign.
    steps["restorecon after the copy"] = r.sh("restorecon", "-R", str(docroot))
    cnf = Path("/etc/mysql/mariadb.conf.d/99-sitepolicy-e2e.cnf")
    if not cnf.is_file():
        cnf.write_text("[mysqld]\nskip-networking\n")
        steps.update(mariadb_where_the_policy_expects_it(r))
        steps["mariadb restart"] = r.sh("systemctl", "restart", "mariadb")
    sql = (
        f"CREATE DATABASE {db['name']}; CREATE USER '{db['user']}'@'localhost' IDENTIFIED BY '{db['password']}'; "
        f"GRANT ALL ON {db['name']}.* TO '{db['user']}'@'localhost';"
    )
    mysql = ("mysql", "--connect-timeout=20", "-e", sql)
    try:
        steps["database"] = r.sh(*mysql, timeout=120)
    except subprocess.TimeoutExpired:
        steps["database"] = {"argv": list(mysql), "rc": -1, "out": "no answer within 120 s"}
    if steps["database"]["rc"] != 0:  # what the server was doing: the report's evidence for the next run
        steps["mariadb status"] = r.sh("systemctl", "status", "--no-pager", "-l", "mariadb")
        steps["mariadb journal"] = r.sh("journalctl", "-b", "--no-pager", "-u", "mariadb")
        steps["mariadb processes"] = r.sh("ps", "-eZ", "-o", "label,pid,comm")
        steps["mariadb socket"] = r.sh("ls", "-laZ", "/run/mysqld")
    steps["install.php"] = r.sh(
        *PHP_CLI,
        str(docroot / "maintenance/install.php"),
        "--dbtype=mysql",
        "--dbserver=localhost",
        f"--dbname={db['name']}",
        f"--dbuser={db['user']}",
        f"--dbpass={db['password']}",
        f"--server=http://{site['name']}",
        "--scriptpath=",
        f"--confpath={docroot}",
        f"--pass={ADMIN['password']}",
        wiki_name,
        ADMIN["name"],
        timeout=900,
    )
    settings = docroot / "LocalSettings.php"
    if settings.exists():
        settings.write_text(settings.read_text() + local_settings())
        # The database password: readable by the pool's group (php-fpm workers), nobody else.
        shutil.chown(settings, "root", site["group"])
        os.chmod(settings, 0o640)
    give_writable_to_pool(r, site)
    steps["restorecon"] = r.sh("restorecon", "-R", str(docroot))
    steps["installed"] = steps["install.php"]["rc"] == 0 and settings.exists() and steps["database"]["rc"] == 0
    return steps


def give_writable_to_pool(r: ModuleType, site: dict) -> None:
    """The site's writable directories, and what the admin's root runs wrote in them, to the pool user."""
    for d in site["writable_dirs"]:
        r.sh("chown", "-R", f"{site['user']}:{site['group']}", d)


def mariadb_where_the_policy_expects_it(r: ModuleType) -> dict:
    """On a target's policy that does not label Debian's /usr/sbin/mariadbd mysqld_exec_t (RHEL 9's labels its
    own /usr/libexec/mariadbd), the server would run in unconfined_service_t, not mysqld_t, and its socket
    would not be the one `network: [database]` names: a copy at the target's path (a copy carries its own
    label) and a unit drop-in starting it, as configure-target.sh does for php-fpm. Nothing on Debian's."""
    debian = Path("/usr/sbin/mariadbd")
    if "mysqld_exec_t" in (r.label(str(debian)) or ""):
        return {}
    target = Path("/usr/libexec/mariadbd")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(debian, target)
    dropin = Path("/etc/systemd/system/mariadb.service.d/sitepolicy-e2e.conf")
    dropin.parent.mkdir(parents=True, exist_ok=True)
    # Debian's ExecStartPost runs /etc/mysql/debian-start, which RHEL 9's policy labels mysqld_etc_t (init_t
    # may not execute it: the unit failed, measured 2026-11-30); RHEL's own unit has no such step.
    dropin.write_text(
        f"[Service]\nExecStart=\nExecStart={target} $MYSQLD_OPTS $_WSREP_NEW_CLUSTER $_WSREP_START_POSITION\n"
        "ExecStartPost=\n"
    )
    return {
        "mariadbd at the target's path": r.sh("restorecon", "-v", str(target)),
        "mariadbd label": {"path": str(target), "label": r.label(str(target))},
        "daemon-reload": r.sh("systemctl", "daemon-reload"),
    }


def mail_setup(r: ModuleType, site: dict, mailbox_user: str = "wikimail") -> dict:
    """The host's mail for a site with mail: sendmail: the admin's e-mail address set to a local mailbox,
    msmtp as /usr/sbin/sendmail (a copy: it carries the policy's sendmail_exec_t) relaying to the local Exim."""
    steps: dict = {}
    docroot = Path(site["docroot"])
    # The recipient: a local account whose home has no .forward to look for (Exim checks the home of the user
    # it delivers to; the pool user's home is the docroot, which exim_t may not search).
    steps["mailbox user"] = r.sh("useradd", "-M", "-d", "/nonexistent", "-s", "/usr/sbin/nologin", mailbox_user)
    steps["email"] = r.sh(
        *PHP_CLI,
        str(docroot / "maintenance/resetUserEmail.php"),
        "--no-reset-password",
        ADMIN["name"],
        f"{mailbox_user}@localhost",
        timeout=300,
    )
    # What that root CLI run wrote in the writable directories (caches) is the pool user's, like the rest.
    give_writable_to_pool(r, site)
    # The host's sendmail: msmtp (a copy, so it carries the base policy's sendmail_exec_t), relaying to Exim.
    Path("/etc/msmtprc").write_text(
        "account default\nhost 127.0.0.1\nport 25\nfrom wiki@localhost\nauth off\ntls off\n"
    )
    os.chmod("/etc/msmtprc", 0o644)
    sendmail = Path("/usr/sbin/sendmail")
    if sendmail.is_symlink() or sendmail.exists():
        sendmail.unlink()
    shutil.copyfile("/usr/bin/msmtp", sendmail)
    os.chmod(sendmail, 0o755)
    steps["sendmail label"] = r.sh("restorecon", "-v", str(sendmail))
    steps["sendmail ls"] = r.sh("ls", "-Z", str(sendmail))
    steps["exim"] = r.sh("systemctl", "restart", "exim4")
    return steps


def tokens(web: Browser, kind: str = "csrf") -> tuple[str, dict]:
    """A token of api.php (csrf, login), and the response it came in."""
    resp = web.api({"action": "query", "meta": "tokens", "type": kind})
    return ((resp.get("json") or {}).get("query") or {}).get("tokens", {}).get(f"{kind}token", ""), resp


def login(web: Browser, host: str) -> tuple[bool, dict]:
    """Log in as ADMIN through api.php clientlogin; (passed, evidence)."""
    token, token_resp = tokens(web, "login")
    resp = web.api(
        {
            "action": "clientlogin",
            "username": ADMIN["name"],
            "password": ADMIN["password"],
            "logintoken": token,
            "loginreturnurl": f"http://{host}/",
        },
        post=True,
    )
    status = ((resp.get("json") or {}).get("clientlogin") or {}).get("status")
    return status == "PASS", {**shown(resp), "token_request": token_resp["status"]}


def edit(web: Browser, title: str = "Sitepolicy_e2e") -> tuple[bool, dict]:
    """An edit through api.php (csrf token), read back with action=raw; (passed, evidence)."""
    token, _resp = tokens(web)
    text = f"Written by the sitepolicy e2e run at {time.time():.0f}."
    resp = web.api({"action": "edit", "title": title, "text": text, "summary": "e2e", "token": token}, post=True)
    raw = web.go("GET", f"/index.php?title={title}&action=raw")
    result = ((resp.get("json") or {}).get("edit") or {}).get("result")
    return result == "Success" and raw["status"] == 200 and text in raw["body"], {
        **shown(resp),
        "read_back": shown(raw),
    }


def upload(web: Browser, docroot: Path, name: str = UPLOAD_NAME, data: bytes | None = None) -> tuple[bool, dict]:
    """An upload through Special:Upload (its form's wpEditToken, a multipart POST); (passed, evidence with
    "path": where MediaWiki stored it below the docroot, "data": the bytes sent)."""
    data = png() if data is None else data
    form = web.go("GET", "/index.php?title=Special:Upload")
    field = re.search(r'<input[^>]*name="wpEditToken"[^>]*>', form["raw"].decode(errors="replace"))
    match = re.search(r'value="([^"]*)"', field.group(0)) if field else None
    body, ctype = multipart(
        {
            "title": "Special:Upload",
            "wpSourceType": "file",
            "wpDestFile": name,
            "wpUploadDescription": "sitepolicy e2e upload",
            "wpLicense": "",
            "wpIgnoreWarning": "1",
            "wpDestFileWarningAck": "1",
            "wpEditToken": html.unescape(match.group(1)) if match else "",
            "wpUpload": "Upload file",
        },
        {"wpUploadFile": (name, "image/png", data)},
    )
    resp = web.go("POST", "/index.php", body, ctype)
    digest = hashlib.md5(name.encode()).hexdigest()
    rel = f"uploads/{digest[0]}/{digest[:2]}/{name}"
    stored = docroot / rel
    ok = (
        bool(match)
        and resp["status"] in (302, 303)
        and "File:" + name in (resp.get("location") or "")
        and stored.exists()
    )
    return ok, {**shown(resp), "form": form["status"], "token_found": bool(match), "path": rel, "data": data}


def run(r: ModuleType) -> None:
    """Scenario "app"; r is the runner module (its check/begin/sh/probe/SITES). A crash is a failed check:
    the scenarios after it (the upgrade) still run."""
    t = r.begin()
    try:
        _run(r)
    except Exception as exc:
        import traceback

        r.check(SCENARIO, f"scenario app crashed: {exc!r}", False, t, {"traceback": traceback.format_exc()})


def _run(r: ModuleType) -> None:
    r.say("scenario app: MediaWiki + MariaDB through nginx (issue 14)")
    t0 = r.begin()
    sites = list(r.SITES.values())
    a = next((s for s in sites if "database" in s["network"] and s.get("mail")), None)
    if a is None:
        r.check(SCENARIO, "a site with network: [database] and mail: sendmail", False, t0, {"sites": sites})
        return
    b = next(s for s in sites if s is not a)
    docroot = Path(a["docroot"])

    # ----- the admin's setup (root, unconfined; no check window but the first)
    t = r.begin()
    steps = install(r, a)
    steps.update(mail_setup(r, a))
    settings = docroot / "LocalSettings.php"
    shell_php = docroot / "sitepolicy-e2e-shell.php"
    shell_php.write_text(
        "<?php\n// sitepolicy e2e: a shell from the site (PHP's mail() starts one the same way)\n"
        "header('Content-Type: application/json');\n"
        "$p = proc_open($_GET['cmd'] ?? 'id', [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);\n"
        "$out = $p ? stream_get_contents($pipes[1]) : null; $err = $p ? stream_get_contents($pipes[2]) : null;\n"
        "echo json_encode(['out' => $out, 'err' => $err, 'rc' => $p ? proc_close($p) : null]);\n"
    )
    r.sh("restorecon", str(shell_php))
    installed = bool(steps["installed"])
    r.check(
        SCENARIO,
        f"{a['name']}: MediaWiki copied into the docroot, database created, installed (maintenance/install.php)",
        installed,
        t,
        {"steps": steps, "settings": str(settings), "label": r.label(str(settings))},
    )
    if not installed:
        return

    web = Browser(a["name"])
    # ----- through nginx -> A's php-fpm
    t = r.begin()
    page = web.go("GET", "/index.php?title=Main_Page")
    networking = r.sh("mysql", "-N", "-e", "SELECT @@skip_networking")
    r.check(
        SCENARIO,
        f"{a['name']}: the main page, from MariaDB over its unix socket only (skip_networking)",
        page["status"] == 200
        and WIKI_NAME in page["raw"].decode(errors="replace")
        and networking["out"].strip() == "1",
        t,
        {**shown(page), "skip_networking": networking},
    )

    t = r.begin()
    ok, evidence = login(web, a["name"])
    r.check(
        SCENARIO, f"{a['name']}: login (api.php clientlogin, session in the site's sessions store)", ok, t, evidence
    )

    t = r.begin()
    ok, evidence = edit(web)
    r.check(SCENARIO, f"{a['name']}: an edit (api.php edit with the csrf token), read back", ok, t, evidence)

    t = r.begin()
    ok, evidence = upload(web, docroot)
    data, rel = evidence.pop("data"), evidence["path"]
    stored = docroot / rel
    labels = {str(stored): r.label(str(stored))}
    r.check(
        SCENARIO,
        f"{a['name']}: an upload through Special:Upload (multipart POST with the edit token)",
        ok,
        t,
        {**evidence, "labels": labels},
    )

    t = r.begin()
    served = web.go("GET", "/" + rel)
    r.check(
        SCENARIO,
        f"{a['name']}: nginx serves the uploaded original, the same bytes",
        served["status"] == 200 and served["raw"] == data,
        t,
        {**shown(served), "bytes": len(served["raw"]), "sent": len(data), "labels": labels},
    )

    t = r.begin()
    token, _resp = tokens(web)
    reset = web.api({"action": "resetpassword", "user": ADMIN["name"], "token": token}, post=True)
    found = ""
    deadline = time.time() + 90
    while time.time() < deadline and not found:
        for top in ("/var/mail", "/var/spool/exim4/input"):
            for dirpath, _dirs, files in os.walk(top):
                for name in files:
                    path = os.path.join(dirpath, name)
                    try:
                        content = Path(path).read_text(errors="replace")
                    except OSError:
                        continue
                    if WIKI_NAME in content or ("password" in content.lower() and "wiki@localhost" in content):
                        found = path
        if not found:
            time.sleep(2)
    mainlog = r.sh("tail", "-n", "20", "/var/log/exim4/mainlog")
    r.check(
        SCENARIO,
        f"{a['name']}: a password reset mails the user: mail() -> shell -> sendmail -> the MTA's spool",
        ((reset.get("json") or {}).get("resetpassword") or {}).get("status") == "success" and bool(found),
        t,
        {**shown(reset), "found": found, "exim_mainlog": mainlog},
    )

    # ----- the rename case itself: move_uploaded_file() from upload_tmp_dir into uploads/ (one file system)
    mover = docroot / "sitepolicy-e2e-move.php"
    mover.write_text(
        "<?php\n// sitepolicy e2e: PHP's own upload path, a rename from upload_tmp_dir\n"
        "header('Content-Type: application/json');\n"
        "$f = $_FILES['f'] ?? null; $dst = __DIR__ . '/uploads/moved-' . basename($f['name'] ?? 'x');\n"
        "$tmp = $f['tmp_name'] ?? '';\n"
        "$same = $tmp !== '' && stat($tmp)['dev'] === stat(dirname($dst))['dev'];\n"
        "echo json_encode(['tmp' => $tmp, 'same_fs' => $same, 'ok' => $f && move_uploaded_file($tmp, $dst)]);\n"
    )
    r.sh("restorecon", str(mover))
    t = r.begin()
    moved_data = b"moved by move_uploaded_file " + str(time.time()).encode()
    body, ctype = multipart({}, {"f": ("rename.txt", "text/plain", moved_data)})
    moved = web.go("POST", "/sitepolicy-e2e-move.php", body, ctype)
    fetched = web.go("GET", "/uploads/moved-rename.txt")
    try:
        info = json.loads(moved["raw"])
    except ValueError:
        info = {}
    target = docroot / "uploads/moved-rename.txt"
    r.check(
        SCENARIO,
        f"{a['name']}: move_uploaded_file() renames from upload_tmp_dir (same file system) and nginx serves it",
        info.get("ok") is True
        and str(info.get("tmp", "")).startswith(a["tmp_dir"] + "/uploads/")
        and fetched["status"] == 200
        and fetched["raw"] == moved_data,
        t,
        {**shown(fetched), "move": shown(moved), "labels": {str(target): r.label(str(target))}},
    )

    # ----- the application's secrets, from the other site
    r.open_dac(a)
    for d in (a["tmp_dir"], a["tmp_dir"] + "/uploads"):
        if os.path.isdir(d):
            os.chmod(d, 0o777)
    t = r.begin()
    res = r.probe(b, "read", str(settings))
    r.check(
        SCENARIO,
        f"{b['name']} -> {a['name']}: read the wiki's LocalSettings.php (database password)",
        res["status"] == 200 and (res["json"] or {}).get("ok") is False,
        t,
        {"probe": res},
        expect_avc=[b["domain"], a["types"]["content"], "dir", "search"],
        attack=True,
    )
    t = r.begin()
    res = r.probe(b, "list", a["tmp_dir"] + "/uploads")
    r.check(
        SCENARIO,
        f"{b['name']} -> {a['name']}: list the uploads in flight (outside the web path)",
        res["status"] == 200 and (res["json"] or {}).get("ok") is False,
        t,
        {"probe": res},
        expect_avc=[b["domain"], a["types"]["tmp"], "dir", "search"],
        attack=True,
    )

    # ----- a shell from each site: A's enters the mail helper (which runs sendmail only), B's is denied
    helper = a["mail_helper"]
    t = r.begin()
    res = web.go("GET", "/sitepolicy-e2e-shell.php?" + urlencode({"cmd": "read x < /proc/self/attr/current; echo $x"}))
    r.check(
        SCENARIO,
        f"{a['name']}: a shell it starts runs in {helper}",
        res["status"] == 200 and helper in res["body"],
        t,
        shown(res),
    )
    t = r.begin()
    res = web.go("GET", "/sitepolicy-e2e-shell.php?" + urlencode({"cmd": "id"}))
    r.check(
        SCENARIO,
        f"{a['name']}: the shell may not run another program (id)",
        res["status"] == 200 and "uid=" not in res["body"],
        t,
        shown(res),
        # dash looks `id` up in PATH: the helper may not even stat /usr/bin/id (getattr on bin_t, as the
        # guest logs it), so the shell never gets as far as an execve.
        expect_avc=[helper, "bin_t", "file", "getattr"],
        attack=True,
    )
    shutil.copyfile(shell_php, Path(b["docroot"]) / shell_php.name)
    r.sh("restorecon", str(Path(b["docroot"]) / shell_php.name))
    t = r.begin()
    res = Browser(b["name"]).go("GET", "/sitepolicy-e2e-shell.php?" + urlencode({"cmd": "id"}))
    r.check(
        SCENARIO,
        f"{b['name']} (no mail): a shell is denied",
        res["status"] == 200 and "uid=" not in res["body"],
        t,
        shown(res),
        expect_avc=[b["domain"], "shell_exec_t", "file", "execute"],
        attack=True,
    )
    r.TIMINGS["scenario_app"] = time.time() - t0
