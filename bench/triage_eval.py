"""Evaluate the offline triage classifier on a labelled folder and measure its throughput."""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from integrations.mime import parse_email  # noqa: E402
from integrations.triage import OfflineClassifier, TriageContext  # noqa: E402
from integrations.triage.evaluation import LABELS, Case, Report, evaluate, load_folder  # noqa: E402


def default_folder() -> Path:
    """The dev set: $COURRIER_TRIAGE_DEV or the copy in tests/data/triage-dev."""
    return Path(os.environ.get("COURRIER_TRIAGE_DEV", ROOT / "tests" / "data" / "triage-dev"))


def format_report(name: str, report: Report) -> str:
    """Accuracy, per-class precision and recall, confusion matrix and the misclassified files."""
    lines = [
        f"== {name}: {report.total} messages",
        f"accuracy {report.accuracy:.3f} ({report.correct}/{report.total})",
        f"critical recall {report.recall('critical'):.3f}   spam->critical {report.spam_as_critical}",
        "",
        f"{'class':<12}{'precision':>10}{'recall':>8}",
    ]
    lines += [f"{label:<12}{report.precision(label):>10.2f}{report.recall(label):>8.2f}" for label in LABELS]
    lines += [
        "",
        "confusion (rows = label, columns = predicted)",
        " " * 12 + "".join(f"{c[:4]:>6}" for c in LABELS),
    ]
    for gold in LABELS:
        lines.append(
            f"{gold:<12}" + "".join(f"{report.confusion.get((gold, guess), 0):>6}" for guess in LABELS)
        )
    if report.errors:
        lines += ["", "misclassified:"]
        for case, email, result in report.errors:
            lines.append(
                f"  {case.name}: {case.label.value} -> {result.priority.value}  [{', '.join(result.reasons)}]"
            )
            lines.append(f"      {email.subject[:90]}")
            lines.append(f"      label: {case.why[:140]}")
    return "\n".join(lines)


def markdown(name: str, report: Report) -> str:
    """The same figures as a Markdown section."""
    out = [
        f"### {name}",
        "",
        f"- messages: {report.total}",
        f"- accuracy: **{report.accuracy:.3f}** ({report.correct}/{report.total})",
        f"- critical recall: **{report.recall('critical'):.3f}**",
        f"- spam or phishing labelled critical: **{report.spam_as_critical}**",
        "",
        "| class | precision | recall |",
        "|---|---|---|",
    ]
    out += [f"| {label} | {report.precision(label):.2f} | {report.recall(label):.2f} |" for label in LABELS]
    out += ["", "| label \\ predicted | " + " | ".join(LABELS) + " |", "|---" * (len(LABELS) + 1) + "|"]
    for gold in LABELS:
        out.append(
            f"| {gold} | " + " | ".join(str(report.confusion.get((gold, g), 0)) for g in LABELS) + " |"
        )
    return "\n".join(out) + "\n"


def throughput(
    context: TriageContext, cases: list[Case], target: int, runs: int
) -> tuple[float, float, float]:
    """Best-of-`runs` emails/s for parse_email alone, classify alone, and both, on one core."""
    raws = [case.raw for case in cases] * max(1, target // max(1, len(cases)))
    classifier = OfflineClassifier()
    parsed = [parse_email(raw) for raw in raws]

    def best(work: Callable[[], object]) -> float:
        """Messages per CPU second of the fastest run."""
        timings = []
        for _ in range(runs):
            gc.collect()
            start = time.process_time()  # CPU time of this process: other load on the machine does not count
            work()
            timings.append(time.process_time() - start)
        return len(raws) / min(timings)

    parse_rate = best(lambda: [parse_email(raw) for raw in raws])
    classify_rate = best(lambda: [classifier.classify(email, context) for email in parsed])
    both_rate = best(lambda: [classifier.classify(parse_email(raw), context) for raw in raws])
    return parse_rate, classify_rate, both_rate


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folders", nargs="*", type=Path, help="labelled folders (default: the dev set)")
    parser.add_argument("--markdown", type=Path, help="write the figures as Markdown to this file")
    parser.add_argument("--bench", action="store_true", help="also measure throughput on the first folder")
    parser.add_argument("--target", type=int, default=2000, help="messages per throughput run")
    parser.add_argument("--runs", type=int, default=5, help="throughput runs (best is kept)")
    args = parser.parse_args(argv)
    folders = args.folders or [default_folder()]
    sections = []
    for folder in folders:
        context, cases = load_folder(folder)
        report = evaluate(OfflineClassifier(), context, cases)
        print(format_report(str(folder), report))
        print()
        sections.append(markdown(folder.name, report))
    if args.bench:
        context, cases = load_folder(folders[0])
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        parse_rate, classify_rate, both_rate = throughput(context, cases, args.target, args.runs)
        lines = [
            f"throughput on one core, best of {args.runs} runs over {args.target} messages:",
            f"  baseline parse_email only : {parse_rate:8.0f} emails/s",
            f"  classify only (pre-parsed): {classify_rate:8.0f} emails/s",
            f"  parse_email + classify    : {both_rate:8.0f} emails/s",
        ]
        print("\n".join(lines))
        sections.append(
            "### Throughput\n\n"
            f"One core, best of {args.runs} runs over {args.target} messages (the dev set replicated).\n\n"
            "| work | emails/s |\n|---|---|\n"
            f"| baseline: `parse_email` alone | {parse_rate:.0f} |\n"
            f"| `OfflineClassifier.classify` on parsed mail | {classify_rate:.0f} |\n"
            f"| `parse_email` + `classify` | {both_rate:.0f} |\n"
        )
    if args.markdown:
        from bench import report

        intro = (
            "Run: `python bench/triage_eval.py --bench --markdown docs/benchmarks.md` (folders default to the "
            "dev set in tests/data/triage-dev).\n"
            "Throughput is the CPU time of one process pinned to one core; the baseline (`parse_email` "
            "alone) is measured in the same run.\n\n"
        )
        report.write_section("triage", "Email triage (offline classifier)", intro + "\n".join(sections))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
