"""A minimal IMAP server that answers like Gmail's (X-GM-EXT-1: X-GM-MSGID, X-GM-THRID), on loopback.

Dovecot has no Gmail extensions, so this small server stands in for imap.gmail.com where those
matter. It speaks just what an incremental reader uses: CAPABILITY, LOGIN, STATUS, EXAMINE/SELECT,
UID SEARCH (``UID n:*``, ``SINCE``, ``ALL``), UID FETCH of FLAGS, RFC822.SIZE, INTERNALDATE,
BODY.PEEK[], X-GM-MSGID, X-GM-THRID, NOOP and LOGOUT. ``renumber()`` gives every message a new UID
under a new UIDVALIDITY, as Gmail does when a label is rebuilt.
"""

from __future__ import annotations

import re
import socketserver
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class GmMessage:
    """One message: its Gmail ids and its current UID in the folder."""

    uid: int
    msgid: int
    thrid: int
    raw: bytes


@dataclass
class GmFolder:
    """The INBOX of the fake account."""

    uidvalidity: int = 1
    uidnext: int = 1
    messages: list[GmMessage] = field(default_factory=list)


class FakeGmailImap:
    """A threaded IMAP server for one account, plain text on 127.0.0.1."""

    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user, password
        self.folder = GmFolder()
        self.commands: list[str] = []
        self.lock = threading.Lock()
        self._next_msgid = 0x1800000000000000
        fake = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                fake._session(self)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        """The listening port."""
        return int(self._server.server_address[1])

    def start(self) -> FakeGmailImap:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    def deliver(self, raw: bytes) -> int:
        """Add a message; returns its X-GM-MSGID."""
        with self.lock:
            self._next_msgid += 1
            message = GmMessage(self.folder.uidnext, self._next_msgid, self._next_msgid, raw)
            self.folder.uidnext += 1
            self.folder.messages.append(message)
            return message.msgid

    def renumber(self) -> None:
        """New UIDVALIDITY, new UIDs for the same messages (same X-GM-MSGID)."""
        with self.lock:
            self.folder.uidvalidity += 1
            for message in self.folder.messages:
                message.uid = self.folder.uidnext
                self.folder.uidnext += 1

    # -------------------------------------------------------------- protocol

    def _session(self, io: socketserver.StreamRequestHandler) -> None:
        def send(line: str | bytes) -> None:
            io.wfile.write(line if isinstance(line, bytes) else line.encode() + b"\r\n")

        send("* OK Gimap ready for requests from 127.0.0.1")
        while True:
            line = io.rfile.readline()
            if not line:
                return
            text = line.decode(errors="replace").rstrip("\r\n")
            tag, _, rest = text.partition(" ")
            command, _, args = rest.partition(" ")
            command = command.upper()
            if command == "UID":
                command, _, args = args.partition(" ")
                command = "UID " + command.upper()
            with self.lock:
                self.commands.append(f"{command} {args}" if command.startswith("UID") else command)
            if command == "CAPABILITY":
                send("* CAPABILITY IMAP4rev1 UNSELECT IDLE NAMESPACE QUOTA ID XLIST CHILDREN X-GM-EXT-1 UIDPLUS "
                     "AUTH=PLAIN")
                send(f"{tag} OK Thats all she wrote!")
            elif command == "LOGIN":
                user, password = (part.strip('"') for part in args.split(" ", 1))
                if (user, password) == (self.user, self.password):
                    send(f"{tag} OK {self.user} authenticated (Success)")
                else:
                    send(f"{tag} NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)")
            elif command == "STATUS":
                with self.lock:
                    folder = self.folder
                    send(f'* STATUS "INBOX" (UIDVALIDITY {folder.uidvalidity} UIDNEXT {folder.uidnext} '
                         f"MESSAGES {len(folder.messages)})")
                send(f"{tag} OK Success")
            elif command in ("EXAMINE", "SELECT"):
                with self.lock:
                    send(f"* {len(self.folder.messages)} EXISTS")
                    send(f"* OK [UIDVALIDITY {self.folder.uidvalidity}] UIDs valid.")
                    send(f"* OK [UIDNEXT {self.folder.uidnext}] Predicted next UID.")
                send(f"{tag} OK [READ-ONLY] INBOX selected. (Success)")
            elif command == "UID SEARCH":
                send("* SEARCH " + " ".join(str(uid) for uid in self._search(args)))
                send(f"{tag} OK SEARCH completed (Success)")
            elif command == "UID FETCH":
                for chunk in self._fetch(args):
                    send(chunk)
                send(f"{tag} OK Success")
            elif command == "NOOP":
                send(f"{tag} OK Success")
            elif command == "LOGOUT":
                send("* BYE LOGOUT Requested")
                send(f"{tag} OK 73 good day (Success)")
                return
            else:
                send(f"{tag} BAD Unknown command")

    def _search(self, args: str) -> list[int]:
        with self.lock:
            uids = sorted(m.uid for m in self.folder.messages)
        found = re.search(r"UID (\d+):\*", args)
        if found:
            low = int(found.group(1))
            # Like real servers: n:* includes the highest UID even when it is below n.
            return sorted({u for u in uids if u >= low} | set(uids[-1:]))
        return uids

    def _fetch(self, args: str) -> list[bytes | str]:
        ids, _, items = args.partition(" ")
        wanted = {int(part) for part in ids.split(",") if part.isdigit()}
        out: list[bytes | str] = []
        with self.lock:
            messages = [(i + 1, m) for i, m in enumerate(self.folder.messages) if m.uid in wanted]
        for seq, message in messages:
            parts: list[Any] = [f"UID {message.uid}"]
            upper = items.upper()
            if "X-GM-MSGID" in upper:
                parts.append(f"X-GM-MSGID {message.msgid}")
            if "X-GM-THRID" in upper:
                parts.append(f"X-GM-THRID {message.thrid}")
            if "FLAGS" in upper:
                parts.append("FLAGS ()")
            if "RFC822.SIZE" in upper:
                parts.append(f"RFC822.SIZE {len(message.raw)}")
            if "INTERNALDATE" in upper:
                parts.append('INTERNALDATE "20-Nov-2026 08:00:00 +0000"')
            head = f"* {seq} FETCH (" + " ".join(parts)
            if "BODY.PEEK[]" in upper:
                out.append((head + f" BODY[] {{{len(message.raw)}}}\r\n").encode() + message.raw + b")\r\n")
            else:
                out.append(head + ")")
        return out
