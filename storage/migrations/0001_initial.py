import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from storage.models import JobState


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name="ApiCall",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("endpoint", fields.CharField(max_length=16)),
                ("at", fields.FloatField()),
            ],
            options={
                "table": "api_calls",
                "app": "models",
                "indexes": [Index(fields=["endpoint", "at"])],
                "pk_attr": "id",
                "table_description": "One call made (or about to be made) to an Intron endpoint. Intron counts calls per key,",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="ChatSettings",
            fields=[
                ("chat_id", fields.BigIntField(generated=False, primary_key=True, unique=True, db_index=True)),
                (
                    "options",
                    fields.JSONField(
                        encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
                    ),
                ),
                ("on_request", fields.BooleanField(default=False)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={"table": "chat_settings", "app": "models", "pk_attr": "chat_id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="EndpointPause",
            fields=[
                (
                    "endpoint",
                    fields.CharField(primary_key=True, unique=True, db_index=True, max_length=16),
                ),
                ("until", fields.FloatField()),
            ],
            options={
                "table": "endpoint_pauses",
                "app": "models",
                "pk_attr": "endpoint",
                "table_description": "A `Retry-After` from Intron: no call to this endpoint before `until`, for any process.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Job",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("chat_id", fields.BigIntField()),
                ("message_id", fields.BigIntField()),
                ("chat_type", fields.CharField(default="private", max_length=16)),
                ("media_kind", fields.CharField(max_length=16)),
                ("telegram_file_id", fields.CharField(max_length=255)),
                ("file_name", fields.CharField(max_length=128)),
                ("mime_type", fields.CharField(null=True, max_length=64)),
                ("file_size", fields.BigIntField(null=True)),
                ("duration", fields.IntField(null=True)),
                (
                    "options",
                    fields.JSONField(
                        encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
                    ),
                ),
                (
                    "state",
                    fields.CharEnumField(
                        default=JobState.RECEIVED,
                        description="RECEIVED: received\nDOWNLOADING: downloading\nUPLOADING: uploading\nAT_INTRON: at_intron\nREPLYING: replying\nDELIVERED: delivered\nFAILED: failed",
                        enum_type=JobState,
                        max_length=16,
                    ),
                ),
                ("status_message_id", fields.BigIntField(null=True)),
                ("intron_file_id", fields.CharField(null=True, max_length=128)),
                (
                    "result",
                    fields.JSONField(
                        null=True,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("processed_seconds", fields.FloatField(null=True)),
                ("failure", fields.TextField(null=True, unique=False)),
                ("parts_sent", fields.IntField(default=0)),
                ("attempts", fields.IntField(default=0)),
                ("next_run_at", fields.FloatField(default=0.0)),
                ("lease_owner", fields.CharField(null=True, max_length=64)),
                ("lease_until", fields.FloatField(null=True)),
                ("uploaded_at", fields.FloatField(null=True)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
                (
                    "finished_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("purged_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "jobs",
                "app": "models",
                "unique_together": (("chat_id", "message_id"),),
                "indexes": [Index(fields=["state", "next_run_at"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
    ]
