"""The one owner of the `jobs` table: every write of a job row, and the reads that decide
what runs, through named transitions.

Each transition is one query with its guard here, so what a job may go through is read in one
place. Transitions on a job a stage holds set the fields on that `Job` object and write only
those columns (a handler may write the status message's id meanwhile), and only while /forget
has not erased the job: a stage whose job was erased gets `JobForgotten` and stops.

Claiming has two variants side by side: SQLite (one process) claims each due job with a
conditional update; PostgreSQL claims a batch in one statement with `FOR UPDATE SKIP LOCKED`, so
instances sharing the database split the work without waiting on each other's rows.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.functions import Count, Sum
from tortoise.queryset import QuerySet

from storage import key_store
from storage.db import erase_for_good, truncate_wal
from storage.encrypted import KeyRing
from storage.models import ACTIVE_STATES, FINAL_STATES, RUNNABLE_STATES, Job, JobState

log = logging.getLogger(__name__)

# Erasing a job: its text, and what could name the patient or fetch the audio again (the file
# name, Telegram's file id, Intron's file id, a link's URL, and the audio's unique id, which
# would let a later copy be answered from it), and a failure's text (it may quote Intron's
# message about the file). Date, duration and state stay, for /usage.
ERASED: dict[str, Any] = {
    "result": None,
    "reply": None,
    "failure": None,
    "file_name": "",
    "telegram_file_id": "",
    "intron_file_id": None,
    "source_url": None,
    "file_unique_id": None,
    "speakers": None,
    "names_prompt_id": None,
}


class JobForgotten(Exception):
    """/forget erased the job while a stage was running: the stage stops, saving nothing."""


@dataclass(frozen=True)
class AtIntron:
    """A job waiting for Intron, as the poll policy sees it."""

    job_id: int
    chat_id: int
    uploaded_at: float | None
    duration: int | None
    polled_at: float | None
    next_run_at: float
    lease_owner: str | None
    lease_until: float | None


@dataclass(frozen=True)
class Usage:
    jobs: int  # recordings transcribed (audio minutes used)
    seconds: float
    chats: int = 1
    reused: int = 0  # recordings answered from an earlier result: no audio minutes used

    @property
    def minutes(self) -> float:
        return self.seconds / 60


@dataclass(frozen=True)
class Erasure:
    erased: int  # jobs whose stored text was erased
    cancelled: int  # of them, jobs that were still in progress
    status_messages: list[tuple[int, int]]  # (chat, message) of their progress messages


def _unleased(now: float) -> Q:
    return Q(lease_until__isnull=True) | Q(lease_until__lt=now)


# -- arrival ------------------------------------------------------------------------------


async def find(chat_id: int, message_id: int, link_index: int) -> Job | None:
    return await Job.get_or_none(chat_id=chat_id, message_id=message_id, link_index=link_index)


async def create(*, held: bool = False, **fields: Any) -> Job | None:
    """A new job; None if that (chat, message, link) has one already. `held`: the hold, for a
    chat that has not agreed to the consent text; the job waits, unclaimed, until
    `release_held`."""
    try:
        return await Job.create(**fields, **_held(held))
    except IntegrityError:
        return None


def _held(held: bool) -> dict[str, Any]:
    return {"state": JobState.HELD} if held else {}


# A derived job's link_index is taken as the next free one below 0; two presses for other
# outputs of one recording at the same moment may pick the same, and the loser takes the next.
DERIVED_ATTEMPTS = 5


async def find_derived(derivation_key: str) -> Job | None:
    return await Job.get_or_none(derivation_key=derivation_key)


async def create_derived(
    *, derivation_key: str, chat_id: int, message_id: int, held: bool = False, **fields: Any
) -> Job | None:
    """A job asked for from a result's buttons, on the recording's next link_index below 0;
    None if that request has its job already (the same press handled twice, or at once).
    `held` as for `create`."""
    for _ in range(DERIVED_ATTEMPTS):
        lowest = (
            await Job.filter(chat_id=chat_id, message_id=message_id)
            .order_by("link_index")
            .limit(1)
            .values_list("link_index", flat=True)
        )
        index = min(0, *lowest) - 1
        try:
            return await Job.create(
                chat_id=chat_id,
                message_id=message_id,
                link_index=index,
                derivation_key=derivation_key,
                **fields,
                **_held(held),
            )
        except IntegrityError:
            if await Job.exists(derivation_key=derivation_key):
                return None
    raise RuntimeError(f"no free link_index below 0 for a derived job of chat message {message_id}")


async def retire_derivation(job: Job) -> None:
    """A request whose job failed may be made again: the failed job keeps a key of its own."""
    if job.derivation_key is not None:
        await Job.filter(
            id=job.id, state=JobState.FAILED, derivation_key=job.derivation_key
        ).update(derivation_key=f"{job.derivation_key}~{job.id}")


async def release(job_id: int, status_message_id: int | None, now: float) -> bool:
    """The chat was told the audio arrived: the job may start now. False once it finished."""
    updated = (
        await Job.filter(id=job_id)
        .exclude(state__in=FINAL_STATES)
        .update(status_message_id=status_message_id, next_run_at=now)
    )
    return updated > 0


async def release_held(chats: Sequence[int], now: float) -> int:
    """The release: these chats agreed to the consent text, so their held jobs start now, as
    if just received. Each held job moves once, however often this runs (a press handled
    twice, or again after a crash); returns how many moved."""
    return await Job.filter(chat_id__in=list(chats), state=JobState.HELD).update(
        state=JobState.RECEIVED, next_run_at=now, released_at=now
    )


async def count_held() -> int:
    return await Job.filter(state=JobState.HELD).count()


async def held_chats() -> list[int]:
    """The chats with jobs waiting for their consent."""
    chats = await Job.filter(state=JobState.HELD).distinct().values_list("chat_id", flat=True)
    return [int(c) for c in chats]


async def has_held(chats: Sequence[int], *, besides: Collection[int]) -> bool:
    """Whether these chats hold a job waiting for consent other than the jobs `besides`."""
    held = Job.filter(chat_id__in=list(chats), state=JobState.HELD)
    return await held.exclude(id__in=list(besides)).exists()


async def status_message_of(job_id: int) -> int | None:
    ids = await Job.filter(id=job_id).values_list("status_message_id", flat=True)
    return int(ids[0]) if ids and ids[0] is not None else None


# -- claiming and leases ------------------------------------------------------------------


async def get(job_id: int) -> Job:
    return await Job.get(id=job_id)


@dataclass(frozen=True)
class Claimed:
    transfers: list[int]  # jobs whose audio is still to reach Intron
    others: list[int]


TRANSFER_STATES = (JobState.RECEIVED, JobState.DOWNLOADING, JobState.UPLOADING)
_AFTER_TRANSFER = tuple(state for state in RUNNABLE_STATES if state not in TRANSFER_STATES)


async def claim_due(
    owner: str,
    now: float,
    *,
    lease_until: float,
    running: Collection[int],
    limit: int,
    transfer_room: int,
    postgres: bool,
) -> Claimed:
    """Lease due jobs not running here: up to `transfer_room` that still need their audio sent
    to Intron, in fair turns between chats (`_FAIR_TURNS`), and up to `limit` others (polls
    due as a safety net, replies), oldest due first."""
    transfers: list[int] = []
    if transfer_room > 0:
        transfers = await _claim_in_turns(owner, now, lease_until, running, transfer_room, postgres)
    if postgres:
        others = await _claim_batch(owner, now, lease_until, [*running, *transfers], limit)
        return Claimed(transfers, others)
    due = (
        await Job.filter(state__in=_AFTER_TRANSFER, next_run_at__lte=now)
        .filter(_unleased(now))
        .exclude(id__in=[*running, *transfers])
        .order_by("next_run_at")
        .limit(limit)
        .values_list("id", flat=True)
    )
    others = [job_id for job_id in due if await claim(job_id, owner, now, lease_until)]
    return Claimed(transfers, others)


# The due jobs that still need a transfer, in the order they get one: each chat's jobs in turn
# (its oldest first), a chat with jobs in transfer already counted as that far into its turns,
# and between chats at the same turn the one waiting longest first. One chat's batch of a
# hundred then takes one slot in each round, not the next hundred. The database is the queue,
# so the turns hold across instances.
_FAIR_TURNS = """
SELECT id FROM (
    SELECT due.id, due.next_run_at,
        ROW_NUMBER() OVER (PARTITION BY due.chat_id ORDER BY due.next_run_at, due.id) AS turn,
        MIN(due.next_run_at) OVER (PARTITION BY due.chat_id) AS waiting_since,
        (SELECT COUNT(*) FROM jobs busy
            WHERE busy.chat_id = due.chat_id AND busy.state IN ({states})
            AND busy.lease_until >= {now}) AS in_transfer
    FROM jobs due
    WHERE due.state IN ({states}) AND due.next_run_at <= {now}
        AND (due.lease_until IS NULL OR due.lease_until < {now}) AND {not_running}
) ranked
ORDER BY turn + in_transfer, waiting_since, next_run_at, id
LIMIT {limit}
"""


async def _claim_in_turns(
    owner: str,
    now: float,
    lease_until: float,
    running: Collection[int],
    room: int,
    postgres: bool,
) -> list[int]:
    connection = connections.get("default")
    states = ", ".join(f"'{state.value}'" for state in TRANSFER_STATES)  # constants, not input
    if postgres:
        ranked = _FAIR_TURNS.format(
            states=states, now="$3", not_running="NOT (due.id = ANY($4::int[]))", limit="$5"
        )
        # Rows another instance is claiming at this moment are skipped, not waited for.
        rows = await connection.execute_query_dict(
            "UPDATE jobs SET lease_owner = $1, lease_until = $2 WHERE id IN ("
            f" SELECT j.id FROM jobs j JOIN ({ranked}) r ON r.id = j.id"
            " FOR UPDATE OF j SKIP LOCKED) RETURNING id",
            [owner, lease_until, now, list(running), room],
        )
        return [int(row["id"]) for row in rows]
    # One process (SQLite, or a PostgreSQL test without batches): read the order, then claim
    # each with a conditional update; candidates beyond the room, as one may go meanwhile.
    if connection.capabilities.dialect == "postgres":
        query = _FAIR_TURNS.format(
            states=states, now="$1", not_running="NOT (due.id = ANY($2::int[]))", limit="$3"
        )
        values: list[Any] = [now, list(running), room * 2]
    else:
        ids = list(running)
        not_running = f"due.id NOT IN ({', '.join('?' * len(ids))})" if ids else "1 = 1"
        query = _FAIR_TURNS.format(states=states, now="?", not_running=not_running, limit="?")
        values = [now, now, now, *ids, room * 2]
    rows = await connection.execute_query_dict(query, values)
    claimed: list[int] = []
    for row in rows:
        if len(claimed) == room:
            break
        if await claim(int(row["id"]), owner, now, lease_until):
            claimed.append(int(row["id"]))
    return claimed


async def _claim_batch(
    owner: str, now: float, lease_until: float, running: Collection[int], limit: int
) -> list[int]:
    """PostgreSQL: rows another instance is claiming at this moment are skipped, not waited
    for; it gets them."""
    states = [state.value for state in _AFTER_TRANSFER]
    # execute_query_dict: Tortoise's execute_query drops an UPDATE's RETURNING rows.
    rows = await connections.get("default").execute_query_dict(
        "UPDATE jobs SET lease_owner = $1, lease_until = $2 WHERE id IN ("
        " SELECT id FROM jobs"
        " WHERE state = ANY($3::text[]) AND next_run_at <= $4"
        " AND (lease_until IS NULL OR lease_until < $4) AND NOT (id = ANY($5::int[]))"
        " ORDER BY next_run_at LIMIT $6 FOR UPDATE SKIP LOCKED"
        ") RETURNING id",
        [owner, lease_until, states, now, list(running), limit],
    )
    return [int(row["id"]) for row in rows]


async def claim(job_id: int, owner: str, now: float, lease_until: float) -> bool:
    """Lease one job, if it may run (unfinished, not held for consent) and nobody holds it."""
    won = (
        await Job.filter(id=job_id, state__in=RUNNABLE_STATES)
        .filter(_unleased(now))
        .update(lease_owner=owner, lease_until=lease_until)
    )
    return won == 1


async def next_due_at(
    now: float, *, running: Collection[int], transfers: bool = True
) -> float | None:
    """When the next job not running here falls due (None: none waits); without `transfers`,
    jobs waiting for a transfer slot are left out (a slot freeing wakes the scheduler)."""
    upcoming = (
        await Job.filter(state__in=RUNNABLE_STATES if transfers else _AFTER_TRANSFER)
        .filter(_unleased(now))
        .exclude(id__in=list(running))
        .order_by("next_run_at")
        .limit(1)
        .values_list("next_run_at", flat=True)
    )
    return float(upcoming[0]) if upcoming else None


async def renew(owner: str, job_ids: Sequence[int], lease_until: float) -> set[int]:
    """Extend the leases `owner` still holds among `job_ids`; returns those it holds."""
    await Job.filter(id__in=list(job_ids), lease_owner=owner).update(lease_until=lease_until)
    return set(
        await Job.filter(id__in=list(job_ids), lease_owner=owner).values_list("id", flat=True)
    )


async def release_lease(job_id: int, owner: str) -> None:
    await Job.filter(id=job_id, lease_owner=owner).update(lease_owner=None, lease_until=None)


async def release_leases_of(owner: str) -> int:
    """Every lease `owner` holds: at start-up a dead predecessor's, at a stop its own."""
    return await Job.filter(lease_owner=owner).update(lease_owner=None, lease_until=None)


async def is_active(job_id: int) -> bool:
    return await Job.filter(id=job_id, state__in=ACTIVE_STATES).exists()


async def count_active() -> int:
    """Unfinished jobs the scheduler will run (held ones wait for their chat's consent)."""
    return await Job.filter(state__in=RUNNABLE_STATES).count()


async def count_at_intron() -> int:
    return await Job.filter(state=JobState.AT_INTRON).count()


# -- polling ------------------------------------------------------------------------------


async def at_intron_jobs() -> list[AtIntron]:
    rows = await Job.filter(state=JobState.AT_INTRON).values_list(
        "id",
        "chat_id",
        "uploaded_at",
        "duration",
        "polled_at",
        "next_run_at",
        "lease_owner",
        "lease_until",
    )
    return [AtIntron(*row) for row in rows]


async def claim_for_poll(job_id: int, owner: str, now: float, lease_until: float) -> bool:
    """Lease a job at Intron the poll pacer chose. False when it left Intron meanwhile, or an
    instance holds it."""
    won = (
        await Job.filter(id=job_id, state=JobState.AT_INTRON)
        .filter(_unleased(now))
        .update(lease_owner=owner, lease_until=lease_until)
    )
    return won == 1


# -- a stage's transitions ----------------------------------------------------------------


async def _write(job: Job, **values: Any) -> None:
    """Set `values` on the stage's job and write exactly those columns, unless /forget erased
    the job."""
    for name, value in values.items():
        setattr(job, name, value)
    job.updated_at = datetime.now(UTC)
    values["updated_at"] = job.updated_at
    if not await Job.filter(id=job.id, purged_at__isnull=True).update(**values):
        raise JobForgotten(job.id)


async def still_stored(job: Job) -> None:
    """Raises JobForgotten if /forget erased the job since the stage read it."""
    await _write(job)


async def moved_to(job: Job, state: JobState) -> None:
    if job.state != state:
        await _write(job, state=state)
        log.info("job %s: %s", job.id, state.value)


async def transcribe_afresh(job: Job) -> None:
    """The earlier result this copy was to be answered from is gone: transcribe it."""
    await _write(job, reused_from=None)


async def at_intron(job: Job, *, file_id: str, uploaded_at: float, rest_until: float) -> None:
    await _write(
        job,
        intron_file_id=file_id,
        uploaded_at=uploaded_at,
        state=JobState.AT_INTRON,
        attempts=0,
        polled_at=None,
        next_run_at=rest_until,
    )


async def polled(job: Job, *, asked_at: float, rest_until: float) -> None:
    """Intron said "not yet"."""
    await _write(job, attempts=0, polled_at=asked_at, next_run_at=rest_until)


async def ready_to_reply(job: Job, *, reply: Any, now: float, **outcome: Any) -> None:
    """The outcome (result or failure) is known and its answer stored as it will be sent, so a
    resumed reply sends exactly the rest."""
    await _write(
        job,
        **outcome,
        reply=reply,
        reply_since=job.reply_since or now,
        parts_sent=0,
        part_in_flight=None,
        state=JobState.REPLYING,
        attempts=0,
        next_run_at=now,
    )


async def store_reply(job: Job, reply: Any) -> None:
    """A job that became ready before answers were stored gets its answer now."""
    await _write(job, reply=reply)


async def part_leaving(job: Job, index: int) -> None:
    """Part `index` is on its way to Telegram: after a crash it may be in the chat."""
    await _write(job, part_in_flight=index)


async def part_not_sent(job: Job) -> None:
    await _write(job, part_in_flight=None)


async def part_sent(job: Job, index: int) -> None:
    await _write(job, parts_sent=index + 1, part_in_flight=None, attempts=0)


async def resumed_part(job: Job, *, taken: bool) -> None:
    """The process died while a part was on its way: count it sent (`taken`) or send again.
    Counted sent, the chat has been told it may be missing, in the status message, which the
    finished job then keeps (it forgets its id)."""
    if taken:
        await _write(
            job, parts_sent=job.parts_sent + 1, part_in_flight=None, status_message_id=None
        )
    else:
        await _write(job, part_in_flight=None)


async def retry_at(job: Job, when: float, *, attempts: int) -> None:
    await _write(job, attempts=attempts, next_run_at=when, part_in_flight=job.part_in_flight)


async def finish(job: Job, state: JobState) -> None:
    await _write(
        job,
        state=state,
        finished_at=datetime.now(UTC),
        lease_owner=None,
        lease_until=None,
        part_in_flight=None,
    )


# -- a chat's jobs ------------------------------------------------------------------------


async def recent_of(chats: Sequence[int], limit: int) -> list[Job]:
    return await Job.filter(chat_id__in=list(chats)).order_by("-id").limit(limit)


async def of_chats(chats: Sequence[int], job_id: int) -> Job | None:
    return await Job.get_or_none(id=job_id, chat_id__in=list(chats))


async def resend(
    job_id: int, *, reply: Any, language: str, now: float, cooldown: float, asked_at: float
) -> bool:
    """Send a finished job's stored result again: the job replies once more, from its first
    part, through the scheduler like any reply. False while it is being sent, when it holds no
    result any more, or when it was asked for less than `cooldown` seconds ago. `asked_at` is
    what the next ask's cooldown counts from."""
    asked = (
        await Job.filter(
            id=job_id, state__in=FINAL_STATES, purged_at__isnull=True, result__isnull=False
        )
        .filter(Q(resend_asked_at__isnull=True) | Q(resend_asked_at__lt=now - cooldown))
        .update(
            state=JobState.REPLYING,
            reply=reply,
            language=language,
            failure=None,
            parts_sent=0,
            part_in_flight=None,
            attempts=0,
            reply_since=now,
            next_run_at=now,
            resend_asked_at=asked_at,
            lease_owner=None,
            lease_until=None,
        )
    )
    return asked > 0


async def named_speakers(job_id: int, speakers: dict[str, Any]) -> bool:
    """Who a finished result's speakers are (a role pair, or typed names). False when the
    result was erased meanwhile."""
    named = await Job.filter(id=job_id, purged_at__isnull=True, result__isnull=False).update(
        speakers=speakers
    )
    return named > 0


async def awaiting_names(job_id: int, prompt_message_id: int) -> None:
    """The chat was asked to type the names of this result's speakers in a reply to this
    message."""
    await Job.filter(id=job_id, purged_at__isnull=True).update(names_prompt_id=prompt_message_id)


async def asked_for_names(chats: Sequence[int], prompt_message_id: int) -> Job | None:
    """The result whose speakers' names a reply to this message gives, if any."""
    return await Job.get_or_none(
        chat_id__in=list(chats), names_prompt_id=prompt_message_id, purged_at__isnull=True
    )


async def usage(chats: Sequence[int] | None) -> Usage:
    """Audio minutes of these chats' jobs (all chats when None)."""
    jobs: QuerySet[Job] = Job.all() if chats is None else Job.filter(chat_id__in=list(chats))
    reused = await jobs.filter(reused_from__isnull=False, state=JobState.DELIVERED).count()
    rows = (
        await jobs.filter(processed_seconds__isnull=False, reused_from__isnull=True)
        .annotate(
            jobs=Count("id"),
            seconds=Sum("processed_seconds"),
            chats=Count("chat_id", distinct=True),
        )
        .values("jobs", "seconds", "chats")
    )
    row = rows[0] if rows else {}
    return Usage(
        jobs=int(row.get("jobs") or 0),
        seconds=float(row.get("seconds") or 0.0),
        chats=int(row.get("chats") or 0),
        reused=reused,
    )


async def audio_seconds_since(chats: Sequence[int], since: datetime) -> float:
    """Audio these chats sent to Intron since `since`: Intron's processed seconds where known,
    the reported length of jobs still in flight, nothing for copies answered from a result or
    jobs that ended before Intron had them."""
    rows = await Job.filter(
        chat_id__in=list(chats), created_at__gte=since, reused_from__isnull=True
    ).values_list("processed_seconds", "duration", "state")
    return sum(
        processed if processed is not None else float(duration or 0)
        for processed, duration, state in rows
        if processed is not None or state in ACTIVE_STATES
    )


async def busiest_chats_since(since: datetime, limit: int) -> list[tuple[int, float]]:
    """The chats that sent the most audio since `since`: (chat, seconds), most first."""
    rows = await Job.filter(created_at__gte=since, reused_from__isnull=True).values_list(
        "chat_id", "processed_seconds", "duration", "state"
    )
    seconds: dict[int, float] = {}
    for chat_id, processed, duration, state in rows:
        if processed is not None or state in ACTIVE_STATES:
            used = processed if processed is not None else float(duration or 0)
            seconds[int(chat_id)] = seconds.get(int(chat_id), 0.0) + used
    return sorted(seconds.items(), key=lambda item: -item[1])[:limit]


async def forget_chats(chats: Sequence[int]) -> Erasure:
    """Erase these chats' texts, file names and ids; stop their jobs in progress (a stage
    already running notices at its next write, before it sends anything)."""
    now = datetime.now(UTC)
    await erase_for_good()
    jobs = Job.filter(chat_id__in=list(chats))
    running = await jobs.filter(state__in=ACTIVE_STATES).values_list("chat_id", "status_message_id")
    # One update per row, so a stage saving meanwhile either lands before it (and is then
    # overwritten) or finds `purged_at` set and stops.
    cancelled = await jobs.filter(state__in=ACTIVE_STATES).update(
        state=JobState.FAILED,
        finished_at=now,
        lease_owner=None,
        lease_until=None,
        purged_at=now,
        **ERASED,
    )
    erased = cancelled + await jobs.filter(purged_at__isnull=True).update(**ERASED, purged_at=now)
    await jobs.exclude(telegram_file_id="").update(**ERASED)  # purged earlier, names kept
    # The caller erases the chat's other rows too, then truncates SQLite's log (truncate_wal).
    return Erasure(
        erased=erased,
        cancelled=cancelled,
        status_messages=[(int(c), int(m)) for c, m in running if m is not None],
    )


async def purge_expired(cutoff: datetime) -> int:
    """Erase what could identify a patient in jobs finished before `cutoff` (text, file name,
    file ids); keep the metadata usage is counted from. A job held for consent since before
    `cutoff` (nobody agreed for its chat) ends failed and erased: nothing of it went anywhere."""
    old = Job.filter(state__in=FINAL_STATES, finished_at__lt=cutoff)
    await erase_for_good()
    now = datetime.now(UTC)
    dropped = await Job.filter(state=JobState.HELD, created_at__lt=cutoff).update(
        state=JobState.FAILED, finished_at=now, purged_at=now, **ERASED
    )
    if dropped:
        log.info("retention: dropped %d recordings held for consent that nobody gave", dropped)
    purged = dropped + await old.filter(purged_at__isnull=True).update(**ERASED, purged_at=now)
    # Rows purged by a version that kept file names and ids.
    await old.exclude(telegram_file_id="").update(**ERASED)
    if purged:
        await truncate_wal()
    return purged


async def reseal_stale(ring: KeyRing, *, after: int | None, limit: int) -> key_store.Batch:
    """Jobs after id `after` whose texts are plaintext (from before encryption) or under an old
    key: sealed again under the current key, each value only if it is still the one read (a
    stage writing meanwhile seals under the current key itself). Nothing else changes."""
    return await key_store.reseal_batch(key_store.JOBS, ring, after=after, limit=limit)
