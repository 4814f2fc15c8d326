"""Mobile push: Firebase Cloud Messaging (HTTP v1, OAuth2 with the workspace's service-account key) and
Apple Push Notification service (HTTP/2, a token signed with the workspace's .p8 key). Each sends to every
device of the profile its service serves; tokens reported gone are removed.

FCM settings: `project_id`, optional `base_url`; secret: the service-account JSON (its `token_uri`,
`client_email`, `private_key`). APNs settings: `team_id`, `key_id`, `bundle_id`, optional `base_url`
(`https://api.sandbox.push.apple.com` for development); secret: the .p8 key (PEM).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import jwt

from messaging.providers.base import (
    ANSWER_MAX,
    Destination,
    Device,
    Exchange,
    GoneDevice,
    HttpCall,
    HttpProvider,
    Outgoing,
    PermanentError,
    TransientError,
    each_device,
    url_destination,
)

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
_tokens: dict[str, tuple[str, float]] = {}  # service account → (access token, expiry), per worker
_lock = threading.Lock()


def _strings(data: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in (data or {}).items()}


class FcmProvider(HttpProvider):
    def __init__(self, options: Mapping[str, Any], secret: str) -> None:
        try:
            self.account = json.loads(secret)
            self.account["client_email"], self.account["private_key"], self.account["token_uri"]  # noqa: B018
        except (ValueError, TypeError, KeyError) as error:
            raise PermanentError("the FCM provider needs the service-account JSON key as its secret") from error
        self.project = str(options.get("project_id") or self.account.get("project_id") or "")
        if not self.project:
            raise PermanentError("the FCM provider needs project_id")
        self.base_url = str(options.get("base_url") or "https://fcm.googleapis.com").rstrip("/")
        self.destinations: list[Destination] = [
            url_destination("base_url", self.base_url),
            url_destination("secret.token_uri", str(self.account["token_uri"])),
        ]

    def exchange(self, outgoing: Outgoing) -> Exchange:
        return each_device(outgoing, lambda device: self._one(outgoing, device))

    def _one(self, outgoing: Outgoing, device: Device) -> Exchange:
        content = outgoing.content
        notification = {"title": content.get("title", ""), "body": content.get("body", "")}
        if content.get("image_url"):
            notification["image"] = content["image_url"]
        message: dict[str, Any] = {"token": device.token, "notification": notification}
        data = _strings(content.get("data"))
        if content.get("deep_link"):
            data["deep_link"] = str(content["deep_link"])
        if data:
            message["data"] = data
        platform = content.get("platform") or {}
        if isinstance(platform, dict):
            message.update({k: v for k, v in platform.items() if k in ("android", "apns", "webpush")})
        try:
            token = yield from self._access_token()
            response = yield HttpCall(
                "POST",
                f"{self.base_url}/v1/projects/{self.project}/messages:send",
                {"json": {"message": message}, "headers": {"Authorization": f"Bearer {token}"}},
            )
        except PermanentError as error:
            if "UNREGISTERED" in str(error) or "HTTP 404" in str(error):
                raise GoneDevice(f"token {device.token[:12]}… is no longer registered") from error
            raise
        return str(response.json().get("name", ""))

    def _access_token(self) -> Exchange:
        email = self.account["client_email"]
        with _lock:
            cached = _tokens.get(email)
            if cached and cached[1] > time.time() + 60:
                return cached[0]
        now = int(time.time())
        claims = {"iss": email, "scope": FCM_SCOPE, "aud": self.account["token_uri"], "iat": now, "exp": now + 3600}
        try:
            assertion = jwt.encode(claims, self.account["private_key"], algorithm="RS256")
        except (ValueError, TypeError, jwt.PyJWTError) as error:
            raise PermanentError(f"the service-account private key is unusable: {error}") from error
        response = yield HttpCall(
            "POST",
            self.account["token_uri"],
            {"data": {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}},
        )
        body = response.json()
        token = body.get("access_token")
        if not token:
            raise TransientError("the token endpoint answered without an access token")
        with _lock:
            _tokens[email] = (token, time.time() + float(body.get("expires_in", 3600)))
        return str(token)


class ApnsProvider(HttpProvider):
    def __init__(self, options: Mapping[str, Any], secret: str) -> None:
        self.team_id, self.key_id = str(options.get("team_id") or ""), str(options.get("key_id") or "")
        self.topic = str(options.get("bundle_id") or "")
        if not (self.team_id and self.key_id and self.topic and secret):
            raise PermanentError("the APNs provider needs team_id, key_id, bundle_id and the .p8 key")
        self.key = secret
        self.base_url = str(options.get("base_url") or "https://api.push.apple.com").rstrip("/")
        self.destinations: list[Destination] = [url_destination("base_url", self.base_url)]

    def exchange(self, outgoing: Outgoing) -> Exchange:
        ios = tuple(d for d in outgoing.devices if d.platform in ("ios", "ipados", "macos", "unknown"))
        only_ios = replace(outgoing, devices=ios, gone=[])
        try:
            return (yield from each_device(only_ios, lambda device: self._one(outgoing, device)))
        finally:
            outgoing.gone.extend(only_ios.gone)

    def _one(self, outgoing: Outgoing, device: Device) -> Exchange:
        content = outgoing.content
        aps: dict[str, Any] = {"alert": {"title": content.get("title", ""), "body": content.get("body", "")}}
        if content.get("sound"):
            aps["sound"] = content["sound"]
        if content.get("category"):
            aps["category"] = content["category"]
        payload = {"aps": aps, **_strings(content.get("data"))}
        if content.get("deep_link"):
            payload["deep_link"] = str(content["deep_link"])
        try:
            token = jwt.encode(
                {"iss": self.team_id, "iat": int(time.time())},
                self.key,
                algorithm="ES256",
                headers={"kid": self.key_id},
            )
        except (ValueError, TypeError, jwt.PyJWTError) as error:
            raise PermanentError(f"the APNs key is unusable: {error}") from error
        # The same step always gets the same apns-id, so Apple can tell a resend from a new message.
        apns_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{outgoing.idempotency_key}:{device.token}"))
        response = yield HttpCall(
            "POST",
            f"{self.base_url}/3/device/{device.token}",
            {
                "json": payload,
                "headers": {
                    "authorization": f"bearer {token}",
                    "apns-topic": self.topic,
                    "apns-push-type": "alert",
                    "apns-id": apns_id,
                },
            },
            http2=True,
            sort=False,
        )
        if response.status_code == 410 or "Unregistered" in response.text or "BadDeviceToken" in response.text:
            raise GoneDevice(f"token {device.token[:12]}… is no longer valid")
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientError(f"HTTP {response.status_code}: {response.text[:ANSWER_MAX]}")
        if response.status_code >= 400:
            raise PermanentError(f"HTTP {response.status_code}: {response.text[:ANSWER_MAX]}")
        return response.headers.get("apns-id", apns_id)
