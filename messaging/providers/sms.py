"""SMS through a Twilio-style HTTP API: `POST {base_url}/2010-04-01/Accounts/{account_sid}/Messages.json`
with form fields To, From, Body and basic auth (account SID, auth token). The idempotency key travels in
`I-Twilio-Idempotency-Token`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from messaging.providers.base import Outgoing, PermanentError, http_send


class TwilioProvider:
    def __init__(self, options: Mapping[str, Any], secret: str) -> None:
        self.base_url = str(options.get("base_url") or "https://api.twilio.com").rstrip("/")
        self.account_sid = str(options.get("account_sid") or "")
        self.from_number = str(options.get("from_number") or "")
        self.secret = secret
        if not (self.account_sid and self.from_number and secret):
            raise PermanentError("the SMS provider needs account_sid, from_number and an auth token")

    def send(self, outgoing: Outgoing) -> str:
        response = http_send(
            "POST",
            f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json",
            data={"To": outgoing.to, "From": self.from_number, "Body": str(outgoing.content.get("body", ""))},
            auth=(self.account_sid, self.secret),
            headers={"I-Twilio-Idempotency-Token": outgoing.idempotency_key},
        )
        try:
            return str(response.json().get("sid", ""))
        except ValueError:
            return ""
