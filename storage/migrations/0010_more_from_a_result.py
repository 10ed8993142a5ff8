"""Jobs asked for from a result's buttons: the same recording with an output added, made once
per (first job, options) however often the button is pressed."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class AddUniqueColumn(ops.AddField):
    """SQLite cannot add a UNIQUE column with ALTER TABLE: there the column is added plain and
    a unique index made for it, which enforces the same. Elsewhere as usual."""

    async def database_forward(self, app_label, old_state, new_state, state_editor=None):  # type: ignore[no-untyped-def]
        if state_editor is None:
            return
        if state_editor.DIALECT != "sqlite":
            await super().database_forward(app_label, old_state, new_state, state_editor)
            return
        client = state_editor.client
        await client.execute_script('ALTER TABLE "jobs" ADD COLUMN "derivation_key" VARCHAR(80)')
        await client.execute_script(
            'CREATE UNIQUE INDEX IF NOT EXISTS "uid_jobs_derivation_key" ON "jobs" ("derivation_key")'
        )


class Migration(migrations.Migration):
    dependencies = [("models", "0009_quiet_chats")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Job",
            name="derived_from",
            field=fields.IntField(null=True),
        ),
        AddUniqueColumn(
            model_name="Job",
            name="derivation_key",
            field=fields.CharField(max_length=80, null=True, unique=True),
        ),
    ]
