"""Named test personas: workspaces with members of each role and their keys (healthchecks' alice/bob)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth.models import User

from workspaces.models import Membership, Role, Workspace
from workspaces.services import api_token_create, membership_set, workspace_create


@dataclass
class Tenant:
    workspace: Workspace
    write_key: str
    owner: User
    tokens: dict[str, str] = field(default_factory=dict)  # role -> raw management token
    members: dict[str, User] = field(default_factory=dict)  # role -> user

    def auth(self, role: str = Role.OWNER) -> dict[str, str]:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.tokens[role]}"}


def tenant_create(name: str) -> Tenant:
    slug = name.lower()
    created = workspace_create(name=name, owner_email=f"owner@{slug}.test")
    owner = created.owner.user
    tenant = Tenant(workspace=created.workspace, write_key=created.write_key, owner=owner)
    tenant.tokens[Role.OWNER] = created.api_token
    tenant.members[Role.OWNER] = owner
    for role in (Role.MARKETER, Role.ANALYST):
        user = User.objects.create_user(username=f"{role}@{slug}.test", email=f"{role}@{slug}.test", password="pw")
        membership: Membership = membership_set(workspace=created.workspace, user=user, role=role, actor=owner)
        tenant.tokens[role] = api_token_create(membership=membership, name=f"{role} token").raw
        tenant.members[role] = user
    owner.set_password("pw")
    owner.save(update_fields=["password"])
    return tenant
