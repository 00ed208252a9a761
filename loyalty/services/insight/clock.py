"""The insight run's sense of time: one `now`, and days counted in the programme's time zone.

The programme's time zone is the project's TIME_ZONE (Europe/Paris by default).
Every "days since" of the insight run counts calendar days in it: a purchase
made at 23:30 yesterday, Paris time, is 1 day old at 00:10 today. Windows are
whole local days ending today: "the last 365 days" starts at local midnight
364 days before today, so a purchase is in the window exactly when its
`recency_days` is below the window's length.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from django.utils import timezone


@dataclass(frozen=True)
class Clock:
    now: datetime
    tz: tzinfo
    today: date

    @classmethod
    def at(cls, now: datetime | None = None) -> Clock:
        now = now or timezone.now()
        tz = timezone.get_default_timezone()
        return cls(now=now, tz=tz, today=timezone.localdate(now, tz))

    @property
    def tz_name(self) -> str:
        return getattr(self.tz, "key", str(self.tz))

    @property
    def month(self) -> date:
        """The first day of the current local month."""
        return self.today.replace(day=1)

    def day_start(self, day: date) -> datetime:
        return timezone.make_aware(datetime.combine(day, time.min), self.tz)

    def days_ago(self, days: int) -> datetime:
        """Local midnight starting the day `days` days before today (0: today's)."""
        return self.day_start(self.today - timedelta(days=days))

    def window_start(self, days: int) -> datetime:
        """The first moment of a window of `days` whole local days ending today."""
        return self.days_ago(days - 1)

    def days_since(self, moment: datetime) -> int:
        return (self.today - timezone.localdate(moment, self.tz)).days
