from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):

    # only the previous migration (see 0002: more dependencies change the plan's order)
    dependencies = [
        ('annoflow_access', '0004_bar'),
    ]

    operations = [
        migrations.CreateModel(
            name='Twin',
            fields=[
                ('id', models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('original', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='annoflow_twins', to='tasks.task')),
                ('project', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='annoflow_twin_probes', to='projects.project')),
                ('task', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='annoflow_twin', to='tasks.task')),
            ],
        ),
    ]
