"""The journeys under test send through these templates; a workspace must have a template before a
journey naming it can be published, so each tenant a test uses gets them."""

from __future__ import annotations

import pytest

TEMPLATES = [
    ("sms", "post-purchase-survey", {"body": "How was it?"}),
    ("push", "liked-this-item", {"title": "Still thinking?", "body": "It is in your favorites"}),
    ("push", "liked-this-item-v2", {"title": "Still thinking?", "body": "v2"}),
    ("email", "digest", {"subject": "Your digest", "text": "News"}),
    ("email", "welcome", {"subject": "Welcome", "text": "Hi"}),
]


@pytest.fixture(autouse=True)
def journey_templates(request: pytest.FixtureRequest) -> None:
    tenants = [request.getfixturevalue(name) for name in ("acme", "globex") if name in request.fixturenames]
    if not tenants:
        return
    from messaging.models import Template

    for tenant in tenants:
        Template.objects.bulk_create(
            [Template(workspace=tenant.workspace, channel=c, name=n, content=content) for c, n, content in TEMPLATES]
        )
