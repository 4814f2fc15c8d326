"""Typed readers for settings taken from the environment; a bad value stops start-up with its name."""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be one of 1/0, true/false, yes/no, on/off; got {raw!r}")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number; got {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}; got {value}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def secret_key_refuse_weak(name: str, value: str, *, known: tuple[str, ...] = ()) -> None:
    """Refuse a key that signs sessions and tokens in production if it is guessable: what Django's
    `check --deploy` calls weak (security.W009), or one published with the code (`known`)."""
    hint = "make one with: python -c 'import secrets; print(secrets.token_urlsafe(50))'"
    if not value:
        raise ImproperlyConfigured(f"{name} must be set when DEBUG is off ({hint})")
    if value in known:
        raise ImproperlyConfigured(f"{name} is the embedded default's published key; set a secret one ({hint})")
    if value.startswith("django-insecure-"):
        raise ImproperlyConfigured(f"{name} is a 'django-insecure-' development key; set a secret one ({hint})")
    if len(value) < 50 or len(set(value)) < 5:
        raise ImproperlyConfigured(
            f"{name} is too weak: it needs at least 50 characters and 5 different ones; "
            f"got {len(value)} characters, {len(set(value))} different ({hint})"
        )
