from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0002_update_inbox')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ChatMigration',
            fields=[
                ('old_chat_id', fields.BigIntField(generated=False, primary_key=True, unique=True, db_index=True)),
                ('new_chat_id', fields.BigIntField(db_index=True)),
                ('migrated_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'chat_migrations', 'app': 'models', 'pk_attr': 'old_chat_id', 'table_description': 'A group upgraded to a supergroup: Telegram gave it a new id. Its jobs keep the id their'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Job',
            name='message_thread_id',
            field=fields.BigIntField(null=True),
        ),
        ops.AddField(
            model_name='Job',
            name='part_in_flight',
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name='Job',
            name='reply',
            field=fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='Job',
            name='reply_since',
            field=fields.FloatField(null=True),
        ),
    ]
