from django.db import migrations, models


class Migration(migrations.Migration):

    # only the previous migration (see 0002: more dependencies change the plan's order)
    dependencies = [
        ('annoflow_access', '0002_campaign_serving_ttl_removal'),
    ]

    operations = [
        migrations.AddField(
            model_name='campaign',
            name='review_window',
            field=models.IntegerField(default=None, null=True),
        ),
        migrations.AddField(
            model_name='campaign',
            name='reviewed',
            field=models.JSONField(default=dict),
        ),
    ]
