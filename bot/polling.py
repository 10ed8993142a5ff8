"""When to ask Intron about a job again.

Intron finishes a job some time after upload that grows with the audio's length. Polling
densely around that moment makes results arrive soon after they are ready; polling an old job
every second wastes a budget that all chats share. So the interval grows with the job's age,
the first poll waits in proportion to the audio's duration, and when the shared status budget
fills up every job's interval stretches towards its fair share of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class PollPolicy:
    status_limit: int  # status calls per window, for all jobs together
    in_flight: Callable[[], int]  # jobs currently waiting at Intron
    used: Callable[[], int]  # status calls spent in the current window
    window: float = 60.0
    min_interval: float = 1.0
    max_interval: float = 15.0
    age_factor: float = 0.25
    progress_interval: float = 10.0  # seconds between edits of a status message

    def first_delay(self, duration: int | None) -> float:
        """Nothing comes back before Intron has listened to a good part of the audio."""
        seconds = float(duration or 0)
        return min(30.0, max(self.min_interval, 0.2 * seconds))

    def next_delay(self, *, age: float, duration: int | None) -> float:
        own = min(self.max_interval, max(self.min_interval, self.age_factor * age))
        fair_share = self.in_flight() * self.window / self.status_limit
        # Spend freely while the window is mostly empty and approach the fair share as it
        # fills; squared, so the brake is light early (short jobs finish and leave) and firm
        # near the limit (where a spent window would stall every job for up to a minute).
        pressure = min(1.0, self.used() / self.status_limit) ** 2
        return max(own, fair_share * pressure, self.first_delay(duration) - age)
