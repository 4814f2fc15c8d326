"""SMS through a Twilio-style HTTP API: `POST {base_url}/2010-04-01/Accounts/{account_sid}/Messages.json`
with form fields To, From, Body and basic auth (account SID, auth token). The idempotency key travels in
`I-Twilio-Idempotency-Token`. Twilio's callbacks to Nudge are verified here too (`X-Twilio-Signature`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from messaging.providers.base import (
    Destination,
    Exchange,
    HttpCall,
    HttpProvider,
    Outgoing,
    PermanentError,
    url_destination,
)


class TwilioProvider(HttpProvider):
    def __init__(self, options: Mapping[str, Any], secret: str) -> None:
        self.base_url = str(options.get("base_url") or "https://api.twilio.com").rstrip("/")
        self.account_sid = str(options.get("account_sid") or "")
        self.from_number = str(options.get("from_number") or "")
        self.secret = secret
        if not (self.account_sid and self.from_number and secret):
            raise PermanentError("the SMS provider needs account_sid, from_number and an auth token")
        self.destinations: list[Destination] = [url_destination("base_url", self.base_url)]

    def exchange(self, outgoing: Outgoing) -> Exchange:
        response = yield HttpCall(
            "POST",
            f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json",
            {
                "data": {"To": outgoing.to, "From": self.from_number, "Body": str(outgoing.content.get("body", ""))},
                "auth": (self.account_sid, self.secret),
                "headers": {"I-Twilio-Idempotency-Token": outgoing.idempotency_key},
            },
        )
        try:
            return str(response.json().get("sid", ""))
        except ValueError:
            return ""


# --- Twilio's callbacks (inbound SMS, status callbacks) are signed ----------------------------------


def twilio_signature(auth_token: str, url: str, params: Mapping[str, Sequence[str]]) -> str:
    """`X-Twilio-Signature` as Twilio computes it: HMAC-SHA1, keyed with the auth token, of the full URL
    followed by every POST parameter's name and value, sorted by name (a repeated name's values
    sorted too), base64-encoded."""
    signed = url + "".join(name + value for name in sorted(params) for value in sorted(params[name]))
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _port_variants(url: str) -> set[str]:
    """Twilio may sign the URL with or without its default port; both are accepted, as its own
    validators do."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    default = {"https": 443, "http": 80}.get(parts.scheme)
    variants = {url, urlunsplit(parts._replace(netloc=prefix + host))}
    if default is not None and parts.port in (None, default):
        variants.add(urlunsplit(parts._replace(netloc=f"{prefix}{host}:{default}")))
    return variants


def twilio_request_valid(
    auth_token: str, signature: str, urls: Iterable[str], params: Mapping[str, Sequence[str]], body: bytes
) -> bool:
    """Whether a callback carries Twilio's signature for one of the URLs it may have been sent to. A
    JSON callback signs its URL (with `bodySHA256`, the body's SHA-256, in the query) and no params."""
    if not signature:
        return False
    candidates = {variant for url in urls for variant in _port_variants(url)}
    for url in candidates:
        body_hash = dict(parse_qsl(urlsplit(url).query)).get("bodySHA256")
        if body_hash is not None:
            if not hmac.compare_digest(hashlib.sha256(body).hexdigest(), body_hash):
                continue
            expected = twilio_signature(auth_token, url, {})
        else:
            expected = twilio_signature(auth_token, url, params)
        if hmac.compare_digest(expected.encode(), signature.encode()):
            return True
    return False
