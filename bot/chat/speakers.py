"""Naming the speakers of a diarized result: a role pair from the catalog, or names typed in a
reply ("Dr Amina, Mama Neema"). The stored result is shown again with them; Intron is not asked
anything. The names are kept with the result (and erased with it), so /history shows them too."""

from __future__ import annotations

import re

from bot.engine import job_store
from bot.intron.options import MAX_SPEAKER_NAMES, ROLE_PAIRS, SPEAKER_NAME_MAX
from bot.render.text import clean_text
from bot.telegram_io.migration import chat_family
from storage.models import Job

# Names are separated by commas (or semicolons, or one per line), as people list them.
_SEPARATORS = re.compile(r"[,;\n،、]+")


def parse_names(text: str) -> list[str]:
    """The names in a typed reply, in order: trimmed, at most 10 of at most 40 characters."""
    names = [" ".join(clean_text(part).split()) for part in _SEPARATORS.split(text)]
    return [name[:SPEAKER_NAME_MAX] for name in names if name][:MAX_SPEAKER_NAMES]


async def name_with_roles(job: Job, roles: str) -> bool:
    """False when the result was erased meanwhile."""
    assert roles in ROLE_PAIRS
    job.speakers = {"roles": roles}
    return await job_store.named_speakers(job.id, job.speakers)


async def name_with_names(job: Job, names: list[str]) -> bool:
    job.speakers = {"names": names}
    return await job_store.named_speakers(job.id, job.speakers)


async def asked_names_for(job: Job, prompt_message_id: int) -> None:
    await job_store.awaiting_names(job.id, prompt_message_id)


async def result_named_by_reply(chat_id: int, replied_to: int) -> Job | None:
    """The result whose speakers a reply to message `replied_to` of this chat names, if any."""
    job = await job_store.asked_for_names(await chat_family(chat_id), replied_to)
    return job if job is not None and job.result is not None else None
