"""Distributed mode on this 2-core machine: webhook throughput with 1 and 2 web processes and queue
drain rate with 1 and 2 Celery workers, each compared with the single-process default (SQLite, the
in-process worker) measured in the same run.

Webhook phase: the workers are stopped, so the web processes only verify, store and enqueue; a
separate load generator posts N signed messages as fast as the server acknowledges them.
Drain phase: with that backlog of N messages waiting, K workers start; the drain rate is N divided
by the time until the fake Graph API has received all N replies. The single-process default does
both at once, so its figures are: acknowledgement rate of the same burst, and N divided by the
time from the first request to the last reply.

    .venv/bin/python bench/distributed.py [--quick] [--broker redis://127.0.0.1:6379/12] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import write_section
from bench.webhook_load import (
    COURRIER,
    PY,
    ROOT,
    Server,
    drop_database,
    free_port,
    graph_total,
    loadgen,
    new_database,
    register_senders,
    server_env,
    wait_http,
)


def wait_total(graph_port: int, target: int, timeout: float = 900) -> float:
    """Seconds until the fake Graph API has received ``target`` messages in all."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if graph_total(graph_port) >= target:
            return time.monotonic() - start
        time.sleep(0.1)
    raise RuntimeError(f"only {graph_total(graph_port)} of {target} replies after {timeout:.0f} s")


class Deployment:
    """A distributed deployment on a fresh PostgreSQL database: web processes and workers on demand."""

    def __init__(self, broker_url: str, graph_port: int, tmp: Path) -> None:
        self.tmp = tmp
        self.url, self.pg_name = new_database("postgresql", tmp)
        register_senders(self.url)
        self.env = server_env(self.url, graph_port, COURRIER_BROKER_URL=broker_url)
        self.processes: list[subprocess.Popen[bytes]] = []
        self.port = free_port()

    def web(self, processes: int) -> None:
        self.processes.append(subprocess.Popen(
            [COURRIER, "serve", "--port", str(self.port), "--workers", str(processes)], env=self.env, cwd=self.tmp,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        wait_http(f"http://127.0.0.1:{self.port}/readyz")

    def worker(self) -> None:
        self.processes.append(subprocess.Popen(
            [COURRIER, "worker", "--concurrency", "1", "--queues", "chat"], env=self.env, cwd=self.tmp,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))

    def stop(self) -> None:
        import signal

        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        drop_database(self.pg_name)


def purge(broker_url: str) -> None:
    """Start from empty queues."""
    from kombu import Connection

    with Connection(broker_url, connect_timeout=5) as conn:
        for queue in ("chat", "sync", "bulk"):
            channel = conn.channel()
            try:
                channel.queue_purge(queue)
            except Exception:
                pass
            finally:
                channel.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--no-write", action="store_true", help="print, do not update docs/benchmarks.md")
    args = parser.parse_args()
    burst = 600 if args.quick else 3000
    tmp = Path(tempfile.mkdtemp(prefix="courrier-dist-"))
    graph_port = free_port()
    graph = subprocess.Popen([PY, str(ROOT / "bench" / "fake_graph.py"), str(graph_port)])
    results: dict[str, Any] = {"burst": burst, "broker": args.broker.split(":", 1)[0]}
    try:
        wait_http(f"http://127.0.0.1:{graph_port}/stats")
        # The single-process default: SQLite, web and in-process worker in one process.
        server = Server("sqlite", graph_port, tmp)
        try:
            loadgen(server.port, 200)
            server.drain()
            before = graph_total(graph_port)
            start = time.monotonic()
            run = loadgen(server.port, burst)
            wait_total(graph_port, before + burst)
            elapsed = time.monotonic() - start
            results["single"] = {"webhook_rps": run["throughput"], "errors": run["errors"],
                                 "drain_rate": round(burst / elapsed, 1), "drain_s": round(elapsed, 1)}
        finally:
            server.stop()
        for web, workers in ((1, 1), (2, 2)):
            purge(args.broker)
            deployment = Deployment(args.broker, graph_port, tmp)
            try:
                deployment.web(web)
                loadgen(deployment.port, 200)  # warm-up: its replies go out with the backlog below
                run = loadgen(deployment.port, burst)
                before = graph_total(graph_port)
                start = time.monotonic()
                for _ in range(workers):
                    deployment.worker()
                wait_total(graph_port, before + burst + 200)
                elapsed = time.monotonic() - start
                results[f"web{web}_workers{workers}"] = {
                    "webhook_rps": run["throughput"], "errors": run["errors"],
                    "drain_rate": round((burst + 200) / elapsed, 1), "drain_s": round(elapsed, 1)}
            finally:
                deployment.stop()
    finally:
        graph.terminate()
        graph.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(results, indent=2))
    if not args.no_write:
        path = write_section("distributed", "Distributed mode: web processes and workers (issue: scale-out)",
                             render(results))
        print(f"written to {path}")


def render(results: dict[str, Any]) -> str:
    single = results["single"]
    one, two = results["web1_workers1"], results["web2_workers2"]
    lines = [
        "Script: `bench/distributed.py`. The same signed messages as `bench/webhook_load.py` (50 senders, each",
        f"asking `aide`), a burst of {results['burst']}. The baseline is the single-process default (`courrier serve`,",
        "SQLite, in-process worker), measured in the same run. Distributed: PostgreSQL and "
        f"{results['broker']} as the broker, web processes started with the workers stopped (so they only",
        "verify, store and enqueue), then Celery workers (`--concurrency 1` each, queue `chat`) drain the",
        "backlog; the drain rate counts from the workers' start (their few seconds of start-up included) until the fake Graph API has every reply.",
        "",
        "| deployment | webhook acks (req/s) | ratio to single | errors | drain (msg/s) | ratio to single |",
        "|---|---|---|---|---|---|",
        f"| single process, SQLite (default) | {single['webhook_rps']} | 1.00 | {single['errors']} | "
        f"{single['drain_rate']} | 1.00 |",
    ]
    for label, r in (("1 web process, 1 worker", one), ("2 web processes, 2 workers", two)):
        lines.append(f"| {label} | {r['webhook_rps']} | {r['webhook_rps'] / single['webhook_rps']:.2f} | {r['errors']} | "
                     f"{r['drain_rate']} | {r['drain_rate'] / single['drain_rate']:.2f} |")
    lines += [
        "",
        "On two cores the load generator, the fake Graph API, PostgreSQL and the broker share the CPU with",
        "Courrier, so a second process cannot double anything here; the figures show the overhead of the",
        "distributed path (a PostgreSQL write plus a broker publish per message, a per-sender advisory lock per",
        "task) against SQLite in one process. How the deployment grows past one machine is in",
        "`docs/deployment.md`.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
