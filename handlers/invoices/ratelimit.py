"""A rate limiter in the provider's own units, per mailbox, and the retry policy: pure, clock injected.

Two limits, as providers publish them: a per-minute budget in units (Gmail counts 100 quota units
per ``messages.send``; Graph and SMTP count messages, one unit each), and a daily cap in messages
or recipients over a rolling day. Sends are spaced evenly (one every ``cost / rate`` seconds) and
a sliding one-minute log makes sure no 60-second window ever holds more than the budget, so the
sustained rate is the quota itself and the provider never has to answer 429.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Limits:
    """A provider's sending limits for one mailbox."""

    units_per_minute: float
    units_per_message: float = 1.0
    daily_messages: int | None = None
    daily_recipients: int | None = None
    window: float = 60.0  # seconds the per-minute budget is counted over (tests and benchmarks scale it)

    @property
    def messages_per_minute(self) -> float:
        """The budget expressed in messages per minute."""
        return self.units_per_minute / self.units_per_message * 60.0 / self.window


# Published defaults (see README, "Invoices"): Gmail 6,000 units/min/user and 2,000 messages/day
# (Workspace; 500 for a personal account), Graph 30 messages/min and 10,000 recipients/day, SMTP 20/min.
GMAIL_UNITS_PER_SEND = 100.0
DEFAULTS: dict[str, Limits] = {
    "gmail": Limits(6000.0, GMAIL_UNITS_PER_SEND, daily_messages=2000),
    "gmail_personal": Limits(6000.0, GMAIL_UNITS_PER_SEND, daily_messages=500),
    "outlook": Limits(30.0, 1.0, daily_recipients=10_000),
    "imap": Limits(20.0, 1.0),
}
PERSONAL_GMAIL_DOMAINS = ("gmail.com", "googlemail.com")


def limits_for(provider: str, address: str = "", overrides: dict[str, float | int | None] | None = None) -> Limits:
    """The limits of a mailbox: the provider's defaults, a personal Gmail's lower cap, then overrides."""
    key = provider
    if provider == "gmail" and address.lower().rpartition("@")[2] in PERSONAL_GMAIL_DOMAINS:
        key = "gmail_personal"
    base = DEFAULTS.get(key, DEFAULTS["imap"])
    if not overrides:
        return base
    values = {"units_per_minute": base.units_per_minute, "units_per_message": base.units_per_message,
              "daily_messages": base.daily_messages, "daily_recipients": base.daily_recipients,
              "window": base.window}
    for name, value in overrides.items():
        if name in values and value is not None:
            values[name] = value
    return Limits(float(values["units_per_minute"] or 1), float(values["units_per_message"] or 1),
                  int(values["daily_messages"]) if values["daily_messages"] else None,
                  int(values["daily_recipients"]) if values["daily_recipients"] else None,
                  float(values["window"] or 60.0))


@dataclass(frozen=True)
class Wait:
    """Not yet: ``seconds`` to wait; ``daily`` when the daily cap is reached (then wait until ``until``)."""

    seconds: float
    until: datetime
    daily: bool = False


class RateLimiter:
    """Decides when the next message of a mailbox may go; thread-safe, driven by the given times."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._minute: deque[tuple[datetime, float]] = deque()
        self._day: deque[tuple[datetime, int]] = deque()
        self._next_slot: datetime | None = None
        self._blocked_until: datetime | None = None
        self._lock = threading.Lock()

    @property
    def interval(self) -> timedelta:
        """The even spacing between two messages at the quota's rate."""
        return timedelta(seconds=self.limits.window * self.limits.units_per_message / self.limits.units_per_minute)

    @property
    def _span(self) -> timedelta:
        return timedelta(seconds=self.limits.window)

    def seed(self, history: Iterable[tuple[datetime, int]]) -> None:
        """Sends already made (by an earlier process): (time, recipients), oldest first."""
        for when, recipients in history:
            self.record(when, recipients)

    def check(self, now: datetime, recipients: int = 1) -> Wait | None:
        """None when a message to ``recipients`` people may go now, else how long to wait."""
        with self._lock:
            self._trim(now)
            daily = self._daily_wait(now, recipients)
            if daily is not None:
                return daily
            candidates = [now]
            if self._next_slot is not None:
                candidates.append(self._next_slot)
            if self._blocked_until is not None:
                candidates.append(self._blocked_until)
            cost = self.limits.units_per_message
            used = sum(units for _, units in self._minute)
            if used + cost > self.limits.units_per_minute and self._minute:
                # Wait until enough of the window's oldest sends have aged out.
                excess = used + cost - self.limits.units_per_minute
                freed = 0.0
                for when, units in self._minute:
                    freed += units
                    if freed >= excess:
                        candidates.append(when + self._span)
                        break
            ready = max(candidates)
            if ready <= now:
                return None
            return Wait((ready - now).total_seconds(), ready)

    def record(self, now: datetime, recipients: int = 1) -> None:
        """A message went (or may have gone) out at ``now``."""
        with self._lock:
            self._minute.append((now, self.limits.units_per_message))
            self._day.append((now, recipients))
            interval = self.interval
            # Keep to the schedule: a send that came a little late does not push every later one back
            # (at most one interval is caught up; the one-minute log still caps every window).
            if self._next_slot is None:
                self._next_slot = now + interval
            else:
                self._next_slot = max(self._next_slot, now - interval) + interval

    def hold(self, until: datetime) -> None:
        """The provider asked to slow down: nothing goes before ``until``."""
        with self._lock:
            if self._blocked_until is None or until > self._blocked_until:
                self._blocked_until = until

    def _trim(self, now: datetime) -> None:
        while self._minute and self._minute[0][0] <= now - self._span:
            self._minute.popleft()
        while self._day and self._day[0][0] <= now - DAY:
            self._day.popleft()

    def _daily_wait(self, now: datetime, recipients: int) -> Wait | None:
        limits = self.limits
        if limits.daily_messages is not None and len(self._day) + 1 > limits.daily_messages:
            until = self._day[0][0] + DAY if self._day else now + DAY
            return Wait((until - now).total_seconds(), until, daily=True)
        if limits.daily_recipients is not None:
            total = sum(r for _, r in self._day)
            if total + recipients > limits.daily_recipients:
                until, freed = now + DAY, 0
                for when, count in self._day:
                    freed += count
                    if total - freed + recipients <= limits.daily_recipients:
                        until = when + DAY
                        break
                return Wait((until - now).total_seconds(), until, daily=True)
        return None


class LimiterRegistry:
    """One limiter per mailbox for the whole process, so two batches share a mailbox's quota."""

    def __init__(self) -> None:
        self._limiters: dict[object, RateLimiter] = {}
        self._lock = threading.Lock()

    def get(self, key: object, limits: Limits, history: Iterable[tuple[datetime, int]] = ()) -> RateLimiter:
        """The mailbox's limiter, created (and seeded with recent sends) on first use."""
        with self._lock:
            limiter = self._limiters.get(key)
            if limiter is None or limiter.limits != limits:
                limiter = RateLimiter(limits)
                limiter.seed(history)
                self._limiters[key] = limiter
            return limiter


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter that honours Retry-After: 5 retries, 5 s doubling, at most 60 s."""

    retries: int = 5
    base: float = 5.0
    cap: float = 60.0

    def delay(self, retry: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds before retry number ``retry`` (1-based)."""
        ceiling = min(self.cap, self.base * 2.0 ** (retry - 1))
        draw: float = (rng or random.Random()).random()
        jittered = ceiling * (0.5 + 0.5 * draw)
        if retry_after is not None and retry_after > 0:
            return max(retry_after, jittered)
        return jittered
