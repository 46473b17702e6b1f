from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "annoflow_ls"
    label = "annoflow_access"
    verbose_name = "annoflow expert access"
    default_auto_field = "django.db.models.AutoField"
