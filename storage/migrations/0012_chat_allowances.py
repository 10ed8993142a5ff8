"""Per-chat daily audio allowances an operator sets (/allowance)."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0011_speaker_names")]

    initial = False

    operations = [
        ops.CreateModel(
            name="ChatAllowance",
            fields=[
                ("chat_id", fields.BigIntField(primary_key=True, generated=False)),
                ("daily_minutes", fields.FloatField()),
                ("updated_at", fields.DatetimeField(auto_now=True)),
            ],
            options={"table": "chat_allowances", "app": "models", "pk_attr": "chat_id"},
            bases=["Model"],
        ),
    ]
