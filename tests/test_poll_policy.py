"""The poll policy: which job at Intron is asked about next, and when (a pure function), and
the pace it learns, kept across restarts."""

from __future__ import annotations

import math
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

    def __init__(
        self,
        finish_after: dict[int, float],
        audio: dict[int, float],
        *,
        uploaded_at: float = 0.0,
        calls: list[float] | None = None,
    ) -> None:
        self.finish_after = finish_after  # when each job is done (uploads at `uploaded_at`)
        self.audio = audio
        self.uploaded_at = uploaded_at
        self.asked: dict[int, float | None] = dict.fromkeys(finish_after)
        self.seen_done: dict[int, float] = {}
        self.calls: list[float] = list(calls or [])  # those spent before, say by a process killed
        self.full_while_waiting = 0  # decisions that found the window spent, jobs waiting

    def waiting(self) -> list[WaitingJob]:
        return [
            WaitingJob(job, self.uploaded_at, self.audio[job], self.asked[job])
            for job in self.finish_after
            if job not in self.seen_done
        ]

    def run(
        self,
        pace: Pace,
        until: float,
        step: float = 0.05,
        start: float = 0.0,
        learn: bool = False,
    ) -> None:
        """Drive choose_poll as the pacer does, answering each call at once; `learn`: the
        pace learns each job found done, as the engine's does."""
        now, last = start, None
        while now < until and len(self.seen_done) < len(self.finish_after):
            used = sum(1 for t in self.calls if t > now - WINDOW)
            self.full_while_waiting += used >= LIMIT
            choice = choose_poll(
                self.waiting(), BudgetState(LIMIT, used, WINDOW), pace, now, last_dispatch_at=last
            )
            if choice.job_id is not None and choice.at <= now:
                self.calls.append(now)
                last = now
                if now >= self.finish_after[choice.job_id]:
                    self.seen_done[choice.job_id] = now
                    if learn:
                        since = self.asked[choice.job_id] or self.uploaded_at
                        took = (since + now) / 2 - self.uploaded_at
                        pace.observe(self.audio[choice.job_id], took)
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
    batch = [WaitingJob(job, 0.0, 30.0, None, chat_id=1, chat_turn_at=19.0) for job in range(1, 6)]
    note = WaitingJob(99, 0.0, 30.0, None, chat_id=2)
    budget = BudgetState(LIMIT, 10, WINDOW)
    assert choose_poll([*batch, note], budget, learned(), 20.0).job_id == 99
    # The same jobs with no turns recorded: the order of the list decides, as before.
    plain = [WaitingJob(j.job_id, 0.0, 30.0, None) for j in [*batch, note]]
    assert choose_poll(plain, budget, learned(), 20.0).job_id == 1


def test_a_likely_result_is_not_held_behind_another_chats_long_shot() -> None:
    """Fair turns are between likely results: a job barely worth a call, in the chat waiting
    longest for its turn, does not go before another chat's job that is most likely done."""
    pace = learned()
    likely = WaitingJob(1, 0.0, 30.0, None, chat_id=1, chat_turn_at=19.0)  # 2.5x its time
    long_shot = WaitingJob(2, 0.0, 590.0, 10.0, chat_id=2)  # a 10-minute note, 20 s in
    budget = BudgetState(LIMIT, 10, WINDOW)
    assert choose_poll([long_shot, likely], budget, pace, 20.0).job_id == 1
    # Both likely done: the chat waiting longest for its turn goes first, as before.
    other = WaitingJob(3, 0.0, 30.0, None, chat_id=2)
    assert choose_poll([likely, other], budget, pace, 20.0).job_id == 3


def test_a_restart_with_nothing_learned_paces_itself_and_keeps_budget_for_every_job() -> None:
    """20 notes at Intron, uploaded 1 s before a kill -9, 10 s of processing each; the new
    process starts 2 s later with no pace learned, the killed one's 20 calls still in the
    window. It goes by each job's age and length, and finds every one soon after it is done
    without ever spending the whole window while jobs wait."""
    rng = random.Random(3)
    audio = {job: float(rng.randint(5, 60)) for job in range(20)}
    before_kill = [-1.0 + 0.05 * i for i in range(20)]
    intron = Intron(dict.fromkeys(audio, 9.0), audio, uploaded_at=-1.0, calls=before_kill)
    intron.run(Pace(), until=120, start=2.0, learn=True)
    assert len(intron.seen_done) == 20
    # The target: each result within 5 s of Intron finishing. (4 s held before at
    # this simulated step only: at 0.02 s the policy without the waiting jobs' news gave 5.4 s.)
    assert max(intron.added(job) for job in audio) <= 5.0
    assert intron.full_while_waiting == 0
    assert intron.most_calls_in_a_window() <= 0.8 * LIMIT
    # Not every job every quarter second: far fewer calls than that, over the 8 s it took.
    assert len(intron.calls) - len(before_kill) <= 20 * 8


def test_a_window_spent_in_a_burst_is_never_dry_while_jobs_wait() -> None:
    """40 notes at once whose time at Intron is only loosely tied to their length: with the
    pace wrong for many of them, the window still lasts until the last result, and no result
    waits long for a call (before the reserve, this trace left jobs 54 s behind Intron)."""
    rng = random.Random(11)
    audio = {job: float(rng.randint(30, 1800)) for job in range(40)}
    finish = {
        job: min(30.0, max(2.0, (2 + 28 * a / 1800) * math.exp(rng.gauss(0, 0.5))))
        for job, a in audio.items()
    }
    intron = Intron(finish, audio)
    intron.run(Pace(), until=300, learn=True)
    assert len(intron.seen_done) == 40
    assert intron.full_while_waiting == 0
    added = sorted(intron.added(job) for job in finish)
    assert added[len(added) // 2] <= 8.0
    assert percentile(added, 0.95) <= 15.0
    assert max(added) <= 20.0


def test_jobs_still_waiting_after_a_bursts_quickest_results_are_not_taken_for_nearly_done() -> None:
    """A burst's first three results are its quickest (2 s, for long recordings too): learned
    alone they say every 30-minute note takes 2 s. 37 jobs that each said "not yet" at 4 s
    say otherwise, so the calls left are spread out rather than spent at once."""
    pace = Pace()
    for audio, took in ((359, 2.0), (262, 2.2), (451, 2.1)):
        pace.observe(audio, took)
    stored = pace.to_json()
    rng = random.Random(5)
    audio = [float(rng.randint(30, 1800)) for _ in range(37)]
    budget = BudgetState(LIMIT, 40, WINDOW)

    def next_call_after(asked_at: float | None) -> float:
        waiting = [WaitingJob(job, 0.0, a, asked_at) for job, a in enumerate(audio)]
        choice = choose_poll(waiting, budget, pace, 5.0, last_dispatch_at=5.0)
        assert choice.job_id is not None
        return choice.at - 5.0

    assert next_call_after(4.0) >= 0.3  # the pace alone: 0.1 s
    assert next_call_after(None) <= 0.15  # not asked yet: no news, the pace's own spacing
    assert pace.to_json() == stored  # what was learned is not changed by a decision


def test_a_noisy_burst_keeps_its_tail_whatever_the_step_of_time() -> None:
    """40 notes whose time is loosely tied to their length, the policy asked as often as a
    busy loop asks it: before the jobs still waiting counted, finer steps of time let the
    burst's first seconds spend the calls its longest jobs needed (worst 40 s behind Intron
    at 0.01 s steps, 15 s at 0.05 s)."""
    for step in (0.05, 0.02, 0.01):
        rng = random.Random(3)
        audio = {job: float(rng.randint(30, 1800)) for job in range(40)}
        finish = {
            job: min(30.0, max(2.0, (2 + 28 * a / 1800) * math.exp(rng.gauss(0, 0.5))))
            for job, a in audio.items()
        }
        intron = Intron(finish, audio)
        intron.run(Pace(), until=300, step=step, learn=True)
        assert len(intron.seen_done) == 40
        assert intron.full_while_waiting == 0
        added = [intron.added(job) for job in finish]
        assert percentile(added, 0.95) <= 16.0, step
        assert max(added) <= 22.0, step


def test_durations_a_client_lied_about_do_not_drag_the_pace() -> None:
    """20 notes that claim 1 s of audio and take Intron 3000 s, seen by a pace that knew
    Intron: the expected time of a 30 s note moves by a little, not by minutes."""
    pace = learned()
    before = pace.expected(30)
    for _ in range(20):
        pace.observe(1.0, 3000.0)
    assert pace.expected(30) <= 1.5 * before
    assert pace.log_spread < 0.3
    # A lasting change in Intron's speed still moves it.
    slower = learned()
    for _ in range(60):
        slower.observe(30.0, 30.0)
    assert slower.expected(30) >= 1.5 * before


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]
