"""Consent on record (CONSENT_REQUIRED): who agreed for a chat, when, to which version of the
text; and when a job held until then was let go."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0013_job_resend_asked_at")]

    initial = False

    operations = [
        ops.CreateModel(
            name="ChatConsent",
            fields=[
                ("chat_id", fields.BigIntField(primary_key=True, generated=False)),
                ("version", fields.CharField(max_length=16)),
                ("user_id", fields.BigIntField()),
                ("user_name", fields.CharField(max_length=128)),
                ("agreed_at", fields.DatetimeField()),
            ],
            options={"table": "chat_consents", "app": "models", "pk_attr": "chat_id"},
            bases=["Model"],
        ),
        ops.AddField(
            model_name="Job",
            name="released_at",
            field=fields.FloatField(null=True),
        ),
    ]
