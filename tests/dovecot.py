"""A private Dovecot IMAP server on loopback for tests and benchmarks (TLS on one port, plain on another).

Dovecot runs from the Debian package ``dovecot-imapd`` with a config written into a private
directory: its own passwd file, maildirs, log, self-signed certificate and two listeners
(implicit TLS and plain text with STARTTLS). Each test takes a fresh account with
``Dovecot.new_account()`` so one server serves a whole session.
"""

from __future__ import annotations

import grp
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from imapclient import IMAPClient

from tests.tls import LoopbackCert, make_cert

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
DH_PARAMS = Path("/usr/share/dovecot/dh.pem")


class DovecotUnavailable(RuntimeError):
    """Dovecot is not installed or did not start."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Account:
    """One mail account on the test server."""

    server: Dovecot
    user: str
    password: str

    @property
    def address(self) -> str:
        """The account's address (the login)."""
        return self.user

    def client(self, *, tls: bool = True) -> IMAPClient:
        """A logged-in imapclient connection (TLS port or plain port)."""
        if tls:
            client = IMAPClient("127.0.0.1", self.server.tls_port, ssl=True,
                                ssl_context=self.server.cert.client_context(), timeout=30)
        else:
            client = IMAPClient("127.0.0.1", self.server.plain_port, ssl=False, timeout=30)
        try:
            client.login(self.user, self.password)
        except Exception:
            client.shutdown()
            raise
        return client

    def append(self, messages: Sequence[bytes], folder: str = "INBOX", flags: Sequence[str] = ()) -> None:
        """Put messages in a folder with IMAP APPEND (MULTIAPPEND in batches)."""
        with self.client() as client:
            batch: list[bytes] = []
            for raw in messages:
                batch.append(raw)
                if len(batch) == 500:
                    client.multiappend(folder, [{"msg": m, "flags": tuple(flags)} for m in batch])
                    batch = []
            if batch:
                client.multiappend(folder, [{"msg": m, "flags": tuple(flags)} for m in batch])

    def change_password(self, password: str) -> Account:
        """Change the password on the server; returns once Dovecot accepts the new one."""
        entry = self.server.passwd_file(self.user)
        entry.write_text(f"{self.user}:{{PLAIN}}{password}::::::nodelay=y\n")
        changed = Account(self.server, self.user, password)
        deadline = time.monotonic() + 10
        while True:  # Dovecot looks at a known passwd file at most once a second
            try:
                changed.client().logout()
                return changed
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def flags(self, folder: str = "INBOX") -> dict[int, tuple[bytes, ...]]:
        """The server's flags of every message of a folder, by UID (read with EXAMINE)."""
        with self.client() as client:
            client.select_folder(folder, readonly=True)
            fetched = client.fetch(client.search("ALL"), ["FLAGS"])
            return {uid: tuple(data[b"FLAGS"]) for uid, data in fetched.items()}


class Dovecot:
    """A running private Dovecot instance."""

    def __init__(self, base: Path, cert: LoopbackCert, tls_port: int, plain_port: int, process: subprocess.Popen[bytes]):
        self.base = base
        self.cert = cert
        self.tls_port = tls_port
        self.plain_port = plain_port
        self._process = process
        self._passwd = base / "passwd.d"

    @classmethod
    def start(cls, base: Path | None = None) -> Dovecot:
        """Write a private config and start Dovecot in the foreground; wait until both ports answer."""
        if not Path(DOVECOT).exists():
            raise DovecotUnavailable("dovecot is not installed (apt-get install dovecot-imapd; `make test` does it)")
        base = base or Path(tempfile.mkdtemp(prefix="courrier-dovecot-"))
        base.chmod(0o755)
        (base / "run").mkdir()
        (base / "state").mkdir()
        home = base / "home"
        home.mkdir()
        cert = make_cert(base / "tls")
        (base / "tls").chmod(0o755)
        root = os.geteuid() == 0
        if root:
            mail_uid, mail_gid = pwd.getpwnam("dovecot").pw_uid, grp.getgrnam("dovecot").gr_gid
            internal_user, login_user = "dovecot", "dovenull"
        else:
            mail_uid, mail_gid = os.getuid(), os.getgid()
            internal_user = login_user = pwd.getpwuid(mail_uid).pw_name
        os.chown(home, mail_uid, mail_gid)
        passwd = base / "passwd.d"
        passwd.mkdir()
        passwd.chmod(0o755)
        tls_port, plain_port = free_port(), free_port()
        config = base / "dovecot.conf"
        config.write_text(f"""
protocols = imap
listen = 127.0.0.1
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
info_log_path = {base}/dovecot.log
ssl = yes
ssl_cert = <{cert.cert}
ssl_key = <{cert.key}
{f"ssl_dh = <{DH_PARAMS}" if DH_PARAMS.exists() else ""}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
first_valid_uid = {mail_uid}
first_valid_gid = {mail_gid}
default_internal_user = {internal_user}
default_internal_group = {grp.getgrgid(mail_gid).gr_name if not root else "dovecot"}
default_login_user = {login_user}
mail_location = maildir:~/Maildir
mail_fsync = never
mail_max_userip_connections = 200
auth_cache_size = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {passwd}/%u
}}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={home}/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
    auto = create
  }}
  mailbox Drafts {{
    special_use = \\Drafts
    auto = create
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {plain_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
""")
        process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        server = cls(base, cert, tls_port, plain_port, process)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if process.poll() is not None:
                err = process.stderr.read().decode(errors="replace") if process.stderr else ""
                log = (base / "dovecot.log").read_text(errors="replace") if (base / "dovecot.log").exists() else ""
                raise DovecotUnavailable(f"dovecot exited with {process.returncode}: {err}\n{log}")
            if all(_answers(port) for port in (tls_port, plain_port)):
                return server
            time.sleep(0.05)
        server.stop()
        raise DovecotUnavailable("dovecot did not open its ports within 20 s")

    def new_account(self, password: str | None = None) -> Account:
        """A fresh, empty account (one passwd file per user: Dovecot re-reads a known file once a second)."""
        user = f"user{secrets.token_hex(4)}@courrier.test"
        password = password or f"pw-{secrets.token_hex(6)}"
        entry = self._passwd / user
        entry.write_text(f"{user}:{{PLAIN}}{password}::::::nodelay=y\n")
        entry.chmod(0o644)
        return Account(self, user, password)

    def passwd_file(self, user: str) -> Path:
        """The passwd-file entry of one user."""
        return self._passwd / user

    def log(self) -> str:
        """Dovecot's log so far."""
        path = self.base / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Stop Dovecot and remove its private directory."""
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._process.stderr:
            self._process.stderr.close()
        shutil.rmtree(self.base, ignore_errors=True)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False
