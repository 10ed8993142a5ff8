"""When to ask Intron about a job again.

Intron finishes a job some time after upload that grows with the audio's length. Polling
densely around that moment makes results arrive soon after they are ready; polling an old job
every second wastes a budget that all chats share. So the interval grows with the job's age,
the first poll waits in proportion to the audio's duration, and when the shared status budget
fills up every job's interval stretches towards its fair share of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

# Before any job has finished, assume Intron needs a fifth of the audio's length.
DEFAULT_SECONDS_PER_AUDIO_SECOND = 0.2
# Observed times include the poll that noticed them: aim the first poll a little earlier.
FIRST_POLL_SHARE = 0.6


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
    max_first_delay: float = 60.0
    _learned_speed: float | None = field(default=None, init=False)

    def observe_done(self, *, age: float, duration: int | None) -> None:
        """A job was seen transcribed `age` seconds after upload: learn Intron's pace, so the
        first poll of later jobs lands near their finish instead of spending calls before."""
        if not duration or duration <= 0:
            return
        ratio = age / duration
        learned = self._learned_speed
        self._learned_speed = ratio if learned is None else 0.8 * learned + 0.2 * ratio

    def first_delay(self, duration: int | None) -> float:
        """Nothing comes back before Intron has listened to a good part of the audio."""
        if self._learned_speed is None:
            per_second = DEFAULT_SECONDS_PER_AUDIO_SECOND
        else:
            per_second = FIRST_POLL_SHARE * self._learned_speed
        delay = per_second * float(duration or 0)
        return min(self.max_first_delay, max(self.min_interval, delay))

    def next_delay(self, *, age: float, duration: int | None) -> float:
        own = min(self.max_interval, max(self.min_interval, self.age_factor * age))
        in_flight = self.in_flight()
        fair_share = in_flight * self.window / self.status_limit
        # Every job in flight already has one poll booked, so those count as spent. Spend
        # freely while the window is mostly empty and approach the fair share as it fills;
        # cubed, so the brake is light early (short jobs finish and leave) and reaches the
        # fair share before the window is full (a spent window stalls every job for a minute).
        committed = self.used() + in_flight
        pressure = min(1.0, committed / self.status_limit) ** 3
        return max(own, fair_share * pressure, self.first_delay(duration) - age)
