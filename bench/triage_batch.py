"""`courrier triage` and the Gemini adapter: batch throughput per mailbox format, adapter overhead, prompt size."""

from __future__ import annotations

import argparse
import json
import mailbox
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import write_section  # noqa: E402
from integrations.mime import parse_email  # noqa: E402
from integrations.triage import OfflineClassifier, TriageContext  # noqa: E402
from integrations.triage.batch import read_sources, triage_sources  # noqa: E402
from integrations.triage.gemini import GeminiClassifier, build_prompt  # noqa: E402
from integrations.triage.sender import analyze_sender  # noqa: E402
from tests.fake_gemini import FakeGemini, Reply, verdict  # noqa: E402

DEV = ROOT / "tests" / "data" / "triage-dev"


def corpus(copies: int) -> list[bytes]:
    """The dev set repeated, each copy with its own Message-ID."""
    raws = [p.read_bytes() for p in sorted(DEV.glob("*.eml"))]
    out = []
    for n in range(copies):
        for raw in raws:
            out.append(raw.replace(b"Message-ID: <", f"Message-ID: <c{n}.".encode(), 1))
    return out


def write_formats(raws: list[bytes], where: Path) -> dict[str, Path]:
    """The same messages as an mbox file, a Maildir and a folder of .eml files."""
    box = mailbox.mbox(str(where / "inbox.mbox"))
    for raw in raws:
        box.add(raw)
    box.flush()
    box.close()
    maildir = mailbox.Maildir(str(where / "Maildir"), create=True)
    for raw in raws:
        maildir.add(mailbox.MaildirMessage(raw))
    folder = where / "eml"
    folder.mkdir()
    for n, raw in enumerate(raws):
        (folder / f"{n:05}.eml").write_bytes(raw)
    return {"mbox": where / "inbox.mbox", "Maildir": where / "Maildir", ".eml folder": folder}


def best_of(runs: int, fn: object) -> float:
    """The fastest of several runs, in seconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    """Measure and write the section."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=10, help="copies of the 60-message dev set")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    context = TriageContext.from_json(json.loads((DEV / "context.json").read_text(encoding="utf-8")))
    classifier = OfflineClassifier()
    raws = corpus(args.copies)
    n = len(raws)
    lines = []

    def direct() -> None:
        for raw in raws:
            classifier.classify(parse_email(raw), context)

    base = best_of(3, direct)
    lines += [
        f"Batch over {n} messages (the dev set ×{args.copies}), offline classifier, one process, best of 3.",
        "",
        "| input | messages/s | vs. in-memory baseline |",
        "|---|---|---|",
        f"| baseline: parse + classify bytes already in memory | {n / base:,.0f} | 1.00 |",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for label, path in write_formats(raws, Path(tmp)).items():

            def batch(path: Path = path) -> None:
                _, sources, _ = read_sources(path)
                for _ in triage_sources(sources, classifier, context):
                    pass

            took = best_of(3, batch)
            lines.append(f"| {label} via `integrations.triage.batch` | {n / took:,.0f} | {base / took:.2f} |")

    # The whole command on a fresh process, against the cost of starting Python with the CLI imported.
    command = [sys.executable, "-m", "bot", "triage", str(DEV), "--json", "--context", str(DEV / "context.json")]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, check=False)
    cli = time.perf_counter() - start
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import bot.cli, bot.bootstrap"], cwd=ROOT, check=True)
    imports = time.perf_counter() - start
    assert done.returncode == 0, done.stderr
    lines += [
        "",
        f"`courrier triage` on the 60-message dev set, fresh process: {cli:.2f} s wall, of which "
        f"{imports:.2f} s is starting Python and importing the CLI and the composition root (baseline).",
    ]

    # Gemini adapter against the local fake: everything but the model's own latency.
    emails = [parse_email(raw) for raw in raws[:60]]
    prompts = [build_prompt(e, context, analyze_sender(e, context)) for e in emails]
    sizes = [len(p) for p in prompts]
    body_sizes = [len(e.text) for e in emails]
    with FakeGemini() as fake:
        gemini = GeminiClassifier("bench-key", "gemini-2.5-flash", fake.url, timeout=10, fallback=classifier)
        for _ in emails:
            fake.queue(Reply(body=verdict()))
        start = time.perf_counter()
        for e in emails:
            gemini.classify(e, context)
        through = time.perf_counter() - start
        gemini.close()
    start = time.perf_counter()
    for e in emails:
        classifier.classify(e, context)
    alone = time.perf_counter() - start
    lines += [
        "",
        "Gemini adapter on the 60 dev messages against the local fake generateContent server (no model latency:",
        "this is the adapter's own cost — offline reading, prompt, SDK, loopback HTTP, validation, guards):",
        "",
        "| | per message |",
        "|---|---|",
        f"| offline classifier alone (baseline) | {alone / 60 * 1000:.1f} ms |",
        f"| Gemini adapter with the fake server | {through / 60 * 1000:.1f} ms |",
        "",
        f"Text sent per message: mean {statistics.mean(sizes):,.0f} characters, max {max(sizes):,} "
        f"(≈{max(sizes) // 4:,} tokens), against a mean decoded body of {statistics.mean(body_sizes):,.0f} "
        f"characters (max {max(body_sizes):,}); attachments never sent.",
    ]
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        write_section("triage-batch", "Triage batch (`courrier triage`) and the Gemini adapter", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
