"""Speaker roles and names for diarized results, and a chat's default role pair."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0010_more_from_a_result")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Job",
            name="speakers",
            field=fields.JSONField(null=True),
        ),
        ops.AddField(
            model_name="Job",
            name="names_prompt_id",
            field=fields.BigIntField(null=True),
        ),
        ops.AddField(
            model_name="ChatSettings",
            name="speaker_roles",
            field=fields.CharField(max_length=32, null=True),
        ),
    ]
