"""Alembic migrations owning the schema of annoflow's state store (``connectors.state``).

``StateStore`` brings a database to the head revision itself when it opens it; there is no
``alembic.ini``. ``versions/`` holds one file per revision: ``0001`` is the schema as it was
before Alembic (tables made by ``create_all``), later ones change it.
"""
