"""Label Studio's own settings plus the access extension (middleware, app, routes).

Label Studio's settings read ``django.conf.settings`` while they load; pointing
``DJANGO_SETTINGS_MODULE`` at them during the import lets those reads see Label Studio's
module (as in a plain start), and this module then becomes the settings.
"""
import os

_OURS = os.environ.get("DJANGO_SETTINGS_MODULE", "annoflow_ls.settings")
os.environ["DJANGO_SETTINGS_MODULE"] = "label_studio.core.settings.label_studio"
from label_studio.core.settings.label_studio import *  # noqa: E402,F401,F403
from label_studio.core.settings.label_studio import INSTALLED_APPS, MIDDLEWARE  # noqa: E402

os.environ["DJANGO_SETTINGS_MODULE"] = _OURS

INSTALLED_APPS = [*INSTALLED_APPS, "annoflow_ls"]
# after authentication (session and JWT) so that request.user is known
MIDDLEWARE = [*MIDDLEWARE, "annoflow_ls.middleware.ExpertAccessMiddleware"]
ROOT_URLCONF = "annoflow_ls.urls"
# nobody signs up: experts are created by annoflow, with a login it hands out
DISABLE_SIGNUP_WITHOUT_LINK = True

# SQLite (the embedded default): take the write lock when a transaction starts and wait
# for it, instead of failing with "database is locked" when two requests that read, then
# write (the next-task choice, a submission) meet. Production runs PostgreSQL.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    DATABASES["default"]["OPTIONS"] = {**DATABASES["default"].get("OPTIONS", {}),  # noqa: F405
                                       "timeout": 30, "transaction_mode": "IMMEDIATE"}
