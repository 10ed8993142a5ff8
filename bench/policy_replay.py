"""The benchmark's traces replayed through the pure poll policy alone, in simulated time.

No processes, no fakes, no overhead: each status call is answered at once, uploads keep to 60
a minute, and the pace is learned as the engine learns it. What it prints is what the policy
itself does; the difference to `python -m bench.run` is the engine's cost per poll.
Run: `python -m bench.policy_replay [regime ...]` (queue-200 and trickle take a minute).
"""

from __future__ import annotations

import statistics
import sys

from bench.run import UPLOAD_LIMIT, WINDOW_SECONDS, Regime, percentile, regimes
from bot.engine.poll_policy import BudgetState, Pace, WaitingJob, choose_poll

STATUS_LIMIT = 100
STEP_SECONDS = 0.05


def upload_times(regime: Regime) -> list[float]:
    """When each note reaches Intron, with at most 60 uploads in any 61 s."""
    done: list[float] = []
    for note in regime.notes:
        at = note.send_at + 0.05
        while len(recent := [u for u in done if u > at - 61]) >= UPLOAD_LIMIT:
            at = min(recent) + 61
        done.append(at)
    return done


def replay(regime: Regime) -> str:
    notes = regime.notes
    uploaded = upload_times(regime)
    pace = Pace()
    asked: dict[int, float] = {}
    seen: dict[int, float] = {}
    calls: list[float] = []
    last: float | None = None
    now = 0.0
    while len(seen) < len(notes) and now < max(uploaded) + 600:
        waiting = [
            WaitingJob(i, uploaded[i], notes[i].audio_seconds, asked.get(i))
            for i in range(len(notes))
            if uploaded[i] <= now and i not in seen
        ]
        used = sum(1 for t in calls if t > now - WINDOW_SECONDS)
        choice = choose_poll(
            waiting,
            BudgetState(STATUS_LIMIT, used, WINDOW_SECONDS),
            pace,
            now,
            last_dispatch_at=last,
        )
        if choice.job_id is not None and choice.at <= now:
            i = choice.job_id
            calls.append(now)
            last = now
            if now >= uploaded[i] + notes[i].intron_seconds:
                seen[i] = now
                since = asked.get(i, uploaded[i])
                pace.observe(notes[i].audio_seconds, (since + now) / 2 - uploaded[i])
            else:
                asked[i] = now
            continue
        upcoming = [u for u in uploaded if u > now]
        later = min(choice.at, now + 1.0) if waiting else min(upcoming, default=now + 1.0)
        now = max(now + STEP_SECONDS, later)
    added = [seen[i] - uploaded[i] - notes[i].intron_seconds for i in seen]
    most = max((sum(1 for u in calls if t <= u < t + WINDOW_SECONDS) for t in calls), default=0)
    return (
        f"| {regime.name} | {len(seen)}/{len(notes)} | {statistics.median(added):.2f} "
        f"| {percentile(added, 0.95):.2f} | {len(calls) / len(notes):.1f} | {most} |"
    )


def main(argv: list[str]) -> int:
    catalog = regimes(20240601, smoke=False)
    print("| regime | seen | added median (s) | added p95 (s) | status calls / job | max / 60 s |")
    print("|---|---|---|---|---|---|")
    for name in argv or list(catalog):
        print(replay(catalog[name]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
