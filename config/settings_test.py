"""Test settings: production-shaped (PostgreSQL, Redis), differing only where tests must."""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/nudge")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/14")
os.environ.setdefault("SECRET_KEY", "test-secret-key-only-for-the-test-suite-0123456789abcdef")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("ALLOWED_HOSTS", "localhost,127.0.0.1,testserver")

from config.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed; real hashing is Django's concern
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
# The embedded default's database, for tests that hold the SQLite code paths to the PostgreSQL ones
# (requested explicitly with `databases=["default", "embedded"]`).
DATABASES["embedded"] = {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}  # noqa: F405
# The tests' webhook and provider sinks listen on loopback.
NUDGE_OUTBOUND_ALLOW = ["127.0.0.0/8", "::1/128"]
WHITENOISE_USE_FINDERS = True  # browser tests load the panel's CSS without a collectstatic run
