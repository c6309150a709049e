"""Invitations benchmark: contact posts, signup pages and redemptions against a /healthz baseline.

Runs the real app in-process (TestClient, SQLite in a temporary folder, production Argon2id
parameters) and writes its figures into its section of docs/benchmarks.md.

    .venv/bin/python bench/invitations.py [--rounds 30]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from argon2 import PasswordHasher  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from bench.report import write_section  # noqa: E402
from bot.app import create_app  # noqa: E402
from bot.bootstrap import build_services, prepare_database  # noqa: E402
from bot.settings import Settings  # noqa: E402
from handlers.invitations.service import InvitationService  # noqa: E402
from storage import invitations as repo  # noqa: E402
from storage.accounts import add_user, ensure_default_org  # noqa: E402
from storage.invitations import ClientAccount  # noqa: E402

PASSWORD = "Vélo-Rouge-2026!"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class QuietWhatsApp:
    """Accepts every message (the bench measures Courrier, not Meta)."""

    async def send(self, to: object, message: object) -> str:
        return "wamid.bench"

    async def aclose(self) -> None:
        return None


def timed(fn: Callable[[], object], rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def fmt(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"{statistics.median(samples):.1f} ms (p95 {p95:.1f} ms)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    rounds = args.rounds
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(_env_file=None, database_url=f"sqlite:///{folder}/bench.db",  # type: ignore[call-arg]
                            secret_keys=["a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s="], sandbox=False,
                            contact_rate_limit=1000, signup_guess_limit=10000)
        services = build_services(settings, whatsapp=QuietWhatsApp())  # type: ignore[arg-type]
        prepare_database(services)
        svc = services.get(InvitationService)
        with services.db.write() as session:
            org = ensure_default_org(session, "Bench")
            add_user(session, org, name="Admin", phone="+33600000001", admin=True)

        def new_link(i: int) -> str:
            with services.db.write() as session:
                org = ensure_default_org(session, "Bench")
                invitation = svc.create(session, org, email=f"client{i}-{time.monotonic_ns()}@exemple.fr",
                                        language="fr", via="api")
                return repo.issue_token(session, invitation, "email", services.clock.now())

        hasher = PasswordHasher(time_cost=settings.password_hash_time_cost,
                                memory_cost=settings.password_hash_memory_kib,
                                parallelism=settings.password_hash_parallelism)
        figures: dict[str, str] = {}
        with TestClient(create_app(settings, services)) as client:
            figures["baseline: GET /healthz"] = fmt(timed(lambda: client.get("/healthz"), rounds))
            figures["POST /api/contact (stored, admins notified)"] = fmt(timed(lambda: client.post(
                "/api/contact", json={"name": "Jean", "email": "jean@exemple.fr", "message": "Bonjour"}), rounds))
            links = [new_link(i) for i in range(rounds)]
            pages = iter(links)
            figures["GET signup page"] = fmt(timed(lambda: client.get(f"/api/accounts/client-signup/{next(pages)}/"),
                                                   rounds))
            figures["Argon2id hash alone (production parameters)"] = fmt(timed(lambda: hasher.hash(PASSWORD), rounds))
            tokens = iter(links)

            def redeem() -> None:
                token = next(tokens)
                page = client.get(f"/api/accounts/client-signup/{token}/")
                match = CSRF.search(page.text)
                assert match
                response = client.post(f"/api/accounts/client-signup/{token}/", follow_redirects=False, data={
                    "csrf": match.group(1), "name": "Jean", "password": PASSWORD, "password_confirm": PASSWORD})
                assert response.status_code == 303, response.status_code

            figures["signup page + redemption (claim, Argon2id, account, session)"] = fmt(timed(redeem, rounds))

            token = new_link(10_000)
            page = client.get(f"/api/accounts/client-signup/{token}/")
            match = CSRF.search(page.text)
            assert match
            csrf = match.group(1)
            barrier = threading.Barrier(20)
            codes: list[int] = []

            def race() -> None:
                barrier.wait()
                response = client.post(f"/api/accounts/client-signup/{token}/", follow_redirects=False, data={
                    "csrf": csrf, "name": "Racer", "password": PASSWORD, "password_confirm": PASSWORD})
                codes.append(response.status_code)

            threads = [threading.Thread(target=race) for _ in range(20)]
            start = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = (time.perf_counter() - start) * 1000
            assert codes.count(303) == 1, codes
            figures["20 simultaneous submissions of one link (wall time; 1 account)"] = f"{wall:.0f} ms"
        with services.db.session() as session:
            accounts = session.query(ClientAccount).count()
        services.db.dispose()

    lines = [
        f"`bench/invitations.py`: {rounds} rounds, in-process TestClient, SQLite, Argon2id "
        f"t={settings.password_hash_time_cost} m={settings.password_hash_memory_kib} KiB "
        f"p={settings.password_hash_parallelism} ({accounts} accounts created). Median and p95 per request; "
        "the baseline is `GET /healthz` on the same app in the same run.",
        "",
        "| measure | time |",
        "|---|---|",
        *[f"| {name} | {value} |" for name, value in figures.items()],
        "",
        "Redemption cost is dominated by Argon2id. At most 4 hashes run at once per process, which bounds "
        "memory to about 4 × the memory cost; a submission that waited for a slot re-checks its link first, "
        "so the losers of a race on one link cost no hash once the winner has committed.",
    ]
    body = "\n".join(lines)
    write_section("invitations", "Invitations: contact, signup page, redemption", body)
    print(body)


if __name__ == "__main__":
    main()
