"""Which job at Intron to ask about next, and when: a pure function of plain data.

Intron's time grows with the audio's length, with some spread. `Pace` learns that from the
jobs that finished (kept across restarts by its owner); each decision also counts what the
jobs still waiting say (not done when last asked). `choose_poll` spends one status call
at a time on the waiting job most likely to have finished since it was last asked. While the
window is nearly empty every job is asked often (an idle budget is no reason to wait); as it
fills, each job's turn stretches toward its share of the steady pace, a call goes only to a
job likely enough to be done, and calls are spread over the window rather than spent in a
rush, so that under load every slot of the window is used and none twice.

Its inputs are what the database holds (every job at Intron, whichever process owns it), what
the budget has spent, and the learned pace; its output is one decision. Nothing here does I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from statistics import NormalDist
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
SURPRISE_SHARE = 0.1
SURPRISE_LOG_SPREAD = 1.5
# Once the pace has seen this many jobs, a job further than this many spreads from what was
# expected (a stuck file, a length a client lied about) counts as a fraction of a job, as if
# it had been only that far: outliers cannot drag the pace, while a lasting change in Intron's
# speed still moves it within a few dozen jobs.
OUTLIER_AFTER_JOBS = 5
OUTLIER_SPREADS = 2.5
OUTLIER_WEIGHT = 0.2
OUTLIER_ERROR_SPREADS = 2.0  # and its error widens the spread by at most this much


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
        w = 1.0
        if self.jobs_seen >= OUTLIER_AFTER_JOBS and abs(err) > OUTLIER_SPREADS * self.log_spread:
            w = OUTLIER_WEIGHT
            bound = math.copysign(OUTLIER_SPREADS * self.log_spread, err)
            y = self.expected(x) * math.exp(bound)
            err = math.copysign(OUTLIER_ERROR_SPREADS * self.log_spread, err)
        f = FORGET_PER_JOB**w
        self.weight = f * self.weight + w
        self.sum_x = f * self.sum_x + w * x
        self.sum_y = f * self.sum_y + w * y
        self.sum_xx = f * self.sum_xx + w * x * x
        self.sum_xy = f * self.sum_xy + w * x * y
        if self.jobs_seen:  # the first job only moves the line: it has no error to speak of
            self.sum_log_err2 = f * self.sum_log_err2 + w * err * err
            self.err_weight = f * self.err_weight + w
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
        log_ratio = math.log(age / self.expected(audio_seconds))
        # Mostly the spread seen, plus a wide tail: a job that outlasts every expectation (Intron
        # busy, a stuck file) stays worth asking about, but not at every chance.
        return (1 - SURPRISE_SHARE) * _normal_cdf(log_ratio / self.log_spread) + (
            SURPRISE_SHARE * _normal_cdf(log_ratio / SURPRISE_LOG_SPREAD)
        )

    def likely_done_within(self, audio_seconds: float | None) -> float:
        """Seconds after upload by which nine jobs in ten of this length are done."""
        return self.expected(audio_seconds) * math.exp(1.2816 * self.log_spread)

    def likely_left(self, audio_seconds: float | None, age: float, share: float = 0.9) -> float:
        """Seconds from now by which `share` of the jobs of this length still unfinished at
        `age` are done. It never reaches 0: a job that outlasts its expected time is not a job
        about to finish any moment, only a slower one than thought."""
        expected, spread = self.expected(audio_seconds), self.log_spread
        reached = _normal_cdf(math.log(max(age, 1e-3) / expected) / spread)
        target = min(1.0 - 1e-9, reached + share * (1.0 - reached))
        return expected * math.exp(spread * _STANDARD.inv_cdf(target)) - max(age, 0.0)

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
    chat_id: int = 0
    # When the job's chat last had a poll: between jobs worth a call, the chat that waited
    # longest for its turn goes first, so one chat's batch cannot take every call.
    chat_turn_at: float = 0.0

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
    # Never ask about one job more often: while the window is nearly empty a lone job is asked
    # this often, so its result comes about half this long after Intron is done.
    min_gap: float = 0.25
    # Nor leave one unasked longer than this (or than its turn among many, when more).
    max_unasked: float = 30.0
    # With many jobs waiting a call goes only to a job at least this likely to have finished
    # since last asked; the bar rises as the window fills, so the last calls pay the most.
    least_chance: float = 0.05
    most_chance: float = 0.3
    # Where spending levels off under steady load: the rest is kept for jobs that come next.
    steady_fill: float = 0.8
    # Past this share of the window spent, calls are spaced out, up to the steady pace.
    spread_from: float = 0.5
    recheck: float = 0.25  # with nothing worth a call, look again this soon
    # One call per waiting job is kept back, up to this share of the window, for the moment
    # it is done; only what is above it is spent at speed.
    reserve_share: float = 0.4
    # Above the reserve, calls are spread until this share of the jobs still waiting are
    # likely done; the reserve itself, until this share are.
    horizon_share: float = 0.75
    tail_share: float = 0.9
    crowd: int = 5  # this many other jobs waiting make the bar count in full
    # Between jobs at least this likely done since last asked, the chat that waited longest
    # for a poll goes first: a quiet chat's likely result is never behind another's batch.
    fair_chance: float = 0.7


def choose_poll(
    waiting: Sequence[WaitingJob],
    budget: BudgetState,
    pace: Pace,
    now: float,
    *,
    last_dispatch_at: float | None = None,
    rules: PollRules | None = None,
) -> PollChoice:
    """The next status call: which job, and when."""
    rules = rules or PollRules()
    pace = _with_waiting(pace, waiting)
    due = sum(1 for job in waiting if job.due)
    free = budget.limit - budget.used - due
    candidates = [job for job in waiting if not job.due]
    steady_gap = budget.window / budget.limit  # the pace the budget keeps up for ever
    count = len(waiting)
    unasked_cap = max(rules.max_unasked, 1.5 * count * steady_gap)
    if not candidates:
        return PollChoice(None, now + unasked_cap)
    if free <= 0:
        return PollChoice(None, now + rules.recheck)  # a slot frees as the window slides

    fill = 1.0 - free / budget.limit
    pressure = min(1.0, fill / rules.steady_fill) ** 2
    # Each job's turn: often while the window is empty, its share of the steady pace as it
    # fills (a lone long job settles at `steady_fill` of the budget).
    job_gap = min(unasked_cap, max(rules.min_gap, min(count, rules.crowd) * steady_gap * pressure))
    # Calls spread over the window as it fills, rather than spent in one rush.
    crowding = max(0.0, fill - rules.spread_from) / (1.0 - rules.spread_from)
    crowd = min(1.0, (count - 1) / rules.crowd)

    # With many jobs, what is left of the window must last until they are likely done (or
    # the window slides on): a burst must not spend it all on its first seconds.
    def horizon(share: float) -> float:
        left = max(pace.likely_left(j.audio_seconds, now - j.uploaded_at, share) for j in waiting)
        return min(budget.window, left)

    # One call per waiting job is kept back (up to `reserve_share` of the window) for the
    # moment it is done. What is above it is spread until most jobs are likely done, never
    # slower than the pace the window keeps up for ever; the reserve, until nearly all are.
    # The horizon never closes (a job outlasting its expected time is only slower than
    # thought), so the window is never spent in a rush while jobs wait, however wrong the pace.
    reserve = min(count, rules.reserve_share * budget.limit)
    if free > reserve:
        rate_gap = min(steady_gap, horizon(rules.horizon_share) / (free - reserve))
    else:
        rate_gap = horizon(rules.tail_share) / free
    spacing = max(steady_gap * crowding * crowding, crowd * rate_gap)
    earliest = now if last_dispatch_at is None else max(now, last_dispatch_at + spacing)
    bar = crowd * (rules.least_chance + (rules.most_chance - rules.least_chance) * fill * fill)
    fair_from = max(bar, rules.fair_chance)

    best: WaitingJob | None = None
    best_score = -1.0
    best_turn: tuple[float, float] = (-1.0, 0.0)
    next_ready = now + unasked_cap
    for job in candidates:
        since = job.last_known_unfinished
        # A job not asked about yet waits only the minimum: its first answer is news.
        ready_at = since + (job_gap if job.asked_at is not None else rules.min_gap)
        if ready_at > now:
            next_ready = min(next_ready, ready_at)
            continue
        if now - since >= unasked_cap:
            score = 1.0 + (now - since)  # overdue: before anything else, oldest first
        else:
            score = _chance_finished_since(pace, job, now)
        # Overdue first (by age); then, among jobs likely done, the chat whose turn is oldest,
        # and in it the job most likely done; then the other jobs worth a call, and below the
        # bar, on chance alone. Turns among jobs merely worth a call spent a burst's calls on
        # its long shots, one per chat, while its likely results waited.
        if score > 1.0:
            turn = (score, 0.0)
        elif score >= fair_from:
            turn = (2.0, -job.chat_turn_at)
        else:
            turn = (1.0 if score >= bar else 0.0, 0.0)
        if (turn, score) > (best_turn, best_score):
            best, best_score, best_turn = job, score, turn
    if best is None or best_score < bar:
        return PollChoice(None, min(next_ready, now + rules.recheck))
    return PollChoice(best.job_id, earliest)


def _with_waiting(pace: Pace, waiting: Sequence[WaitingJob]) -> Pace:
    """The pace as it stands once the jobs still at Intron are counted too (one step of
    expectation-maximisation over censored times): each as a job that took what is likely for
    its length given that it had not finished when last asked. A burst's first results are its
    quickest jobs; learned alone, they make every other job look about to finish, and the
    window is spent on calls that come too early. Those jobs' own "not yet" says otherwise."""
    if not waiting:
        return pace
    adjusted = replace(pace)
    spread = pace.log_spread
    for job in waiting:
        x = float(job.audio_seconds or 0.0)
        expected = pace.expected(x)
        lasted = job.last_known_unfinished - job.uploaded_at
        z = math.log(max(lasted, 1e-3) / expected) / spread
        w = 1.0
        if z > OUTLIER_SPREADS:  # a stuck file, a length a client lied about: as in observe
            z, w = OUTLIER_SPREADS, OUTLIER_WEIGHT
        mills = _STANDARD.pdf(z) / (0.5 * math.erfc(z / math.sqrt(2.0)))  # E[Z | Z > z]
        y = expected * math.exp(spread * mills)
        adjusted.weight += w
        adjusted.sum_x += w * x
        adjusted.sum_y += w * y
        adjusted.sum_xx += w * x * x
        adjusted.sum_xy += w * x * y
        if pace.jobs_seen:  # the prior's spread stays its own until a job was seen
            adjusted.sum_log_err2 += w * (1.0 + z * mills) * spread * spread  # E[Z^2 | Z > z]
            adjusted.err_weight += w
    return adjusted


def _chance_finished_since(pace: Pace, job: WaitingJob, now: float) -> float:
    """P(finished by now | not finished when last asked)."""
    before = pace.done_by(job.audio_seconds, job.last_known_unfinished - job.uploaded_at)
    by_now = pace.done_by(job.audio_seconds, now - job.uploaded_at)
    if before >= 1.0:
        return 1.0
    return max(0.0, (by_now - before) / (1.0 - before))


_STANDARD = NormalDist()


def _normal_cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2.0))
