"""The OpenAPI schema describes every endpoint, validates, and drf-spectacular has nothing to warn of."""

from __future__ import annotations

import io

import pytest
import yaml
from django.core.management import call_command


@pytest.mark.django_db
def test_the_schema_validates_without_warnings():
    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    paths = yaml.safe_load(out.getvalue())["paths"]
    for path in (
        "/api/v1/segments/",
        "/api/v1/segments/{id}/",
        "/api/v1/segments/estimate/",
        "/api/v1/segments/{id}/members/",
        "/api/v1/segments/{id}/import/",
        "/api/v1/segments/{id}/sizes/",
        "/api/v1/profiles/{id}/segments/",
        "/api/v1/profiles/tags/",
    ):
        assert path in paths, path
