"""annoflow's access extension for Label Studio Community 1.23 (loaded *inside* the Label
Studio server: ``DJANGO_SETTINGS_MODULE=annoflow_ls.settings``).

Community edition gives every logged-in user every permission. This extension makes an
ordinary user (an expert) a least-privilege annotator: a fail-closed allowlist of the
routes the labeling UI needs, on the projects the expert is rostered on, with the
responses scrubbed down to the expert's own work, the next task chosen by annoflow's
scheduler (which also decides when hidden gold probes come), and the identity and lead
time of every submission set by the server. Staff users (delivery managers, annoflow's
own token) keep the whole of Label Studio.

It imports Label Studio's own modules, so it is only importable in Label Studio's venv;
annoflow's code never imports it (it talks to it over HTTP, ``/api/annoflow/…``).
"""
default_app_config = "annoflow_ls.apps.AccessConfig"
