from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='InboxUpdate',
            fields=[
                ('update_id', fields.BigIntField(generated=False, primary_key=True, unique=True, db_index=True)),
                ('chat_id', fields.BigIntField(null=True)),
                ('payload', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('received_at', fields.FloatField()),
                ('claimed_by', fields.CharField(null=True, max_length=64)),
                ('claim_until', fields.FloatField(null=True)),
                ('attempts', fields.IntField(default=0)),
                ('handled_at', fields.FloatField(null=True)),
            ],
            options={'table': 'inbox_updates', 'app': 'models', 'indexes': [Index(fields=['chat_id', 'handled_at']), Index(fields=['handled_at'])], 'pk_attr': 'update_id', 'table_description': 'An update from Telegram, stored before Telegram is told it arrived, and handled from here.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='ChatSettings',
            name='changed_by_update',
            field=fields.BigIntField(null=True),
        ),
    ]
