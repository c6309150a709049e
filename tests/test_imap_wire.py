"""The fast FETCH-response reader gives exactly imapclient's results, on a real server and on odd shapes."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from imapclient.response_parser import parse_fetch_response

import integrations.imap as imap
import integrations.imap_wire as wire
from integrations.imap import FULL_ITEMS, INDEX_ITEMS, MESSAGE_ID_ITEM, ImapSettings, connect
from integrations.imap_wire import parse_fetch
from tests.dovecot import Account, Dovecot
from tests.mail_fixtures import make_email


def comparable(value: Any) -> Any:
    """Datetimes as (wall time, offset): imapclient keeps offsets Python's comparisons refuse."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None), value.tzinfo.utcoffset(None) if value.tzinfo else None
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value), [comparable(v) for v in value]
    return value


def outcome(parse: Callable[..., Any], data: list[Any], uid_is_key: bool = True) -> Any:
    """What a parser gives for ``data``: its result, or the type and text of what it raised."""
    try:
        return ("ok", comparable(dict(parse(list(data), False, uid_is_key))))
    except Exception as exc:
        return ("raised", type(exc), str(exc))


def same_as_imapclient(data: list[Any]) -> None:
    for uid_is_key in (True, False):
        assert outcome(parse_fetch, data, uid_is_key) == outcome(parse_fetch_response, data, uid_is_key)


@pytest.fixture
def fallbacks(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every response the fast reader handed to imapclient's parser."""
    seen: list[Any] = []
    original = wire.parse_fetch_response

    def recording(data: Any, *args: Any) -> Any:
        seen.append(data)
        return original(data, *args)

    monkeypatch.setattr(wire, "parse_fetch_response", recording)
    return seen


@pytest.fixture
def responses(monkeypatch: pytest.MonkeyPatch) -> list[list[Any]]:
    """The raw imaplib records of every FETCH the application's client reads."""
    seen: list[list[Any]] = []
    original = imap.parse_fetch

    def recording(data: Any, *args: Any) -> Any:
        seen.append(list(data))
        return original(data, *args)

    monkeypatch.setattr(imap, "parse_fetch", recording)
    return seen


def awkward_messages(address: str) -> Iterator[bytes]:
    """Shapes that make servers write quoted strings with escapes, literals and deep structures."""
    corpus = sorted(Path(__file__).parent.joinpath("data", "mail").glob("*.eml"))
    yield from (p.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") for p in corpus)
    inner = make_email(1, to=address, subject="transféré")
    outer = EmailMessage()
    outer["From"], outer["To"], outer["Subject"] = 'Jean "JD" Dupont <jd@exemple.test>', address, "Fwd"
    outer.set_content("voir pièce jointe")
    outer.add_attachment(inner, maintype="message", subtype="rfc822", filename="transféré.eml")
    outer.add_attachment(b"%PDF", maintype="application", subtype="pdf", filename='devis "final" \\ v2 (1).pdf')
    outer.add_attachment(b"x" * 10, maintype="text", subtype="csv", filename="données été.csv")
    yield bytes(outer)
    raw = (b"From: =?utf-8?q?Ren=C3=A9e?= <renee@exemple.test>\r\nTo: " + address.encode() + b"\r\n"
           b"Subject: caf\xc3\xa9 (8-bit)\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n"
           b"Content-Type: application/octet-stream; name=\"r\xc3\xa9sum\xc3\xa9 {2}.bin\"\r\n"
           b"Content-Disposition: attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.bin\r\n\r\nabc\r\n--b--\r\n")
    yield raw


def test_dovecot_responses_read_exactly_as_imapclient_reads_them_without_falling_back(
    dovecot: Dovecot, fallbacks: list[Any], responses: list[list[Any]]
) -> None:
    """The awkward MIME corpus, a forwarded message, quotes, backslashes, braces and 8-bit bytes in
    file names, keywords: every FETCH the sync sends reads the same through both parsers, and none
    of them needs imapclient's."""
    account: Account = dovecot.new_account()
    messages = list(awkward_messages(account.address))
    account.append(messages)
    with account.client() as client:
        client.select_folder("INBOX")
        client.add_flags([1, 3], [b"\\Flagged", b"$Forwarded", b"Junk"])
        client.add_flags([2], [b"\\Seen"])
    settings_ = ImapSettings(host="127.0.0.1", port=dovecot.tls_port, username=account.user,
                             password=account.password, security="tls", ssl_context=dovecot.cert.client_context())
    client = connect(settings_)
    try:
        client.select_folder("INBOX", readonly=True)
        uids = client.search("ALL")
        for items in (INDEX_ITEMS, FULL_ITEMS, [MESSAGE_ID_ITEM], ["FLAGS", "UID", "BODY.PEEK[HEADER]", "BODY"]):
            assert set(client.fetch(uids, list(items))) == set(uids)
        assert not fallbacks
        client.fetch(uids, ["ENVELOPE"])  # left to imapclient, which reads envelopes into their own type
        assert len(fallbacks) == 1
    finally:
        client.logout()
    assert len(responses) == 5
    for data in responses:
        same_as_imapclient(data)
    index = parse_fetch(responses[0], False)
    assert any(isinstance(record, tuple) for record in responses[0])  # header fields came as literals
    assert all(data[b"BODYSTRUCTURE"] and data[b"INTERNALDATE"].tzinfo for data in index.values())


@pytest.mark.parametrize("data", [
    [b"1 (UID 7 FLAGS (\\Seen $Forwarded \\*) RFC822.SIZE 0123 X-GM-LABELS (\"\\\\Important\" \"a\\\"b\"))"],
    [b'1 (UID 1 BODYSTRUCTURE ("text" "plain" ("charset" "utf-8") NIL "" "7bit" 0 1 NIL NIL NIL NIL))'],
    [(b"1 (UID 1 BODY[HEADER.FIELDS (FROM TO)]<0> {3}", b"abc"), b" FLAGS ())"],
    [(b'1 (UID 1 BODYSTRUCTURE (("text" "plain" ("name" {3}', b"a b"), b') NIL NIL "7bit" 3 1) "mixed"))'],
    [b'2 (UID 9 INTERNALDATE " 5-Nov-2026 08:00:00 -0530")', b'3 (UID 10 INTERNALDATE "05-nov-2026 08:00:00 +1400")'],
    [b'1 (UID 1 INTERNALDATE "20-Nov-2026 08:00:00 -0000")'],  # imapclient reads "-0000" as UTC
    [b'1 (UID 1 INTERNALDATE "31-Feb-2026 08:00:00 +0000")'],  # no such day: None
    [b'1 (UID 1 INTERNALDATE "Fri, 20 Nov 2026 08:00:00 +0000")'],
    [b'1 (UID 1 INTERNALDATE "20-Nov-2026 08:00:00 +9900")'],
    [b'1 (UID 1 INTERNALDATE "20-Nov-2026 08:00:00 +2375")'],  # 24 h 15 min: more than a timezone holds
    [b'1 (UID 1 INTERNALDATE NIL)'],
    [b"1 (FLAGS (\\Deleted))", b"2 (UID 4 FLAGS ())"],  # an unsolicited FETCH without its UID
    [b"1 (UID 1 FLAGS ())", b"1 (UID 1 RFC822.SIZE 5)"],  # two responses for one message merge
    [b'1 (UID 1 ENVELOPE ("Fri, 20 Nov 2026 08:00:00 +0000" "s" NIL NIL NIL NIL NIL NIL NIL "<m@x>"))'],
    [b"1 (UID 1 FLAGS (%))"],
    [b"1 (UID 1 FLAGS (\x01))"],
    [b'1 (UID 1 X abc"def")'],
    [b"1 (UID 1 X BODY[HEADER)"],
    [b"1 (UID 1 FLAGS (a)"],
    [b"1 (UID 1 FLAGS a))"],
    [b"1 (UID 1 FLAGS)"],
    [b"1 (UID x FLAGS ())"],
    [b"x (UID 1 FLAGS ())"],
    [b"1 UID 1"],
    [b"1"],
    [(b"1 (UID 1 BODY[] {4}", b"abc"), b")"],  # the literal is shorter than announced
    [(b"1 (UID 1 BODY[] {3} X", b"abc"), b")"],  # a marker that does not end its record
    [b"1 (UID 1 BODY[] {3})"],  # a marker without its literal
    [(b"1 (UID 1 X abc}", b"abc"), b")"],  # a literal that no marker claims
    [b'1 (UID 1 BODYSTRUCTURE NIL)'],
    [b'1 (UID 1 BODYSTRUCTURE ())'],
    [b'1 (UID 1 BODY[TEXT] "a\\b\\\\c\\"d")'],
    [None],
    [],
])
def test_odd_records_read_as_imapclient_reads_them(data: list[Any]) -> None:
    same_as_imapclient(data)


_GOOD_ATOMS = st.sampled_from([b"UID", b"FLAGS", b"RFC822.SIZE", b"INTERNALDATE", b"BODYSTRUCTURE", b"BODY",
                               b"BODY[HEADER.FIELDS (FROM)]", b"\\Seen", b"NIL", b"0", b"007", b"42", b"a]b"])
_BAD_ATOMS = st.sampled_from([b"ENVELOPE", b"{3}", b"[", b"]", b"%", b"\x00", b"~{2}", b"X-GM-MSGID"])
_ATOMS = st.one_of(_GOOD_ATOMS, _GOOD_ATOMS, _GOOD_ATOMS, _GOOD_ATOMS, _BAD_ATOMS)
_QUOTED = st.binary(max_size=6).map(lambda b: b'"' + b + b'"')
_DATES = st.sampled_from([b'"20-Nov-2026 08:00:00 +0000"', b'" 1-Jan-1999 23:59:59 -1200"', b'"bad"',
                          b'"29-Feb-2025 00:00:00 +0100"', b'"20-Nov-2026 08:00:00 -0000"'])


@st.composite
def _values(draw: st.DrawFn, depth: int = 0) -> bytes:
    kind = draw(st.integers(0, 4 if depth < 3 else 2))
    if kind == 0:
        return draw(_ATOMS)
    if kind == 1:
        return draw(_QUOTED)
    if kind == 2:
        return draw(_DATES)
    items = draw(st.lists(_values(depth + 1), max_size=5))
    return b"(" + b" ".join(items) + b")"


@st.composite
def _responses(draw: st.DrawFn) -> list[Any]:
    records: list[Any] = []
    for seq in range(1, draw(st.integers(1, 3)) + 1):
        pairs = draw(st.lists(st.tuples(_ATOMS, _values()), max_size=5))
        text = f"{seq} (".encode() + b" ".join(b"%s %s" % pair for pair in pairs) + b")"
        if draw(st.booleans()):  # cut a literal into the record, or damage it
            at = draw(st.integers(0, len(text)))
            literal = draw(st.binary(max_size=5))
            size = len(literal) + draw(st.sampled_from([0, 0, 0, 1]))
            records.append((text[:at] + b" {%d}" % size, literal))
            records.append(text[at:])
        else:
            records.append(text)
    return records


@settings(max_examples=600, deadline=None)
@given(_responses())
def test_generated_responses_read_as_imapclient_reads_them(data: list[Any]) -> None:
    same_as_imapclient(data)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_damaged_dovecot_shaped_responses_read_as_imapclient_reads_them(data: st.DataObject) -> None:
    text = (b'12 (UID 40 FLAGS (\\Seen) RFC822.SIZE 2605 INTERNALDATE "22-Nov-2026 21:09:38 +0000" '
            b'BODYSTRUCTURE (("text" "plain" ("charset" "utf-8") NIL NIL "quoted-printable" 2051 30 NIL NIL NIL NIL)'
            b'("application" "pdf" NIL NIL NIL "base64" 2804 NIL ("attachment" ("filename" "doc-0.pdf")) NIL NIL)'
            b' "mixed" ("boundary" "=====9036==") NIL NIL NIL))')
    at = data.draw(st.integers(0, len(text) - 1))
    cut = data.draw(st.integers(0, 3))
    insert = data.draw(st.sampled_from([b"", b" ", b"(", b")", b'"', b"\\", b"[", b"%", b"{1}", b"\r\n", os.urandom(1)]))
    same_as_imapclient([text[:at] + insert + text[at + cut:]])


_PLAIN = st.one_of(st.integers(0, 10**12).map(lambda n: str(n).encode()), st.just(b"NIL"),
                   st.sampled_from([b"\\Seen", b"$Label1", b"a]b", b"007", b"text"]),
                   st.binary(max_size=8).map(lambda b: b'"' + b.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'))


@st.composite
def _clean(draw: st.DrawFn, depth: int = 0) -> bytes:
    if depth >= 3 or draw(st.booleans()):
        return draw(_PLAIN)
    return b"(" + b" ".join(draw(st.lists(_clean(depth + 1), max_size=4))) + b")"


@st.composite
def _clean_responses(draw: st.DrawFn) -> list[Any]:
    """Well-formed responses: the fast reader must read them itself, and as imapclient does."""
    records: list[Any] = []
    for seq in range(1, draw(st.integers(1, 4)) + 1):
        text = b"%d (UID %d" % (seq, draw(st.integers(1, 10**9)))
        for name in draw(st.lists(st.sampled_from([b"FLAGS", b"X-ITEM", b"BODY[HEADER]", b"BODYSTRUCTURE",
                                                   b"INTERNALDATE", b"RFC822.SIZE"]), max_size=4, unique=True)):
            if name == b"INTERNALDATE":
                text += b' INTERNALDATE "%02d-Mar-20%02d 0%d:30:00 %s"' % (
                    draw(st.integers(1, 31)), draw(st.integers(0, 99)), draw(st.integers(0, 9)),
                    draw(st.sampled_from([b"+0000", b"-0230", b"+1400", b"-1200"])))
            elif name == b"BODYSTRUCTURE":
                text += b' BODYSTRUCTURE ("text" "plain" %s NIL NIL "7bit" 4 1)' % draw(_clean())
            elif draw(st.booleans()):
                literal = draw(st.binary(max_size=12))
                records.append((text + b" %s {%d}" % (name, len(literal)), literal))
                text = b""
            else:
                text += b" %s %s" % (name, draw(_clean()))
        records.append(text + b")")
    return records


@settings(max_examples=400, deadline=None)
@given(_clean_responses())
def test_well_formed_responses_are_read_by_the_fast_reader_itself(data: list[Any]) -> None:
    calls: list[Any] = []
    original = wire.parse_fetch_response
    wire.parse_fetch_response = lambda *args: calls.append(args) or original(*args)  # type: ignore[assignment]
    try:
        same_as_imapclient(data)
    finally:
        wire.parse_fetch_response = original
    assert calls == []  # the fast reader never handed the response to imapclient
