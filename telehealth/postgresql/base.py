"""Django's PostgreSQL backend with the pool check of telehealth.postgresql (``ENGINE``
``telehealth.postgresql``, set by the settings with the pool)."""

from django.db.backends.postgresql import base

from telehealth.postgresql import pool_check


class DatabaseWrapper(base.DatabaseWrapper):
    @property
    def pool(self):  # type: ignore[override]
        pool = super().pool
        # Django 5.2 creates the pool with psycopg_pool's own check (or none) and refuses
        # another in the pool's options; the pool is not open yet when it is first created.
        if pool is not None and pool._check is not pool_check:
            pool._check = pool_check
        return pool
