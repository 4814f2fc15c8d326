"""Email through Django's email backends: SMTP with the workspace's server settings, or an ESP's API
through django-anymail (Postmark, Mailgun, SendGrid, Brevo, … — `esp` names the anymail backend). The
Message-ID is made from the idempotency key, so a resend after a crash carries the same id (receivers and
tests dedupe on it). 5xx answers are permanent for SMTP; 4xx, refused connections, timeouts, an ESP's
429 or 5xx are transient. Both connect only where `messaging.outbound` allows (checked at the socket).
Both block (smtplib, requests), so they have no async send: delivery runs them on its threads, beside
the HTTP providers' calls on its event loop."""

from __future__ import annotations

import smtplib
from collections.abc import Mapping
from typing import Any

from anymail.exceptions import AnymailAPIError, AnymailError, AnymailRecipientsRefused
from django.core.mail import EmailMultiAlternatives, get_connection
from django.utils.module_loading import import_string

from messaging import outbound
from messaging.providers.base import (
    ANSWER_MAX,
    Destination,
    Outgoing,
    PermanentError,
    TransientError,
    url_destination,
)


class SmtpProvider:
    def __init__(self, options: Mapping[str, Any], secret: str) -> None:
        self.options = options
        self.secret = secret
        try:
            port = int(options.get("port", 25))
        except (TypeError, ValueError) as error:
            raise PermanentError("the SMTP port must be a number") from error
        self.destinations: list[Destination] = [Destination("host", str(options.get("host", "localhost")), port)]

    def send(self, outgoing: Outgoing) -> str:
        email = self._email(outgoing)
        message_id = str(email.extra_headers["Message-ID"])
        try:
            email.send()
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            if all(400 <= code < 500 for code in codes):
                raise TransientError(f"recipient deferred: {error.recipients}") from error
            raise PermanentError(f"recipient refused: {error.recipients}") from error
        except smtplib.SMTPResponseException as error:
            reason = f"SMTP {error.smtp_code}: {error.smtp_error!r}"
            if 400 <= error.smtp_code < 500:
                raise TransientError(reason) from error
            raise PermanentError(reason) from error
        except (smtplib.SMTPException, OSError) as error:
            raise TransientError(f"{type(error).__name__}: {error}") from error
        return message_id

    def _email(self, outgoing: Outgoing) -> EmailMultiAlternatives:
        content = outgoing.content
        message_id = f"<{outgoing.idempotency_key.replace(':', '.')}@nudge>"
        email = EmailMultiAlternatives(
            subject=str(content.get("subject", "")),
            body=str(content.get("text") or ""),
            from_email=str(content.get("from_email") or self.options.get("from_email") or "nudge@localhost"),
            to=[outgoing.to],
            reply_to=[str(content["reply_to"])] if content.get("reply_to") else None,
            headers={"Message-ID": message_id, **outgoing.headers},
            connection=self._connection(),
        )
        if content.get("html"):
            email.attach_alternative(str(content["html"]), "text/html")
        return email

    def _connection(self) -> Any:
        o = self.options
        return get_connection(
            "messaging.outbound.CheckedEmailBackend",
            host=o.get("host", "localhost"),
            port=int(o.get("port", 25)),
            username=o.get("username") or None,
            password=self.secret or None,
            use_tls=bool(o.get("use_tls", False)),
            use_ssl=bool(o.get("use_ssl", False)),
            timeout=float(o.get("timeout", 10)),
        )


class AnymailProvider(SmtpProvider):
    """An ESP's HTTP API through django-anymail. Settings: `esp` (the anymail backend: postmark,
    mailgun, sendgrid, brevo, …), `from_email`, and any of the backend's options (`api_url`,
    `sender_domain`, …); secret: the API key (Postmark's server token)."""

    KEY_NAMES = {"postmark": "server_token"}

    def __init__(self, options: Mapping[str, Any], secret: str) -> None:
        self.options, self.secret = options, secret
        self.esp = str(options.get("esp") or "")
        if not self.esp.replace("_", "").isalnum() or not secret:
            raise PermanentError("the ESP provider needs esp (postmark, mailgun, sendgrid, …) and an API key")
        try:
            import_string(f"anymail.backends.{self.esp}.EmailBackend")
        except ImportError as error:
            raise PermanentError(f"django-anymail has no ESP named {self.esp!r}") from error
        api_url = options.get("api_url")
        self.destinations = [url_destination("api_url", str(api_url))] if api_url else []

    def send(self, outgoing: Outgoing) -> str:
        email = self._email(outgoing)
        try:
            email.send()
        except AnymailRecipientsRefused as error:
            raise PermanentError(f"{self.esp}: recipient refused: {self._answer(error)}") from error
        except AnymailAPIError as error:
            status = getattr(error, "status_code", None) or 0
            reason = f"{self.esp}: {self._answer(error)}"
            if 300 <= status < 400:
                where = outbound.location_host(error.response.headers)
                raise PermanentError(
                    f"{self.esp}: HTTP {status}: redirected to {where}; redirects are not followed"
                ) from error
            if status == 429 or status >= 500 or status == 0:
                raise TransientError(reason) from error
            raise PermanentError(reason) from error
        except AnymailError as error:
            raise PermanentError(f"{self.esp}: {error.args[0] if error.args else type(error).__name__}") from error
        status = getattr(email, "anymail_status", None)
        return str(getattr(status, "message_id", "") or email.extra_headers["Message-ID"])

    @staticmethod
    def _answer(error: AnymailError) -> str:
        """The ESP's status and the start of its answer; not anymail's full description, which
        repeats the request."""
        response = getattr(error, "response", None)
        if response is None:
            cause = error.__cause__
            return f"{type(cause).__name__}: {cause}" if cause is not None else str(error.args[0] if error.args else "")
        return f"HTTP {response.status_code}: {response.text[:ANSWER_MAX]}"

    def _connection(self) -> Any:
        options = {k: v for k, v in self.options.items() if k not in ("esp", "from_email")}
        options[self.KEY_NAMES.get(self.esp, "api_key")] = self.secret
        backend = get_connection(f"anymail.backends.{self.esp}.EmailBackend", **options)
        backend.create_session = outbound.CheckedSession  # type: ignore[attr-defined]  # anymail's session hook
        return backend
