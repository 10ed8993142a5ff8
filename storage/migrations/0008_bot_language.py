from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0007_links_and_reuse')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Job',
            name='language',
            field=fields.CharField(default='en', max_length=8),
        ),
        ops.AddField(
            model_name='ChatSettings',
            name='bot_language',
            field=fields.CharField(null=True, max_length=8),
        ),
    ]
