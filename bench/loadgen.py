"""Load generator (run as a separate process): signed single-message webhook POSTs over keep-alive
HTTP/1.1 connections, closed-loop (max throughput) or open-loop at a fixed rate.

Latency in fixed-rate mode is measured from each request's scheduled send time, so a stalled
server is not hidden (no coordinated omission). Prints one JSON line with the results.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import statistics
import time
import uuid


def make_request(host: str, port: int, secret: str, phone: str, text: str) -> bytes:
    """The exact bytes of one signed POST."""
    wamid = f"wamid.load.{uuid.uuid4().hex}"
    body = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "contacts": [{"profile": {"name": "Load"}, "wa_id": phone}],
            "messages": [{"from": phone, "id": wamid, "timestamp": str(int(time.time())), "type": "text",
                          "text": {"body": text}}]}}]}]}).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    head = (f"POST /webhooks/whatsapp HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"X-Hub-Signature-256: {signature}\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


async def read_response(reader: asyncio.StreamReader) -> int:
    """Read one HTTP response; returns its status code."""
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("closed")
    status = int(status_line.split()[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    if length:
        await reader.readexactly(length)
    return status


async def run(args: argparse.Namespace) -> dict[str, object]:
    phones = [f"{args.phone_base + i}" for i in range(args.senders)]
    total = args.count
    requests = [make_request(args.host, args.port, args.secret, phones[i % len(phones)], args.text) for i in range(total)]
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[tuple[int, float]] = asyncio.Queue()
    start = time.perf_counter()

    async def connection() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(args.host, args.port)
        while True:
            item = await queue.get()
            if item[0] < 0:
                break
            index, scheduled = item
            sent = scheduled if args.rate else time.perf_counter()
            try:
                writer.write(requests[index])
                status = await read_response(reader)
                if status != 200:
                    errors += 1
            except (ConnectionError, asyncio.IncompleteReadError, OSError):
                errors += 1
                writer.close()
                reader, writer = await asyncio.open_connection(args.host, args.port)
            latencies.append(time.perf_counter() - sent)
        writer.close()

    workers = [asyncio.create_task(connection()) for _ in range(args.connections)]
    if args.rate:
        interval = 1.0 / args.rate
        for i in range(total):
            scheduled = start + i * interval
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            queue.put_nowait((i, scheduled))
    else:
        for i in range(total):
            queue.put_nowait((i, 0.0))
    for _ in workers:
        queue.put_nowait((-1, 0.0))
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - start
    ordered = sorted(latencies)

    def pct(p: float) -> float | None:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 2) if ordered else None

    return {"requests": total, "errors": errors, "seconds": round(elapsed, 3),
            "throughput": round(total / elapsed, 1), "p50_ms": pct(0.50), "p99_ms": pct(0.99),
            "max_ms": round(ordered[-1] * 1000, 2) if ordered else None,
            "mean_ms": round(statistics.fmean(ordered) * 1000, 2) if ordered else None}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=0.0, help="requests per second (0 = as fast as possible)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--senders", type=int, default=50)
    parser.add_argument("--phone-base", type=int, default=2250700100000)
    parser.add_argument("--text", default="aide")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
