from django.conf import settings
from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):

    # only the previous migration (see 0002: more dependencies change the plan's order)
    dependencies = [
        ('annoflow_access', '0003_campaign_review_window'),
    ]

    operations = [
        migrations.CreateModel(
            name='Bar',
            fields=[
                ('id', models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('ref', models.CharField(max_length=200)),
                ('project', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='annoflow_bars', to='projects.project')),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='annoflow_bars', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'indexes': [models.Index(fields=['project', 'user'], name='annoflow_bar_project_user')],
                'constraints': [models.UniqueConstraint(fields=('project', 'ref', 'user'), name='one_bar_per_ref_user')],
            },
        ),
    ]
