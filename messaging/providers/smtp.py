"""Email through Django's SMTP backend with the workspace's server settings. The Message-ID is made
from the idempotency key, so a resend after a crash carries the same id (receivers and tests dedupe
on it). 5xx answers are permanent; 4xx, refused connections and timeouts are transient."""

from __future__ import annotations

import smtplib
from collections.abc import Mapping
from typing import Any

from django.core.mail import EmailMultiAlternatives, get_connection

from messaging.providers.base import Outgoing, PermanentError, TransientError


class SmtpProvider:
    def __init__(self, options: Mapping[str, Any], secret: str) -> None:
        self.options = options
        self.secret = secret

    def send(self, outgoing: Outgoing) -> str:
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

    def _connection(self) -> Any:
        o = self.options
        return get_connection(
            "django.core.mail.backends.smtp.EmailBackend",
            host=o.get("host", "localhost"),
            port=int(o.get("port", 25)),
            username=o.get("username") or None,
            password=self.secret or None,
            use_tls=bool(o.get("use_tls", False)),
            use_ssl=bool(o.get("use_ssl", False)),
            timeout=float(o.get("timeout", 10)),
        )
