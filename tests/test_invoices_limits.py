"""The rate limiter and the retry policy, driven by a fake clock."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from handlers.invoices.ratelimit import DEFAULTS, Limits, RateLimiter, RetryPolicy, limits_for

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def drive(limiter: RateLimiter, count: int, start: datetime = T0, recipients: int = 1) -> list[datetime]:
    """Send ``count`` messages as fast as the limiter allows; the send times."""
    now, times = start, []
    while len(times) < count:
        wait = limiter.check(now, recipients)
        if wait is None:
            limiter.record(now, recipients)
            times.append(now)
        else:
            assert not wait.daily
            now = wait.until
    return times


def test_gmail_defaults_space_sends_at_the_quota() -> None:
    limiter = RateLimiter(DEFAULTS["gmail"])  # 6,000 units/min at 100 units = 60 messages/min
    times = drive(limiter, 180)
    # Evenly spaced: one per second, 180 messages in three minutes.
    assert (times[-1] - times[0]).total_seconds() == 179.0
    for i in range(len(times)):
        window = [t for t in times if times[i] <= t < times[i] + timedelta(minutes=1)]
        assert len(window) <= 60


def test_no_minute_window_exceeds_the_budget_after_a_burst_of_history() -> None:
    limiter = RateLimiter(Limits(units_per_minute=10, units_per_message=1))
    limiter.seed([(T0 - timedelta(seconds=30) + timedelta(seconds=i), 1) for i in range(10)])
    times = drive(limiter, 5, start=T0)
    # The ten earlier sends (T0-30s … T0-21s) age out only from T0+30s.
    assert times[0] >= T0 + timedelta(seconds=30)
    every = sorted([T0 - timedelta(seconds=30) + timedelta(seconds=i) for i in range(10)] + times)
    for t in every:
        assert len([u for u in every if t <= u < t + timedelta(minutes=1)]) <= 10


def test_daily_cap_pauses_until_the_oldest_send_ages_out() -> None:
    limiter = RateLimiter(Limits(units_per_minute=1000, units_per_message=1, daily_messages=5))
    times = drive(limiter, 5)
    wait = limiter.check(times[-1] + timedelta(seconds=1))
    assert wait is not None and wait.daily
    assert wait.until == times[0] + timedelta(days=1)
    assert limiter.check(wait.until) is None


def test_graph_counts_recipients_per_day() -> None:
    limiter = RateLimiter(Limits(units_per_minute=30, daily_recipients=7))
    drive(limiter, 3, recipients=2)
    wait = limiter.check(T0 + timedelta(minutes=5), 2)
    assert wait is not None and wait.daily
    assert limiter.check(T0 + timedelta(minutes=5), 1) is None


def test_provider_hold_delays_the_next_send() -> None:
    limiter = RateLimiter(Limits(units_per_minute=6000, units_per_message=100))
    limiter.hold(T0 + timedelta(seconds=30))
    wait = limiter.check(T0)
    assert wait is not None and wait.until == T0 + timedelta(seconds=30)


def test_limits_per_provider_and_overrides() -> None:
    assert limits_for("gmail", "boss@gmail.com").daily_messages == 500
    assert limits_for("gmail", "boss@atelier.fr").daily_messages == 2000
    assert limits_for("outlook").messages_per_minute == 30
    assert limits_for("outlook").daily_recipients == 10_000
    assert limits_for("imap").messages_per_minute == 20
    assert limits_for("imap", overrides={"units_per_minute": 120}).messages_per_minute == 120


def test_backoff_doubles_with_jitter_caps_and_honours_retry_after() -> None:
    policy = RetryPolicy()
    rng = random.Random(7)
    for retry, ceiling in [(1, 5), (2, 10), (3, 20), (4, 40), (5, 60), (6, 60)]:
        delay = policy.delay(retry, None, rng)
        assert ceiling / 2 <= delay <= ceiling
    assert policy.delay(1, 42.0, rng) >= 42.0
    assert policy.delay(5, 2.0, rng) >= 30.0


def test_a_late_send_is_caught_up_without_exceeding_the_window() -> None:
    limiter = RateLimiter(Limits(units_per_minute=60, units_per_message=1))  # one a second
    now, times = T0, []
    for i in range(120):
        wait = limiter.check(now)
        if wait is not None:
            now = wait.until
        # Every send comes 0.3 s late (the loop's own overhead).
        now += timedelta(seconds=0.3) if i % 2 else timedelta(0)
        limiter.record(now)
        times.append(now)
    span = (times[-1] - times[0]).total_seconds()
    assert 119 / span >= 0.99  # the schedule holds: about one a second, not one every 1.15 s
    for t in times:
        assert len([u for u in times if t <= u < t + timedelta(minutes=1)]) <= 60
