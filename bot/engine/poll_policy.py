"""Which job at Intron to ask about next, and when: a pure function of plain data.

Intron's time grows with the audio's length, with some spread. `Pace` learns that from the
jobs that finished (kept across restarts by its owner). `choose_poll` spends one status call
at a time on the waiting job most likely to have finished since it was last asked. While the
budget could ask every job every `min_gap` seconds it does exactly that (an idle budget is no
reason to wait); when it binds, a call goes only to a job worth it, calls are spread over the
window rather than spent in a rush, and every slot of the window is used.

Its inputs are what the database holds (every job at Intron, whichever process owns it), what
the budget has spent, and the learned pace; its output is one decision. Nothing here does I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Learned from each job at Intron, with older jobs fading: Intron's speed changes with load.
FORGET_PER_JOB = 0.97
# Before anything is learned: about 2 s plus a tenth of the audio's length, with a wide spread
# (the prior counts as this many jobs, so the first few real ones outweigh it).
PRIOR_WEIGHT = 1.0
PRIOR_BASE_SECONDS = 2.0
PRIOR_SECONDS_PER_AUDIO_SECOND = 0.1
PRIOR_LOG_SPREAD = 1.0
MIN_LOG_SPREAD = 0.15
MIN_SECONDS = 0.3


@dataclass
class Pace:
    """Intron's time for a job as a function of the audio's length: a line through what was
    seen (weighted least squares, older jobs fading), and the spread around it on a log scale.

    Kept as running weighted sums, so it is a handful of numbers to store.
    """

    weight: float = PRIOR_WEIGHT
    sum_x: float = 0.0
    sum_y: float = PRIOR_WEIGHT * PRIOR_BASE_SECONDS
    sum_xx: float = 0.0
    sum_xy: float = 0.0
    sum_log_err2: float = PRIOR_WEIGHT * PRIOR_LOG_SPREAD**2
    err_weight: float = PRIOR_WEIGHT
    jobs_seen: int = 0

    def observe(self, audio_seconds: float | None, intron_seconds: float) -> None:
        """One job's time at Intron (as well as a poll can tell it)."""
        x = float(audio_seconds or 0.0)
        y = max(MIN_SECONDS, intron_seconds)
        err = math.log(y / self.expected(x)) if self.jobs_seen else 0.0
        f = FORGET_PER_JOB
        self.weight = f * self.weight + 1.0
        self.sum_x = f * self.sum_x + x
        self.sum_y = f * self.sum_y + y
        self.sum_xx = f * self.sum_xx + x * x
        self.sum_xy = f * self.sum_xy + x * y
        if self.jobs_seen:  # the first job only moves the line: it has no error to speak of
            self.sum_log_err2 = f * self.sum_log_err2 + err * err
            self.err_weight = f * self.err_weight + 1.0
        self.jobs_seen += 1

    def expected(self, audio_seconds: float | None) -> float:
        """Intron's typical time for audio of this length."""
        x = float(audio_seconds or 0.0)
        w = self.weight
        mean_x, mean_y = self.sum_x / w, self.sum_y / w
        var_x = self.sum_xx / w - mean_x * mean_x
        if self.jobs_seen == 0:
            slope = PRIOR_SECONDS_PER_AUDIO_SECOND
        elif var_x > 1.0:
            slope = max(0.0, (self.sum_xy / w - mean_x * mean_y) / var_x)
        else:  # every job seen had about one length: nothing says how time grows with it
            slope = 0.0
        return max(MIN_SECONDS, mean_y + slope * (x - mean_x))

    @property
    def log_spread(self) -> float:
        """Standard deviation of log(actual / expected)."""
        return max(MIN_LOG_SPREAD, math.sqrt(self.sum_log_err2 / self.err_weight))

    def done_by(self, audio_seconds: float | None, age: float) -> float:
        """Probability that a job of this length is finished `age` seconds after upload."""
        if age <= 0:
            return 0.0
        z = math.log(age / self.expected(audio_seconds)) / self.log_spread
        return 0.5 * math.erfc(-z / math.sqrt(2.0))

    def to_json(self) -> dict[str, Any]:
        return {
            "weight": self.weight,
            "sum_x": self.sum_x,
            "sum_y": self.sum_y,
            "sum_xx": self.sum_xx,
            "sum_xy": self.sum_xy,
            "sum_log_err2": self.sum_log_err2,
            "err_weight": self.err_weight,
            "jobs_seen": self.jobs_seen,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Pace:
        if not data:
            return cls()
        try:
            return cls(**{k: data[k] for k in cls().to_json()})
        except (KeyError, TypeError):
            return cls()  # written by another version: start again rather than guess


@dataclass(frozen=True)
class WaitingJob:
    """A job at Intron, as stored: when it was uploaded and last asked about (POSIX seconds)."""

    job_id: int
    uploaded_at: float
    audio_seconds: float | None
    asked_at: float | None  # the last status call; None before the first
    due: bool = False  # already handed a poll that has not been answered yet

    @property
    def last_known_unfinished(self) -> float:
        return self.asked_at if self.asked_at is not None else self.uploaded_at


@dataclass(frozen=True)
class BudgetState:
    limit: int  # status calls per window
    used: int  # spent in the current window
    window: float = 60.0


@dataclass(frozen=True)
class PollChoice:
    """Poll `job_id` at `at` (now or later); `job_id` None: nothing to do before `at`."""

    job_id: int | None
    at: float


@dataclass(frozen=True)
class PollRules:
    min_gap: float = 1.0  # never ask about one job more often: results come about this soon
    max_unasked: float = 30.0  # nor leave one unasked longer, whatever the model says
    # When the budget binds, a call goes to a job at least this likely to have finished since
    # last asked; the bar rises as the window fills, so the last calls go where they pay most.
    least_chance: float = 0.02
    most_chance: float = 0.35
    recheck: float = 0.25  # with nothing worth a call, look again this soon
    sustainable_share: float = 0.6  # below this share of the budget, everyone at `min_gap`


def choose_poll(
    waiting: Sequence[WaitingJob],
    budget: BudgetState,
    pace: Pace,
    now: float,
    *,
    last_dispatch_at: float | None = None,
    rules: PollRules = PollRules(),
) -> PollChoice:
    """The next status call: which job, and when."""
    idle_at = now + rules.max_unasked
    due = sum(1 for job in waiting if job.due)
    free = budget.limit - budget.used - due
    candidates = [job for job in waiting if not job.due]
    if not candidates:
        return PollChoice(None, idle_at)
    if free <= 0:
        return PollChoice(None, now + rules.recheck)  # a slot frees as the window slides

    # Can every job be asked every min_gap within a modest share of the budget? Then do so.
    sustainable = len(waiting) * budget.window / rules.min_gap <= (
        rules.sustainable_share * budget.limit
    )
    fill = 1.0 - free / budget.limit
    # Spread calls as the window fills: none closer than this share of the steady pace.
    steady_gap = budget.window / budget.limit
    spacing = 0.0 if sustainable else steady_gap * fill * fill
    earliest = now if last_dispatch_at is None else max(now, last_dispatch_at + spacing)
    bar = (
        0.0
        if sustainable
        else rules.least_chance + (rules.most_chance - rules.least_chance) * fill * fill
    )

    best: WaitingJob | None = None
    best_score = -1.0
    next_ready = idle_at
    for job in candidates:
        since = job.last_known_unfinished
        ready_at = since + rules.min_gap
        if ready_at > now:
            next_ready = min(next_ready, ready_at)
            continue
        if now - since >= rules.max_unasked:
            score = 1.0 + (now - since)  # overdue: before anything else, oldest first
        else:
            score = _chance_finished_since(pace, job, now)
        if score > best_score:
            best, best_score = job, score
    if best is None or best_score < bar:
        return PollChoice(None, min(next_ready, now + rules.recheck))
    return PollChoice(best.job_id, earliest)


def _chance_finished_since(pace: Pace, job: WaitingJob, now: float) -> float:
    """P(finished by now | not finished when last asked)."""
    before = pace.done_by(job.audio_seconds, job.last_known_unfinished - job.uploaded_at)
    by_now = pace.done_by(job.audio_seconds, now - job.uploaded_at)
    if before >= 1.0:
        return 1.0
    return max(0.0, (by_now - before) / (1.0 - before))
