"""Quiet chats: no "Received" or progress messages, only results and failures."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0008_bot_language")]

    initial = False

    operations = [
        ops.AddField(
            model_name="ChatSettings",
            name="quiet",
            field=fields.BooleanField(default=False, db_default=False),
        ),
    ]
