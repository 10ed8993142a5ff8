"""When a result was last asked for again from /history: resends go through the engine, and a
second press soon after is told the first is on its way."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0012_chat_allowances")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Job",
            name="resend_asked_at",
            field=fields.FloatField(null=True),
        ),
    ]
