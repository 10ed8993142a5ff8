"""Consent on record (CONSENT_REQUIRED): what a chat is asked to agree to before its recordings
go to Intron, whether it has agreed to the text as it stands, and the agreement itself.

The text says who processes the audio (Intron, and the operator from OPERATOR_CONTACT) and what
is stored for how long, in the words of /privacy. Its version is a short hash of the English
text with the contact and retention filled in, so a change to any of them asks every chat again.
A chat's recordings sent before it agreed are stored as held jobs (the job store's hold); its
agreement releases them, each once, however often the button is pressed or its press handled.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from bot.chat.privacy import operator_line, what_is_kept
from bot.engine import job_store
from bot.i18n import N_, Translator
from bot.telegram_io.callback_data import parse_fields
from bot.telegram_io.migration import chat_family
from storage.models import ChatConsent, Job, JobState

log = logging.getLogger(__name__)

CONSENT_PREFIX = "consent"
VERSION_LENGTH = 12  # hex digits of the text's hash: in callback data, and in /privacy

CONSENT_HEADING = N_(
    "🤝 Before this chat's recordings go to Intron for transcription, please read how they "
    "are handled and agree."
)
WHO_PROCESSES = N_(
    "Who processes the audio: Intron (intron.io) transcribes it, for the operator who runs "
    "this bot and keeps what is stored below."
)
HOW_TO_AGREE = N_(
    "Recordings sent until then wait and go on once someone agrees; in a group, one of its "
    "administrators agrees for it. Who agreed, when and to which version of this text is "
    "recorded; /privacy shows it and /forget withdraws it."
)
AGREE_BUTTON = N_("✅ I agree")
AGREED_LINE = N_("✅ {name} agreed for this chat on {date} (version {version}).")
AGREED_EARLIER_LINE = N_(
    "{name} agreed for this chat on {date} to an earlier version of this text; the next "
    "recording asks again."
)
NOT_AGREED_LINE = N_(
    "Consent: nobody has agreed for this chat yet; recordings wait until someone does."
)
CONSENT_PRIVACY = N_(
    "Consent: before this chat's first recording goes to Intron, the chat (in a group, one of "
    "its administrators) is asked to agree to what is said here. Who agreed (their Telegram "
    "id and name then), when and to which version of the text is kept until /forget, which "
    "withdraws it."
)


@dataclass(frozen=True)
class ConsentTerms:
    """What a chat agrees to, as the operator configured it; `version` names the text."""

    required: bool
    retention_days: int
    contact: str | None
    version: str

    @classmethod
    def of(
        cls, *, required: bool, retention_days: int, contact: str | None, english: Translator
    ) -> ConsentTerms:
        unversioned = cls(required, retention_days, contact, version="")
        digest = hashlib.sha256(unversioned.text(english).encode()).hexdigest()
        return cls(required, retention_days, contact, version=digest[:VERSION_LENGTH])

    def text(self, tr: Translator) -> str:
        """The consent request in `tr`'s language (the English one is what is versioned)."""
        paragraphs = [
            tr.gettext(CONSENT_HEADING),
            tr.gettext(WHO_PROCESSES) + " " + operator_line(tr, self.contact),
            *what_is_kept(tr, retention_days=self.retention_days),
            tr.gettext(HOW_TO_AGREE),
        ]
        return "\n\n".join(paragraphs)

    @property
    def button_data(self) -> str:
        return f"{CONSENT_PREFIX}:{self.version}"


def pressed_version(data: str) -> str | None:
    """The version of the text a consent button was shown with, or None for any other data."""
    fields = parse_fields(data, CONSENT_PREFIX)
    if fields is None or len(fields) != 1 or len(fields[0]) != VERSION_LENGTH:
        return None
    return fields[0]


async def consent_of(chat_id: int) -> ChatConsent | None:
    """The chat's latest agreement, under its current id or an earlier one (an upgraded group)."""
    return (
        await ChatConsent.filter(chat_id__in=await chat_family(chat_id))
        .order_by("-agreed_at")
        .first()
    )


async def must_hold(chat_id: int, terms: ConsentTerms) -> bool:
    """Whether a recording of this chat must wait: consent is required and the chat has not
    agreed to the text as it stands."""
    if not terms.required:
        return False
    consent = await consent_of(chat_id)
    return consent is None or consent.version != terms.version


async def should_ask(chat_id: int, held: Sequence[Job]) -> bool:
    """Whether the chat is to be sent the consent request now: these jobs of one message are
    held and no other held job of the chat has had it sent."""
    held_ids = [job.id for job in held if job.state == JobState.HELD]
    if not held_ids:
        return False
    return not await job_store.has_held(await chat_family(chat_id), besides=held_ids)


@dataclass(frozen=True)
class Agreement:
    consent: ChatConsent
    recorded: bool  # False: the chat had agreed to this version already (a second press)
    released: int  # held jobs that go on now


async def agree(
    chat_id: int, terms: ConsentTerms, *, user_id: int, user_name: str, now: datetime | None = None
) -> Agreement:
    """Record that `user_id` agreed for the chat to this version of the text (the first
    agreement to a version stands), then release the chat's held jobs. Safe to run again for
    the same press: one consent, each held job released once."""
    family = await chat_family(chat_id)
    async with in_transaction():
        consent = await consent_of(chat_id)
        recorded = consent is None or consent.version != terms.version
        if recorded:
            # One row per chat, under its current id.
            await ChatConsent.filter(chat_id__in=family).delete()
            consent = await ChatConsent.create(
                chat_id=chat_id,
                version=terms.version,
                user_id=user_id,
                user_name=user_name[:128],
                agreed_at=now or datetime.now(UTC),
            )
    assert consent is not None
    released = await job_store.release_held(family, (now or datetime.now(UTC)).timestamp())
    if recorded:
        log.info("consent recorded (version %s); %d held recordings go on", terms.version, released)
    return Agreement(consent, recorded, released)


async def withdraw(chat_ids: Sequence[int]) -> int:
    """/forget: the chats' agreements are deleted; their next recording asks again."""
    return await ChatConsent.filter(chat_id__in=list(chat_ids)).delete()


async def release_agreed(terms: ConsentTerms) -> int:
    """At start-up: jobs held in chats that need no consent any more (the operator turned it
    off) or whose agreement is recorded (a press whose release a crash cut short) go on."""
    chats = await job_store.held_chats()
    ready = [chat for chat in chats if not await must_hold(chat, terms)]
    released = await job_store.release_held(ready, datetime.now(UTC).timestamp()) if ready else 0
    if released:
        log.info("consent: %d held recordings released at start-up", released)
    return released


def consent_lines(tr: Translator, terms: ConsentTerms, consent: ChatConsent | None) -> list[str]:
    """What /privacy says of consent: nothing when it is neither asked for nor on record."""
    if not terms.required and consent is None:
        return []
    lines = [tr.gettext(CONSENT_PRIVACY)]
    if consent is None:
        lines.append(tr.gettext(NOT_AGREED_LINE))
    elif consent.version == terms.version or not terms.required:
        lines.append(agreed_line(tr, consent))
    else:
        lines.append(
            tr.gettext(
                AGREED_EARLIER_LINE,
                name=_who(consent),
                date=tr.full_date_time(consent.agreed_at),
            )
        )
    return lines


def agreed_line(tr: Translator, consent: ChatConsent) -> str:
    return tr.gettext(
        AGREED_LINE,
        name=_who(consent),
        date=tr.full_date_time(consent.agreed_at),
        version=consent.version,
    )


def _who(consent: ChatConsent) -> str:
    return f"{consent.user_name} (id {consent.user_id})"
