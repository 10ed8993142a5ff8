"""Links, answers reused from an earlier result of the same audio, and the chat setting for it.

A message may carry several links, one job each, so a job's key becomes (chat, message, link).
"""

import re

from tortoise import fields, migrations
from tortoise.migrations import operations as ops
from tortoise.migrations.constraints import UniqueConstraint

OLD_UNIQUE = re.compile(r',\s*CONSTRAINT "[^"]+" UNIQUE \("chat_id", "message_id"\)')


class RemoveInlineUnique(ops.RemoveConstraint):
    """SQLite cannot drop a UNIQUE constraint written inside CREATE TABLE (as 0001 wrote this
    one): the table is rebuilt without it, keeping its rows and indexes. Elsewhere as usual."""

    async def database_forward(self, app_label, old_state, new_state, state_editor=None):  # type: ignore[no-untyped-def]
        if state_editor is None:
            return
        if state_editor.DIALECT != "sqlite":
            await super().database_forward(app_label, old_state, new_state, state_editor)
            return
        client = state_editor.client
        _, tables = await client.execute_query(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'jobs'"
        )
        _, indexes = await client.execute_query(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'jobs' "
            "AND sql IS NOT NULL"
        )
        create = str(tables[0]["sql"])
        rebuilt = OLD_UNIQUE.sub("", create, count=1)
        rebuilt = re.sub(r'^CREATE TABLE (IF NOT EXISTS )?"jobs"', 'CREATE TABLE "new__jobs"', rebuilt)
        await client.execute_script(rebuilt)
        await client.execute_script('INSERT INTO "new__jobs" SELECT * FROM "jobs"')
        await client.execute_script('DROP TABLE "jobs"')
        await client.execute_script('ALTER TABLE "new__jobs" RENAME TO "jobs"')
        for index in indexes:
            await client.execute_script(str(index["sql"]))


class Migration(migrations.Migration):
    dependencies = [("models", "0005_poll_pace")]

    initial = False

    operations = [
        ops.AddField(
            model_name="ChatSettings",
            name="reuse_results",
            field=fields.BooleanField(default=True, db_default=True),
        ),
        ops.AddField(
            model_name="Job",
            name="file_unique_id",
            field=fields.CharField(null=True, db_index=True, max_length=64),
        ),
        ops.AddField(
            model_name="Job",
            name="link_index",
            field=fields.SmallIntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name="Job",
            name="reused_from",
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name="Job",
            name="source_url",
            field=fields.CharField(null=True, max_length=2048),
        ),
        RemoveInlineUnique(
            model_name="Job",
            name=None,
            fields=["chat_id", "message_id"],
        ),
        ops.AddConstraint(
            model_name="Job",
            constraint=UniqueConstraint(fields=("chat_id", "message_id", "link_index"), name=None),
        ),
        # AddField's db_index creates no index here; every copy of a recording looks this up.
        ops.RunSQL(
            'CREATE INDEX IF NOT EXISTS "idx_jobs_file_unique_id" ON "jobs" ("file_unique_id")'
        ),
    ]
