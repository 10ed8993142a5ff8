from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0004_job_transcribed_at')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Job',
            name='polled_at',
            field=fields.FloatField(null=True),
        ),
        ops.CreateModel(
            name='PollPace',
            fields=[
                ('name', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=16)),
                ('stats', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('updated_at', fields.FloatField()),
            ],
            options={'table': 'poll_pace', 'app': 'models', 'pk_attr': 'name', 'table_description': "What finished jobs taught about Intron's time per audio length (the poll policy's"},
            bases=['Model'],
        ),
    ]
