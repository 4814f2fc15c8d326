"""`field__any=[…]` selects what `field__in=[…]` selects, on PostgreSQL (one array parameter) and on the
embedded default's SQLite (IN)."""

from __future__ import annotations

import pytest
from django.db import connections

from activities.models import Profile
from tests.personas import tenant_create


@pytest.mark.django_db(databases=["default", "embedded"])
@pytest.mark.parametrize("alias", ["default", "embedded"])
def test_any_selects_what_in_selects(alias):
    if alias == "default":
        workspace = tenant_create("Acme").workspace
    else:
        from workspaces.models import Workspace

        workspace = Workspace.objects.using(alias).create(name="Acme", slug="acme")
    profiles = Profile.objects.using(alias)
    created = [profiles.create(workspace=workspace, user_id=f"u{i}").pk for i in range(5)]
    for wanted in ([created[0], created[3]], {created[1]}, created, [created[2], 10**12], []):
        expected = set(profiles.filter(pk__in=wanted).values_list("pk", flat=True))
        assert set(profiles.filter(pk__any=wanted).values_list("pk", flat=True)) == expected
        assert (
            set(profiles.filter(workspace__any=[workspace.pk], pk__any=wanted).values_list("pk", flat=True)) == expected
        )
    assert set(profiles.filter(user_id__any=["u1", "u4", "nobody"]).values_list("user_id", flat=True)) == {"u1", "u4"}
    sql, _ = profiles.filter(pk__any=created).query.get_compiler(using=alias).as_sql()
    assert ("= ANY(" in sql) == (connections[alias].vendor == "postgresql")
