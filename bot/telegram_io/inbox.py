"""The update inbox: every update from Telegram is stored here before Telegram hears it arrived.

Rows are claimed through the database (a conditional update on the claim columns), and only a
chat's oldest unhandled row can be claimed, only while no live claim holds it. So instances
sharing one database split the chats between them, never handle a row twice, and handle one
chat's updates in order wherever they arrived. Claims are short and renewed while a handler
runs: a dead instance's chats wait only until its claims expire.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tortoise.expressions import F, Q

from storage import key_store
from storage.encrypted import KeyRing
from storage.models import InboxUpdate

log = logging.getLogger(__name__)

# A claim is renewed every third of this while its handler runs (one may wait a minute for a
# group's flood limit); a dead instance's claims expire after it.
CLAIM_SECONDS = 15.0
# Handled rows are kept this long, so an update Telegram delivers again is recognised; never
# longer than the retention of transcript text, since an update can quote one.
KEEP_HANDLED_DAYS = 3


@dataclass(frozen=True)
class StoredUpdate:
    update_id: int
    chat_id: int | None
    payload: dict[str, Any]  # the update's JSON


def keep_handled_seconds(retention_days: int) -> float:
    return min(KEEP_HANDLED_DAYS, retention_days) * 86400.0


class UpdateInbox:
    def __init__(self, *, owner: str, clock: Callable[[], float] = time.time) -> None:
        self._owner = owner
        self._clock = clock

    async def store(self, updates: Sequence[StoredUpdate]) -> None:
        """Write a batch in one statement (one commit); an update already there (Telegram
        delivered it again) is left as it is."""
        now = self._clock()
        rows = [
            InboxUpdate(
                update_id=u.update_id, chat_id=u.chat_id, payload=u.payload, received_at=now
            )
            for u in updates
        ]
        await InboxUpdate.bulk_create(rows, ignore_conflicts=True)

    async def release_claims(self) -> int:
        """Claims under our name belong to a predecessor that died: take them back now."""
        return await InboxUpdate.filter(claimed_by=self._owner, handled_at__isnull=True).update(
            claimed_by=None, claim_until=None
        )

    async def pending_chats(self) -> list[int | None]:
        """Chats with updates not yet handled, the one waiting longest first."""
        chats = await (
            InboxUpdate.filter(handled_at__isnull=True)
            .order_by("update_id")
            .values_list("chat_id", flat=True)
        )
        return list(dict.fromkeys(chats))

    async def claim_next(self, chat_id: int | None) -> InboxUpdate | None:
        """The chat's oldest unhandled update, claimed for us; None if there is none free."""
        now = self._clock()
        chat = Q(chat_id__isnull=True) if chat_id is None else Q(chat_id=chat_id)
        head = (
            await InboxUpdate.filter(chat, handled_at__isnull=True)
            .order_by("update_id")
            .only("update_id", "claim_until")
            .first()
        )
        if head is None or (head.claim_until is not None and head.claim_until >= now):
            return None  # nothing waiting, or another process is handling this chat's head
        won = (
            await InboxUpdate.filter(update_id=head.update_id, handled_at__isnull=True)
            .filter(Q(claim_until__isnull=True) | Q(claim_until__lt=now))
            .update(
                claimed_by=self._owner,
                claim_until=now + CLAIM_SECONDS,
                attempts=F("attempts") + 1,
            )
        )
        if won != 1:
            return None
        return await InboxUpdate.get(update_id=head.update_id)

    async def renew_claims(self, update_ids: Sequence[int]) -> None:
        """The handlers of these rows are still running here."""
        await InboxUpdate.filter(
            update_id__in=list(update_ids), claimed_by=self._owner, handled_at__isnull=True
        ).update(claim_until=self._clock() + CLAIM_SECONDS)

    async def free_chats(self) -> list[int | None]:
        """Chats with unhandled updates that no live claim holds (another instance may have
        stored them, or died handling them), the one waiting longest first."""
        now = self._clock()
        held = set(
            await InboxUpdate.filter(handled_at__isnull=True, claim_until__gte=now).values_list(
                "chat_id", flat=True
            )
        )
        return [chat for chat in await self.pending_chats() if chat not in held]

    async def mark_handled(self, update_id: int) -> None:
        # The update_id alone refuses a duplicate: what people wrote and sent is not kept.
        await InboxUpdate.filter(update_id=update_id).update(
            handled_at=self._clock(), claimed_by=None, claim_until=None, payload={}
        )

    async def purge_handled(self, older_than_seconds: float) -> int:
        cutoff = self._clock() - older_than_seconds
        purged = await InboxUpdate.filter(handled_at__lt=cutoff).delete()
        if purged:
            log.info("inbox: deleted %d handled updates", purged)
        return purged

    async def reseal_stale(
        self, ring: KeyRing, *, after: int | None, limit: int
    ) -> key_store.Batch:
        """Stored updates in plaintext or under an old key, sealed again under the current
        key (each only if still as read)."""
        return await key_store.reseal_batch(key_store.INBOX, ring, after=after, limit=limit)

    async def backlog(self) -> int:
        """Updates stored and not yet handled (one count on the handled_at index)."""
        return await InboxUpdate.filter(handled_at__isnull=True).count()

    async def probe(self) -> None:
        """A write that changes nothing: raises unless the database would store an update now."""
        await InboxUpdate.filter(update_id=-1).update(attempts=0)
