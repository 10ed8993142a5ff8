"""Encryption at rest: the columns that can carry patient data become TEXT holding sealed values
(storage/encrypted.py), and `encryption_keys` records which keys sealed them.

Rows already there stay as they are, plaintext: they read as before, and the bot re-encrypts
them in the background after start-up. On SQLite a column's declared type does not limit what
it holds, so only the model state changes; PostgreSQL's JSONB and VARCHAR columns become TEXT,
each value kept as its JSON or its text.
"""

from typing import Any

from tortoise import fields, migrations
from tortoise.migrations import operations as ops

from storage.encrypted import EncryptedJSONField, EncryptedTextField


class SealedColumn(ops.AlterField):
    """The field as the model now has it; the column's type changed in place (Tortoise's
    AlterField refuses a change of field class)."""

    async def database_forward(
        self, app_label: str, old_state: Any, new_state: Any, state_editor: Any = None
    ) -> None:
        if state_editor is None or state_editor.client.capabilities.dialect != "postgres":
            return
        model = new_state.apps.get_model(f"{app_label}.{self.model_name}")
        table = model._meta.db_table
        await state_editor.client.execute_script(
            f'ALTER TABLE "{table}" ALTER COLUMN "{self.name}" TYPE TEXT USING "{self.name}"::text'
        )

    async def database_backward(
        self, app_label: str, old_state: Any, new_state: Any, state_editor: Any = None
    ) -> None:
        raise NotImplementedError("sealed values cannot go back to JSON columns")


class Migration(migrations.Migration):
    dependencies = [("models", "0015_telegram_windows")]

    initial = False

    operations = [
        SealedColumn("Job", "file_name", EncryptedTextField(max_length=128)),
        SealedColumn("Job", "source_url", EncryptedTextField(max_length=2048, null=True)),
        SealedColumn("Job", "speakers", EncryptedJSONField(null=True)),
        SealedColumn("Job", "result", EncryptedJSONField(null=True)),
        SealedColumn("Job", "failure", EncryptedTextField(null=True)),
        SealedColumn("Job", "reply", EncryptedJSONField(null=True)),
        SealedColumn("InboxUpdate", "payload", EncryptedJSONField()),
        ops.CreateModel(
            name="EncryptionKey",
            fields=[
                ("key_id", fields.CharField(max_length=16, primary_key=True)),
                ("check_value", fields.TextField()),
                ("created_at", fields.FloatField()),
            ],
            options={"table": "encryption_keys", "app": "models", "pk_attr": "key_id"},
            bases=["Model"],
        ),
    ]
