"""Telegram's flood limits shared by the instances on one PostgreSQL database."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0014_chat_consents")]

    initial = False

    operations = [
        ops.CreateModel(
            name="TelegramWindow",
            fields=[
                ("key", fields.CharField(primary_key=True, max_length=32)),
                ("times", fields.JSONField()),
                ("paused_until", fields.FloatField(default=0.0)),
                ("token", fields.BigIntField(default=0)),
            ],
            options={"table": "telegram_windows", "app": "models", "pk_attr": "key"},
            bases=["Model"],
        ),
    ]
