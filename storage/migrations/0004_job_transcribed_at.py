from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0003_delivery_state_topics_migrations')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Job',
            name='transcribed_at',
            field=fields.FloatField(null=True),
        ),
    ]
