"""Tortoise models: jobs, per-chat settings, chat migrations, the update inbox, and the Intron
call log behind the rate budget.

Times used for scheduling and leases are POSIX seconds (floats): they compare the same way in
SQLite and PostgreSQL and across processes, with no time-zone handling in the hot path.
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from storage.encrypted import EncryptedJSONField, EncryptedTextField


class JobState(StrEnum):
    # Stored, waiting for its chat to agree to the consent text (CONSENT_REQUIRED): nothing
    # fetched, nothing sent, and the scheduler never claims it. Agreeing makes it `received`.
    HELD = "held"
    RECEIVED = "received"  # stored, nothing fetched yet
    DOWNLOADING = "downloading"
    UPLOADING = "uploading"
    AT_INTRON = "at_intron"  # Intron accepted the audio; `intron_file_id` is set
    REPLYING = "replying"  # outcome known (result or failure), messages being sent
    DELIVERED = "delivered"  # final: the chat has the result
    FAILED = "failed"  # final: the chat has the explanation


# Unfinished: /forget stops these, allowances count them, /status lists them.
ACTIVE_STATES = (
    JobState.HELD,
    JobState.RECEIVED,
    JobState.DOWNLOADING,
    JobState.UPLOADING,
    JobState.AT_INTRON,
    JobState.REPLYING,
)
# What the scheduler may claim and run: unfinished and not held for consent.
RUNNABLE_STATES = tuple(state for state in ACTIVE_STATES if state != JobState.HELD)
FINAL_STATES = (JobState.DELIVERED, JobState.FAILED)


# Every column below that can carry patient data (texts, results, the stored reply, file names,
# links, failure texts, speakers' names, inbox payloads) is an Encrypted* field: sealed with
# AES-GCM under DATA_ENCRYPTION_KEY (storage/encrypted.py). Telegram's file ids stay plaintext:
# they are looked up by value, and name no one.


class Job(Model):
    id = fields.IntField(primary_key=True)
    chat_id = fields.BigIntField()
    message_id = fields.BigIntField()  # the user's voice note; replies thread to it
    # Which link of the message this job is (0 for a recording): a message may carry several.
    link_index = fields.SmallIntField(default=0, db_default=0)
    chat_type = fields.CharField(max_length=16, default="private")
    # The forum topic the voice note was sent in: the answer goes there too.
    message_thread_id = fields.BigIntField(null=True)

    media_kind = fields.CharField(max_length=16)
    # Both erased ("") by /forget and retention: the name is often a patient's, and the file id
    # is enough to download the audio again with the bot token.
    telegram_file_id = fields.CharField(max_length=255)
    file_name = EncryptedTextField(max_length=128)
    mime_type = fields.CharField(max_length=64, null=True)
    file_size = fields.BigIntField(null=True)
    duration = fields.IntField(null=True)  # seconds, as Telegram reported it; None for links
    # A link Intron reads the audio from (media_kind "link"): the bot downloads nothing. Erased
    # with the file name: a link may be all it takes to fetch the recording.
    source_url = EncryptedTextField(max_length=2048, null=True)
    # Telegram's id of the file's content, the same in every chat it is forwarded to: a copy
    # of a recording already transcribed is answered from that result. Erased with the text.
    file_unique_id = fields.CharField(max_length=64, null=True, db_index=True)
    # The job whose stored result answered this one (no download, no upload), if any.
    reused_from = fields.IntField(null=True)
    # A job asked for from a result's buttons (the same recording with an output added): the
    # recording's first job, and what makes the request unique (that job and the options), so
    # a button pressed twice, or a press handled again after a crash, makes one job. Such jobs
    # take link_index values below 0, one each, for (chat, message, link_index) to stay unique.
    derived_from = fields.IntField(null=True)
    derivation_key = fields.CharField(max_length=80, null=True, unique=True)
    # Who the speakers of a diarized result are: {"roles": "clinician_patient"} (a pair from the
    # catalog, shown in the reader's language) or {"names": ["Dr Amina", ...]} as typed, in the
    # order they first speak. Erased with the text: names are often patients'.
    speakers = EncryptedJSONField(null=True)
    # The message asking the chat to type the speakers' names: a reply to it names them.
    names_prompt_id = fields.BigIntField(null=True)
    options = fields.JSONField()  # TranscriptionOptions the upload is (or was) sent with
    # The bot language the job is answered in (status, failure, result headings), fixed when
    # the recording arrived: a job finishing after a restart still answers in it.
    language = fields.CharField(max_length=8, default="en")

    state = fields.CharEnumField(JobState, default=JobState.RECEIVED, max_length=16)
    status_message_id = fields.BigIntField(null=True)
    intron_file_id = fields.CharField(max_length=128, null=True)
    result = EncryptedJSONField(null=True)  # Intron's `data` once transcribed; purged by retention
    processed_seconds = fields.FloatField(null=True)
    failure = EncryptedTextField(null=True)  # what the chat is told when the job failed
    # The answer as rendered when the job became ready to reply (messages, then the report
    # file), so a resumed reply continues exactly where it stopped; purged with `result`.
    reply = EncryptedJSONField(null=True)
    reply_since = fields.FloatField(null=True)  # when the reply first became due
    parts_sent = fields.IntField(default=0)  # parts of `reply` Telegram accepted (or took)
    # Recorded before each part is sent and cleared once its outcome is known: still set after
    # a crash, it says that part may already be in the chat.
    part_in_flight = fields.IntField(null=True)
    attempts = fields.IntField(default=0)  # transient failures of the current step
    # The last time someone asked /history to send the result again (the reply then goes out
    # once more through the engine, in the chat's turn).
    resend_asked_at = fields.FloatField(null=True)

    # When a job held for its chat's consent was let go: its timeout and the elapsed time its
    # progress shows count from then, not from its arrival.
    released_at = fields.FloatField(null=True)

    next_run_at = fields.FloatField(default=0.0)
    lease_owner = fields.CharField(max_length=64, null=True)
    lease_until = fields.FloatField(null=True)
    uploaded_at = fields.FloatField(null=True)
    # When a poll first saw the transcript done: the start of the latency the bot adds.
    transcribed_at = fields.FloatField(null=True)
    # The last status call for this job: the poll policy asks next about the job most likely
    # to have finished since.
    polled_at = fields.FloatField(null=True)

    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    finished_at = fields.DatetimeField(null=True)
    purged_at = fields.DatetimeField(null=True)

    class Meta:
        table = "jobs"
        unique_together = (("chat_id", "message_id", "link_index"),)
        indexes = (("state", "next_run_at"),)


class ChatSettings(Model):
    chat_id = fields.BigIntField(primary_key=True, generated=False)
    options = fields.JSONField()
    # Groups may choose to transcribe only when someone replies /transcribe to a voice note.
    on_request = fields.BooleanField(default=False)
    # The language the bot writes in, chosen in /settings; None follows the user's Telegram
    # language. (Not the spoken language of the recordings: that is in `options`.)
    bot_language = fields.CharField(max_length=8, null=True)
    # A recording already transcribed elsewhere with the same options is answered from that
    # result; a chat may prefer a fresh transcription every time.
    reuse_results = fields.BooleanField(default=True, db_default=True)
    # A quiet chat gets its results and failures only: no "Received", no progress messages.
    quiet = fields.BooleanField(default=False, db_default=False)
    # The role pair every diarized result of the chat is shown with (a key of the catalog's
    # ROLE_PAIRS), unless a result was named otherwise; None: "Speaker 1", "Speaker 2".
    speaker_roles = fields.CharField(max_length=32, null=True)
    # The Telegram update whose button press last changed these settings: a press handled again
    # after a crash (its change saved, its inbox row not yet marked) is then not applied twice.
    changed_by_update = fields.BigIntField(null=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "chat_settings"


class ChatAllowance(Model):
    """Audio minutes a day an operator gave one chat, instead of CHAT_DAILY_AUDIO_MINUTES. The
    operator's, not the chat's: /forget leaves it."""

    chat_id = fields.BigIntField(primary_key=True, generated=False)
    daily_minutes = fields.FloatField()
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "chat_allowances"


class ChatConsent(Model):
    """A chat's agreement to the consent text (CONSENT_REQUIRED): who agreed (in a group, one of
    its administrators), under which name then, when, and to which version of the text. The
    chat's: /forget withdraws it (the row is deleted), and a text that changed asks again."""

    chat_id = fields.BigIntField(primary_key=True, generated=False)
    version = fields.CharField(max_length=16)
    user_id = fields.BigIntField()
    user_name = fields.CharField(max_length=128)
    agreed_at = fields.DatetimeField()

    class Meta:
        table = "chat_consents"


class ChatMigration(Model):
    """A group upgraded to a supergroup: Telegram gave it a new id. Its jobs keep the id their
    recording was sent under; everything addressed to the chat follows it to the new one."""

    old_chat_id = fields.BigIntField(primary_key=True, generated=False)
    new_chat_id = fields.BigIntField(db_index=True)
    migrated_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "chat_migrations"


class InboxUpdate(Model):
    """An update from Telegram, stored before Telegram is told it arrived, and handled from here.

    Telegram forgets an update once the bot confirms it (a higher getUpdates offset, or a 200 to
    a webhook request), so the row is written first; it is marked handled only after its
    handler's effect is committed. Handled rows stay a few days so a redelivered update is
    recognised, then they are deleted.
    """

    update_id = fields.BigIntField(primary_key=True, generated=False)
    chat_id = fields.BigIntField(null=True)  # None for the rare update that has no chat
    payload = EncryptedJSONField()  # the update's JSON as Telegram sent it
    received_at = fields.FloatField()
    # Who is handling the row, until when: several processes on one database never take the
    # same row, and a row whose handler died is taken again once the claim expires.
    claimed_by = fields.CharField(max_length=64, null=True)
    claim_until = fields.FloatField(null=True)
    attempts = fields.IntField(default=0)  # handlings started; a row that keeps failing is dropped
    handled_at = fields.FloatField(null=True)

    class Meta:
        table = "inbox_updates"
        indexes = (("chat_id", "handled_at"), ("handled_at",))


class ApiCall(Model):
    """One call made (or about to be made) to an Intron endpoint. Intron counts calls per key,
    so a restarted process must see what its predecessor spent."""

    id = fields.IntField(primary_key=True)
    endpoint = fields.CharField(max_length=16)
    at = fields.FloatField()

    class Meta:
        table = "api_calls"
        indexes = (("endpoint", "at"),)


class EndpointPause(Model):
    """A `Retry-After` from Intron: no call to this endpoint before `until`, for any process."""

    endpoint = fields.CharField(max_length=16, primary_key=True)
    until = fields.FloatField()

    class Meta:
        table = "endpoint_pauses"


class TelegramWindow(Model):
    """Telegram's flood limits as every instance on one PostgreSQL database sees them: the send
    times of one group in its last window (or of the whole bot in its last second, key "*"),
    and a pause a 429's `retry_after` asked for. SQLite (one process) keeps them in memory."""

    key = fields.CharField(max_length=32, primary_key=True)
    times = fields.JSONField()  # epoch seconds, oldest first
    paused_until = fields.FloatField(default=0.0)
    # Which send last took a slot: tells the one that took it from the ones that waited.
    token = fields.BigIntField(default=0)

    class Meta:
        table = "telegram_windows"


class PollPace(Model):
    """What finished jobs taught about Intron's time per audio length (the poll policy's
    `Pace`), so a restarted process polls as well as the one before it."""

    name = fields.CharField(max_length=16, primary_key=True)
    stats = fields.JSONField()
    updated_at = fields.FloatField()

    class Meta:
        table = "poll_pace"


class EncryptionKey(Model):
    """A key that sealed values in this database, by its id, with a known text sealed under it:
    start-up tells a wrong DATA_ENCRYPTION_KEY from the right one before anything is served."""

    key_id = fields.CharField(max_length=16, primary_key=True)
    check_value = fields.TextField()
    created_at = fields.FloatField()

    class Meta:
        table = "encryption_keys"
