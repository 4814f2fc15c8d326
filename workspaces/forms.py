"""The Settings pages' forms for the workspace, its keys and its members, in the panel's words. They only
check types; `workspaces.services` decides (its refusals are shown at these fields)."""

from __future__ import annotations

import zoneinfo
from functools import cache
from typing import Any

from django import forms
from django.contrib.auth.forms import SetPasswordForm
from unfold.forms import BASE_INPUT_CLASSES
from unfold.widgets import (
    UnfoldAdminEmailInputWidget,
    UnfoldAdminRadioSelectWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextInputWidget,
)

from workspaces.models import Role

ROLE_HELP = {
    Role.OWNER: "Everything, including keys, members and settings",
    Role.MARKETER: "Builds and launches journeys, segments and templates",
    Role.ANALYST: "Reads and reports; changes nothing",
}
ROLE_CHOICES = [(role.value, f"{role.label} — {ROLE_HELP[role]}") for role in Role]


@cache
def timezone_choices() -> list[tuple[str, str]]:
    return [(name, name.replace("_", " ")) for name in sorted(zoneinfo.available_timezones())]


class WorkspaceForm(forms.Form):
    name = forms.CharField(label="Workspace name", max_length=200, widget=UnfoldAdminTextInputWidget())
    timezone = forms.ChoiceField(
        label="Timezone",
        help_text="Times in the panel are shown in it; profiles without a timezone of their own use it too.",
        widget=UnfoldAdminSelectWidget(),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["timezone"].choices = timezone_choices()  # type: ignore[attr-defined]


class KeyCreateForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=100,
        help_text="Say where it is used, e.g. “iOS app” or “Backend (production)”.",
        widget=UnfoldAdminTextInputWidget(attrs={"autofocus": ""}),
    )
    # One key per form shown: the page answering the POST shows the secret, and reloading it posts again.
    once = forms.CharField(max_length=64, required=False, widget=forms.HiddenInput)


class InviteForm(forms.Form):
    email = forms.EmailField(
        label="Email",
        max_length=254,
        widget=UnfoldAdminEmailInputWidget(attrs={"autofocus": "", "autocomplete": "off"}),
    )
    role = forms.ChoiceField(
        label="Role", choices=ROLE_CHOICES, initial=Role.MARKETER, widget=UnfoldAdminRadioSelectWidget()
    )


class RoleForm(forms.Form):
    role = forms.ChoiceField(label="Role", choices=ROLE_CHOICES, widget=UnfoldAdminRadioSelectWidget())


class MemberSetPasswordForm(SetPasswordForm):
    """Django's set-password form in the panel's inputs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.widget.attrs["class"] = " ".join(BASE_INPUT_CLASSES)
