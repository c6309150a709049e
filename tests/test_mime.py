"""The MIME parser over awkward real-world shapes."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone
from email.headerregistry import Address
from email.message import EmailMessage
from html import escape
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.mime import html_to_text, parse_email


def _msg(headers: str, body: bytes) -> bytes:
    return headers.strip().replace("\n", "\r\n").encode("ascii") + b"\r\n\r\n" + body


def test_latin1_quoted_printable_and_rfc2047_subject() -> None:
    raw = _msg(
        """
From: =?iso-8859-1?q?C=E9line_Tr=E9sor?= <Celine@Example.TEST>
To: Awa <awa@atelier.test>, b@atelier.test
Cc: =?utf-8?b?w4lxdWlwZQ==?= <equipe@atelier.test>
Subject: =?iso-8859-1?q?R=E9union_d=E9plac=E9e?= =?utf-8?q?_=E2=80=93_jeudi?=
Date: Wed, 03 Dec 2025 16:48:00 +0100
Message-ID:  <abc@example.test>
MIME-Version: 1.0
Content-Type: text/plain; charset="iso-8859-1"
Content-Transfer-Encoding: quoted-printable
""",
        b"Bonjour,\r\nla r=E9union est d=E9plac=E9e =E0 jeudi.\r\n",
    )
    email = parse_email(raw)
    assert email.subject == "Réunion déplacée – jeudi"
    assert email.from_name == "Céline Trésor"
    assert email.from_addr == "celine@example.test"
    assert email.to == ("awa@atelier.test", "b@atelier.test")
    assert email.cc == ("equipe@atelier.test",)
    assert email.message_id == "<abc@example.test>"
    assert email.date == datetime(2025, 12, 3, 15, 48, tzinfo=UTC)
    assert email.date is not None and email.date.utcoffset() == timedelta(hours=1)
    assert "la réunion est déplacée à jeudi." in email.text
    assert email.headers["subject"] == "Réunion déplacée – jeudi"
    assert email.warnings == ()
    assert email.size == len(raw)


def test_utf8_base64_body() -> None:
    body = base64.encodebytes("Paiement reçu : 12 500,00 €\n".encode())
    raw = _msg(
        """
From: Encaissa <notifications@encaissa.test>
Subject: =?utf-8?b?UGFpZW1lbnQgcmXDp3U=?=
Date: Tue, 02 Dec 2025 14:07:00 +0000
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64
""",
        body,
    )
    email = parse_email(raw)
    assert email.subject == "Paiement reçu"
    assert email.text == "Paiement reçu : 12 500,00 €"


def test_html_only_message_becomes_readable_text() -> None:
    html = (
        "<html><head><title>x</title><style>p{color:red}</style><script>alert(1)</script></head>"
        "<body><h1>Facture</h1><p>Montant&nbsp;: <b>29,00&nbsp;&euro;</b></p>"
        "<table><tr><td>TVA</td><td>0,00 €</td></tr></table>"
        "<p>Ligne 1<br>Ligne 2</p><ul><li>un</li><li>deux</li></ul>"
        '<p><a href="https://pay.example.test/x">Cliquez ici</a></p>'
        '<div style="display:none">texte caché</div></body></html>'
    )
    raw = _msg(
        """
From: a@b.test
Subject: html
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: 8bit
""",
        html.encode("utf-8"),
    )
    text = parse_email(raw).text
    assert "alert" not in text and "color" not in text and "caché" not in text
    assert "Facture\n" in text
    assert "Montant : 29,00 €" in text
    assert "TVA | 0,00 €" in text
    assert "Ligne 1\nLigne 2" in text
    assert "- un" in text and "- deux" in text
    assert "Cliquez ici <https://pay.example.test/x>" in text


def test_html_to_text_decodes_entities_and_keeps_blocks() -> None:
    assert html_to_text("<p>L&#x27;&eacute;quipe</p><p>A &amp; B</p>") == "L'équipe\n\nA & B"
    assert html_to_text("") == ""


def test_multipart_alternative_prefers_plain_text_and_lists_attachments() -> None:
    pdf = base64.encodebytes(b"%PDF-1.4 fake")
    raw = _msg(
        """
From: Fatou <f@client.test>
Subject: Contrat
Content-Type: multipart/mixed; boundary="OUT"
""",
        b"--OUT\r\n"
        b'Content-Type: multipart/alternative; boundary="ALT"\r\n\r\n'
        b"--ALT\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nTexte brut du message, assez long pour compter.\r\n"
        b"--ALT\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Version HTML</p>\r\n"
        b"--ALT--\r\n"
        b'--OUT\r\nContent-Type: application/pdf; name="c.pdf"\r\n'
        b'Content-Disposition: attachment; filename="contrat.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + pdf + b"--OUT--\r\n",
    )
    email = parse_email(raw)
    assert email.text == "Texte brut du message, assez long pour compter."
    assert len(email.attachments) == 1
    attachment = email.attachments[0]
    assert attachment.filename == "contrat.pdf"
    assert attachment.content_type == "application/pdf"
    assert attachment.size == len(b"%PDF-1.4 fake")


def test_stub_plain_part_loses_to_html() -> None:
    raw = _msg(
        """
From: a@b.test
Content-Type: multipart/alternative; boundary="ALT"
""",
        b"--ALT\r\nContent-Type: text/plain\r\n\r\nView in browser.\r\n"
        b"--ALT\r\nContent-Type: text/html\r\n\r\n<p>"
        + b"Le vrai contenu de la lettre. " * 10
        + b"</p>\r\n--ALT--\r\n",
    )
    assert parse_email(raw).text.startswith("Le vrai contenu")


def test_calendar_only_message_is_summarized() -> None:
    ics = (
        "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nSUMMARY:Point projet\r\n"
        "DTSTART:20251209T100000Z\r\nLOCATION:Salle Como\\, 2e\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    raw = _msg(
        """
From: a@b.test
Subject: Invitation
Content-Type: text/calendar; method=REQUEST; charset=utf-8
""",
        ics.encode(),
    )
    email = parse_email(raw)
    assert email.text.splitlines()[0] == "Invitation: Point projet"
    assert "Salle Como, 2e" in email.text
    assert email.attachments[0].content_type == "text/calendar"


def test_reply_headers_and_references() -> None:
    raw = _msg(
        """
From: "Sahel" <K.Sarr@Sahel.test>
Reply-To: Support <support@sahel.test>
Subject: RE: point
In-Reply-To: <b@atelier.test>
References: <a@sahel.test>
 <b@atelier.test>
Date: Wed, 03 Dec 2025 10:05:00 -0500
""",
        b"ok\r\n",
    )
    email = parse_email(raw)
    assert email.reply_to == ("support@sahel.test",)
    assert email.in_reply_to == "<b@atelier.test>"
    assert email.references == ("<a@sahel.test>", "<b@atelier.test>")
    assert email.date is not None and email.date.utcoffset() == timezone(timedelta(hours=-5)).utcoffset(None)


def test_malformed_message_is_recorded_not_raised() -> None:
    raw = (
        b"From: broken\r\nSubject: =?utf-8?q?unterminated\r\nDate: not a date\r\n"
        b'Content-Type: multipart/mixed; boundary="B"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        b"--B\r\nContent-Type: text/plain; charset=x-unknown-charset\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"@@@not base64@@@\r\n"
    )
    email = parse_email(raw)
    assert email.warnings
    assert email.date is None
    assert any("unknown charset" in w or "Defect" in w for w in email.warnings)


def test_undeclared_8bit_text_is_recovered_with_warning() -> None:
    raw = _msg(
        """
From: a@b.test
Subject: x
Content-Type: text/plain; charset=us-ascii
Content-Transfer-Encoding: 8bit
""",
        "Échéance dépassée".encode("latin-1"),
    )
    email = parse_email(raw)
    assert email.text == "Échéance dépassée"
    assert "8-bit text in a us-ascii part" in email.warnings


def test_raw_utf8_headers_are_decoded() -> None:
    raw = "From: Hervé <h@x.test>\r\nSubject: Accès réseau\r\n\r\nok\r\n".encode()
    email = parse_email(raw)
    assert email.subject == "Accès réseau"
    assert email.from_name == "Hervé"


def test_naive_date_is_made_aware_with_warning() -> None:
    email = parse_email(b"From: a@b.test\r\nDate: Wed, 03 Dec 2025 10:05:00 -0000\r\n\r\nx")
    assert email.date == datetime(2025, 12, 3, 10, 5, tzinfo=UTC)
    assert any("time zone" in w for w in email.warnings)


def test_empty_input() -> None:
    email = parse_email(b"")
    assert email.text == "" and email.from_addr == "" and email.size == 0


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_parse_email_never_raises_on_arbitrary_bytes(raw: bytes) -> None:
    email = parse_email(raw)
    assert email.size == len(raw)


_HEADER_LINES = st.sampled_from(
    [
        b"From: =?utf-8?q?X?= <a@b>",
        b"Subject: =?iso-8859-1?b?////?=",
        b"Content-Type: multipart/mixed; boundary=Z",
        b"Content-Type: text/html; charset=utf-7",
        b"Content-Transfer-Encoding: quoted-printable",
        b"Content-Transfer-Encoding: base64",
        b"Date: 32 Foo 99999 99:99",
        b"To: ,,,<<>>@@",
        b"--Z",
        b"--Z--",
        b"Content-Disposition: attachment; filename*=utf-8''%FF%FE",
        b"",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_HEADER_LINES, st.binary(max_size=40)), max_size=25))
def test_parse_email_never_raises_on_mime_like_noise(lines: list[bytes]) -> None:
    parse_email(b"\r\n".join(lines))


_NAMES = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=30)


@settings(max_examples=200, deadline=None)
@given(subject=_NAMES, name=_NAMES, body=_NAMES, html=st.booleans())
def test_what_was_written_is_what_is_read(subject: str, name: str, body: str, html: bool) -> None:
    """Headers and text written by the stdlib generator come back as written (whitespace collapsed)."""
    message = EmailMessage()
    message["From"] = Address(name, addr_spec="sender@exemple.test")
    message["To"] = "Awa <awa@atelier.test>, b@atelier.test"
    message["Subject"] = subject
    message.set_content(body)
    if html:
        message.add_alternative(f"<p>{escape(body)}</p>", subtype="html")
    parsed = parse_email(bytes(message))
    assert parsed.subject.split() == subject.split()
    assert parsed.from_name.split() == name.split()
    assert parsed.from_addr == "sender@exemple.test" and parsed.to == ("awa@atelier.test", "b@atelier.test")
    assert parsed.text.split() == body.split()
    assert not parsed.warnings


_INNER = (b"From: Awa <awa@x.test>\r\nSubject: Devis initial\r\nDate: Wed, 03 Dec 2025 10:00:00 +0000\r\n\r\n"
          b"Le devis est joint.\r\n")


def _forward(disposition: bytes) -> bytes:
    return (b"From: b@y.test\r\nSubject: Fwd\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=ZZ\r\n\r\n"
            b"--ZZ\r\nContent-Type: text/plain\r\n\r\nVoir ci-dessous.\r\n"
            b"--ZZ\r\nContent-Type: message/rfc822\r\n" + disposition + b"\r\n" + _INNER + b"--ZZ--\r\n")


def test_a_forwarded_message_reads_as_one_and_an_attached_one_is_an_attachment() -> None:
    inline = parse_email(_forward(b""))
    assert inline.text.startswith("Voir ci-dessous.\n\n---------- Forwarded message ----------\nFrom: Awa <awa@x.test>")
    assert "Subject: Devis initial\n\nLe devis est joint." in inline.text and not inline.attachments
    attached = parse_email(_forward(b'Content-Disposition: attachment; filename="devis.eml"\r\n'))
    assert attached.text == "Voir ci-dessous."
    assert [(a.filename, a.content_type) for a in attached.attachments] == [("devis.eml", "message/rfc822")]


def test_raw_8bit_attachment_names_and_a_commented_boundary() -> None:
    for name in ("résumé août.pdf".encode(), "résumé août.pdf".encode("latin-1")):  # UTF-8, then Latin-1
        raw = (b"From: a@b.test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=ZZ\r\n\r\n"
               b"--ZZ\r\nContent-Type: text/plain\r\n\r\nhi\r\n--ZZ\r\nContent-Type: application/pdf\r\n"
               b'Content-Disposition: attachment; filename="' + name + b'"\r\n\r\nxx\r\n--ZZ--\r\n')
        assert [a.filename for a in parse_email(raw).attachments] == ["résumé août.pdf"]
    commented = (b"From: a@b.test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\" (old mailer)"
                 b"\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nhello there\r\n--XX--\r\n")
    email = parse_email(commented)
    assert email.text == "hello there" and not email.attachments and not email.warnings


# ---------------------------------------------------------------- the header readers' fast paths

_ADDRESS_PIECES = st.sampled_from(["jean", "Jean", "J.", "dupont", "o'hara", "a+b", "x_y", "=?utf-8?q?Ren=C3=A9e?=",
                                   "=?utf-8?b?w4lxdWlwZQ==?=", "@", "<", ">", ",", " ", "  ", "\t", '"', "(c)", ".",
                                   "exemple.test", "sub.exemple.test", "[1.2.3.4]", ";", ":", "é", "\\"])


@settings(max_examples=1500, deadline=None)
@given(st.lists(_ADDRESS_PIECES, max_size=12).map("".join))
def test_the_address_fast_path_reads_as_getaddresses(value: str) -> None:
    from email.utils import getaddresses

    from integrations.mime import _simple_addresses

    fast = _simple_addresses(value)
    if fast is not None:
        assert fast == [(n, a) for n, a in getaddresses([value]) if "@" in a]


def test_the_address_fast_path_takes_the_usual_shapes() -> None:
    from integrations.mime import _simple_addresses

    assert _simple_addresses("Client 5 <client5@exemple.test>") == [("Client 5", "client5@exemple.test")]
    assert _simple_addresses("a@b.c, =?utf-8?q?Ren=C3=A9e?= <R@X.test>") == [
        ("", "a@b.c"), ("=?utf-8?q?Ren=C3=A9e?=", "R@X.test")]
    assert _simple_addresses('"Dupont, Jean" <j@x.test>') is None  # quoted: left to getaddresses


_DATE_PARTS = st.tuples(
    st.sampled_from(["", "Fri, ", "Mon, ", "Fri,", "fri, "]), st.integers(0, 39), st.sampled_from(["Nov", "Feb", "nov", "Xyz"]),
    st.integers(990, 10000), st.integers(0, 30), st.integers(0, 70), st.integers(0, 70),
    st.sampled_from(["+", "-"]), st.integers(0, 30), st.sampled_from([0, 30, 45, 75]),
)


@settings(max_examples=1500, deadline=None)
@given(_DATE_PARTS)
def test_the_date_fast_path_reads_as_parsedate_to_datetime(parts: tuple[Any, ...]) -> None:
    from email.utils import parsedate_to_datetime

    from integrations.mime import _plain_date

    weekday, day, month, year, hour, minute, second, sign, zh, zm = parts
    value = f"{weekday}{day:02d} {month} {year} {hour:02d}:{minute:02d}:{second:02d} {sign}{zh:02d}{zm:02d}"
    fast = _plain_date(value)
    if fast is None:
        return
    slow = parsedate_to_datetime(value)
    assert fast == slow and fast.utcoffset() == slow.utcoffset()


def test_the_date_fast_path_leaves_a_zone_of_minus_zero_to_the_stdlib() -> None:
    from integrations.mime import _plain_date

    assert _plain_date("Fri, 20 Nov 2026 08:00:00 +0100") == datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
    assert _plain_date("Fri, 20 Nov 2026 08:00:00 -0000") is None  # no zone at all: parse_email warns
    assert parse_email(b"Date: Fri, 20 Nov 2026 08:00:00 -0000\r\n\r\nx").warnings == (
        "Date header without time zone; assumed UTC",)


_HEADER_LINES = st.sampled_from([
    b"From: Client 5 <Client5@Exemple.test>", b"From: =?utf-8?q?Ren=C3=A9e?= <renee@exemple.test>",
    b'From: "Dupont, Jean" <jd@exemple.test>', b"From: caf\xc3\xa9 <c@exemple.test>", b"From: nobody",
    b"To: a@b.test, B <b@c.test>", b"To: undisclosed-recipients:;", b"Cc: x@y.test,\r\n\tz@w.test",
    b"Reply-To: r@exemple.test", b"Subject: =?utf-8?b?w4lxdWlwZQ==?= et =?iso-8859-1?q?r=E9union?=",
    b"Subject: plain\r\n  folded", b"Subject: =?bogus?q?x?=", b"Date: Fri, 20 Nov 2026 08:00:00 +0100",
    b"Date: 20 Nov 2026 08:00 -0000", b"Date: Fri, 20 Nov 2026 08:00:00 +2375", b"Date: mardi",
    b"Message-ID: <m-1@exemple.test>", b"In-Reply-To: <p@x>", b"References: <a@x> <b@x>\r\n <c@x>",
    b"References: no brackets", b"X-Odd:", b"subject: lower-case duplicate",
])


@settings(max_examples=400, deadline=None)
@given(st.lists(_HEADER_LINES, min_size=1, max_size=8))
def test_a_header_section_alone_reads_as_the_whole_message_does(lines: list[bytes]) -> None:
    """``parse_headers`` (what the IMAP index reads) gives the header fields ``parse_email`` gives."""
    section = b"\r\n".join(lines) + b"\r\n\r\n"
    check_same_header_fields(section, section + b"Bonjour.\r\n")


def test_the_mime_corpus_headers_read_alone_as_in_the_whole_message() -> None:
    from pathlib import Path

    for path in sorted(Path(__file__).parent.joinpath("data", "mail").glob("*.eml")):
        raw = path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        end = raw.find(b"\r\n\r\n")
        check_same_header_fields(raw[: end + 4], raw)


def check_same_header_fields(section: bytes, whole: bytes) -> None:
    from integrations.mime import parse_headers

    fields = ("message_id", "subject", "from_name", "from_addr", "reply_to", "to", "cc", "date", "in_reply_to",
              "references")
    alone, full = parse_headers(section), parse_email(whole)
    assert [getattr(alone, f) for f in fields] == [getattr(full, f) for f in fields]
    assert dict(alone.headers) == dict(full.headers)
