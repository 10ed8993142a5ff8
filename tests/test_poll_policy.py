"""The poll policy: which job at Intron is asked about next, and when (a pure function), and
the pace it learns, kept across restarts."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest

from bot.engine.budget import RateBudget
from bot.engine.poll_pacer import PollPacer
from bot.engine.poll_policy import BudgetState, Pace, PollRules, WaitingJob, choose_poll
from storage.db import close_database, init_database

LIMIT = 100
WINDOW = 60.0
RULES = PollRules()


def learned(jobs: int = 40, seed: int = 1) -> Pace:
    """A pace taught by jobs whose time grows with the audio: 2 s + 0.05 s per audio second."""
    rng = random.Random(seed)
    pace = Pace()
    for _ in range(jobs):
        audio = rng.uniform(10, 600)
        pace.observe(audio, (2 + 0.05 * audio) * rng.uniform(0.9, 1.1))
    return pace


class Intron:
    """Jobs finishing at known times, and the status calls the policy makes on them."""

    def __init__(self, finish_after: dict[int, float], audio: dict[int, float]) -> None:
        self.finish_after = finish_after
        self.audio = audio
        self.asked: dict[int, float | None] = dict.fromkeys(finish_after)
        self.seen_done: dict[int, float] = {}
        self.calls: list[float] = []

    def waiting(self) -> list[WaitingJob]:
        return [
            WaitingJob(job, 0.0, self.audio[job], self.asked[job])
            for job in self.finish_after
            if job not in self.seen_done
        ]

    def run(self, pace: Pace, until: float, step: float = 0.05) -> None:
        """Drive choose_poll as the pacer does, answering each call at once."""
        now, last = 0.0, None
        while now < until and len(self.seen_done) < len(self.finish_after):
            used = sum(1 for t in self.calls if t > now - WINDOW)
            choice = choose_poll(
                self.waiting(), BudgetState(LIMIT, used, WINDOW), pace, now, last_dispatch_at=last
            )
            if choice.job_id is not None and choice.at <= now:
                self.calls.append(now)
                last = now
                if now >= self.finish_after[choice.job_id]:
                    self.seen_done[choice.job_id] = now
                else:
                    self.asked[choice.job_id] = now
                continue
            now = max(now + step, min(choice.at, now + 1.0))

    def most_calls_in_a_window(self) -> int:
        return max(
            (sum(1 for u in self.calls if t <= u < t + WINDOW) for t in self.calls), default=0
        )

    def added(self, job: int) -> float:
        return self.seen_done[job] - self.finish_after[job]


def test_an_idle_budget_asks_a_lone_long_recording_early_and_often() -> None:
    # A 15-minute note that Intron finishes in 4 s, before anything was learned: the prior
    # expects much longer, but with the budget idle there is no reason to wait for it.
    intron = Intron({1: 4.0}, {1: 900.0})
    intron.run(Pace(), until=120)
    assert intron.added(1) <= RULES.min_gap + 0.1
    assert intron.calls[0] <= RULES.min_gap + 0.1  # asked within a second of the upload


def test_a_lone_job_is_not_asked_more_often_than_the_minimum_gap() -> None:
    intron = Intron({1: 30.0}, {1: 30.0})
    intron.run(Pace(), until=60)
    gaps = [b - a for a, b in zip(intron.calls, intron.calls[1:], strict=False)]
    assert min(gaps) >= RULES.min_gap - 1e-9
    assert intron.most_calls_in_a_window() <= WINDOW / RULES.min_gap + 1


def test_a_binding_budget_is_spent_in_full_and_never_exceeded() -> None:
    # 200 long jobs that all outlast the window: far more wanted than 100 calls a minute.
    finish = {job: 150.0 + job for job in range(200)}
    intron = Intron(finish, dict.fromkeys(finish, 60.0))
    intron.run(learned(), until=180)
    assert intron.most_calls_in_a_window() <= LIMIT
    for start in (0.0, 60.0, 120.0):
        spent = sum(1 for t in intron.calls if start <= t < start + WINDOW)
        assert spent >= 95, f"only {spent} calls in [{start}, {start + WINDOW})"


def test_a_binding_budget_goes_to_the_jobs_likely_done() -> None:
    # 40 notes at once, Intron's time growing with their length: the learned pace puts each
    # job's calls around its finish, so results come soon and calls stay under the limit.
    rng = random.Random(7)
    audio = {job: rng.uniform(10, 600) for job in range(40)}
    finish = {job: (2 + 0.05 * a) * rng.uniform(0.9, 1.1) for job, a in audio.items()}
    intron = Intron(finish, audio)
    intron.run(learned(), until=300)
    assert len(intron.seen_done) == 40
    added = sorted(intron.added(job) for job in finish)
    assert added[len(added) // 2] <= 2.0
    assert intron.most_calls_in_a_window() <= LIMIT


def test_no_job_waits_unasked_longer_than_the_rule_allows() -> None:
    # The model is sure these finish in ten minutes: they are asked about anyway, now and then.
    intron = Intron({job: 600.0 for job in range(50)}, dict.fromkeys(range(50), 60.0))
    intron.run(learned(), until=200)
    last_asked = [intron.asked[job] or 0.0 for job in range(50)]
    assert min(last_asked) >= 200 - RULES.max_unasked - WINDOW * 50 / LIMIT


def test_nothing_is_handed_out_while_the_window_is_full() -> None:
    waiting = [WaitingJob(1, 0.0, 30.0, None)]
    choice = choose_poll(waiting, BudgetState(LIMIT, LIMIT, WINDOW), Pace(), 10.0)
    assert choice.job_id is None and choice.at > 10.0
    # A poll already handed out counts as spent.
    waiting = [WaitingJob(1, 0.0, 30.0, None), WaitingJob(2, 0.0, 30.0, None, due=True)]
    choice = choose_poll(waiting, BudgetState(LIMIT, LIMIT - 1, WINDOW), Pace(), 10.0)
    assert choice.job_id is None


def test_the_pace_follows_what_intron_showed() -> None:
    pace = learned()
    assert pace.expected(100) == pytest.approx(7.0, rel=0.1)
    assert pace.expected(500) == pytest.approx(27.0, rel=0.1)
    assert pace.log_spread < 0.2
    # Mostly the spread seen; a tenth allows for a job that outlasts every expectation.
    assert pace.done_by(500, 20) < 0.1 < 0.85 < pace.done_by(500, 35)


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[None]:
    await init_database(database_url)
    yield
    await close_database()


async def test_a_restart_keeps_what_was_learned(database: None) -> None:
    budget = RateBudget({"status": LIMIT})
    before = PollPacer(budget, window=WINDOW)
    await before.load()
    taught = learned()
    rng = random.Random(1)
    for _ in range(40):
        audio = rng.uniform(10, 600)
        await before.learn(audio, (2 + 0.05 * audio) * rng.uniform(0.9, 1.1))
    assert before.pace == taught

    after = PollPacer(budget, window=WINDOW)
    await after.load()
    assert after.pace == taught
    # And so it chooses as the process before it would have: a long note is not asked about
    # while it cannot be done yet, once the budget binds.
    waiting = [WaitingJob(job, 0.0, 500.0, None) for job in range(40)]
    busy = BudgetState(LIMIT, 40, WINDOW)
    assert choose_poll(waiting, busy, after.pace, 20.0).job_id is None
    assert choose_poll(waiting, busy, Pace(), 20.0).job_id is not None  # a fresh start would


def test_between_jobs_worth_a_call_the_chat_waiting_longest_for_its_turn_goes_first() -> None:
    """A call center's batch at Intron beside one clinician's note: the note's chat had no
    poll yet, so among equally likely jobs its note is asked about first."""
    batch = [
        WaitingJob(job, 0.0, 30.0, None, chat_id=1, chat_turn_at=19.0) for job in range(1, 6)
    ]
    note = WaitingJob(99, 0.0, 30.0, None, chat_id=2)
    budget = BudgetState(LIMIT, 10, WINDOW)
    assert choose_poll([*batch, note], budget, learned(), 20.0).job_id == 99
    # The same jobs with no turns recorded: the order of the list decides, as before.
    plain = [WaitingJob(j.job_id, 0.0, 30.0, None) for j in [*batch, note]]
    assert choose_poll(plain, budget, learned(), 20.0).job_id == 1
