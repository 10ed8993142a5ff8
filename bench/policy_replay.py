"""The benchmark's traces replayed through the pure poll policy alone, in simulated time.

No processes, no fakes, no overhead: each status call is answered at once, uploads keep to 60
a minute (the next slot to the chat that waited longest for one), the pace is learned as the
engine learns it, and polls go in fair turns between chats as the pacer gives them (each
chat's last poll). A regime with a restart forgets the pace at the kill and polls nothing
until the new process is up (`RESTART_SECONDS`); what was spent before stays spent. What it
prints is what the policy itself does; the difference to `python -m bench.run` is the
engine's cost per poll. Run: `python -m bench.policy_replay [regime ...]` (queue-200 and
trickle take a minute).
"""

from __future__ import annotations

import statistics
import sys

from bench.run import UPLOAD_LIMIT, WINDOW_SECONDS, Regime, percentile, regimes
from bot.engine.poll_policy import BudgetState, Pace, WaitingJob, choose_poll

STATUS_LIMIT = 100
# The engine decides again as soon as a call is handed over, not on a grid of time: at 0.05 s
# steps the replay flattered the policy (burst-40-noisy 2.96 s / 9.43 s before the jobs still
# waiting counted; 4.08 s / 33.6 s at 0.01 s, much as the engine measured).
STEP_SECONDS = 0.01
RESTART_SECONDS = 2.0  # from the kill until the restarted process polls again


def upload_times(regime: Regime) -> list[float]:
    """When each note reaches Intron, with at most 60 uploads in any 61 s, in fair turns."""
    notes = regime.notes
    done: list[float | None] = [None] * len(notes)
    turns: dict[int, float] = {}
    slots: list[float] = []
    now = 0.0
    while any(d is None for d in done):
        ready = [i for i, note in enumerate(notes) if done[i] is None and note.send_at <= now]
        if not ready:
            now = min(notes[i].send_at for i, d in enumerate(done) if d is None)
            continue
        if len(recent := [u for u in slots if u > now - 61]) >= UPLOAD_LIMIT:
            now = min(recent) + 61 + 1e-6  # past it, float rounding aside
            continue
        # The chat that waited longest for a turn; in it, its oldest note.
        i = min(ready, key=lambda i: (turns.get(regime.chat_of(i), -1.0), notes[i].send_at, i))
        at = max(now, notes[i].send_at + 0.05)
        done[i] = at
        slots.append(at)
        turns[regime.chat_of(i)] = at
    return [d for d in done if d is not None]


def replay(regime: Regime) -> list[str]:
    notes = regime.notes
    uploaded = upload_times(regime)
    kill_at = (
        max(uploaded) + regime.kill_after_uploads if regime.kill_after_uploads is not None else None
    )
    pace = Pace()
    asked: dict[int, float] = {}
    turns: dict[int, float] = {}  # chat -> when it last had a poll, as the pacer keeps it
    seen: dict[int, float] = {}
    calls: list[float] = []
    last: float | None = None
    dry = 0.0  # seconds with the window spent while some job waited
    now = 0.0
    while len(seen) < len(notes) and now < max(uploaded) + 600:
        if kill_at is not None and now >= kill_at:
            pace, last, now, kill_at = Pace(), None, kill_at + RESTART_SECONDS, None
            continue
        waiting = [
            WaitingJob(
                i,
                uploaded[i],
                notes[i].audio_seconds,
                asked.get(i),
                chat_id=regime.chat_of(i),
                chat_turn_at=turns.get(regime.chat_of(i), 0.0),
            )
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
            turns[regime.chat_of(i)] = now
            if now >= uploaded[i] + notes[i].intron_seconds:
                seen[i] = now
                since = asked.get(i, uploaded[i])
                pace.observe(notes[i].audio_seconds, (since + now) / 2 - uploaded[i])
            else:
                asked[i] = now
            continue
        upcoming = [u for u in uploaded if u > now]
        later = min(choice.at, now + 1.0) if waiting else min(upcoming, default=now + 1.0)
        if kill_at is not None:
            later = min(later, kill_at)
        step = max(STEP_SECONDS, later - now)
        if waiting and used >= STATUS_LIMIT:
            dry += step
        now += step
    added = {i: seen[i] - uploaded[i] - notes[i].intron_seconds for i in seen}
    most = max((sum(1 for u in calls if t <= u < t + WINDOW_SECONDS) for t in calls), default=0)
    groups: dict[str, list[float]] = {"all": list(added.values())}
    for i, value in added.items():
        if notes[i].group:
            groups.setdefault(notes[i].group, []).append(value)
    return [
        f"| {regime.name} | {name} | {len(values)}/{len(notes) if name == 'all' else '-'} "
        f"| {statistics.median(values):.2f} | {percentile(values, 0.95):.2f} "
        f"| {max(values):.2f} | {len(calls) / len(notes):.1f} | {most} | {dry:.1f} |"
        for name, values in groups.items()
        if values
    ]


def main(argv: list[str]) -> int:
    catalog = regimes(20240601, smoke=False)
    print(
        "| regime | notes | seen | added median (s) | added p95 (s) | added worst (s) "
        "| status calls / job | max / 60 s | window spent while jobs wait (s) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name in argv or list(catalog):
        print("\n".join(replay(catalog[name])), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
