"""The panel's forms for activities and people: the live stream's filters and the privacy deletion's
confirmation, in the panel's words."""

from __future__ import annotations

from typing import Any

from django import forms
from unfold.widgets import UnfoldAdminTextInputWidget

from activities.models import Profile


class StreamFilterForm(forms.Form):
    """Which incoming activities the live stream shows: one name, one profile, or all of them."""

    name = forms.CharField(
        required=False,
        max_length=200,
        label="Activity",
        widget=UnfoldAdminTextInputWidget(attrs={"list": "tracked-names", "placeholder": "Every activity"}),
    )
    profile = forms.CharField(
        required=False,
        max_length=255,
        label="Profile",
        widget=UnfoldAdminTextInputWidget(attrs={"placeholder": "User id, anonymous id or email"}),
    )

    def __init__(self, *args: Any, profile_find: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.profile_find = profile_find  # term -> the profile it names, or None

    def clean_profile(self) -> Profile | None:
        term = self.cleaned_data["profile"].strip()
        if not term:
            return None
        found = self.profile_find(term)
        if found is None:
            raise forms.ValidationError("No profile has this user id, anonymous id or email.")
        return found


class ProfileDeleteForm(forms.Form):
    """The owner types the profile's name, as shown, to delete it for good."""

    confirm = forms.CharField(
        max_length=255,
        label="Type the profile's name to confirm",
        widget=UnfoldAdminTextInputWidget(attrs={"autocomplete": "off"}),
    )

    def __init__(self, *args: Any, profile: Profile, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.profile = profile
        self.fields["confirm"].help_text = f"Type “{profile}” exactly."

    def clean_confirm(self) -> str:
        typed = self.cleaned_data["confirm"].strip()
        if typed != str(self.profile):
            raise forms.ValidationError(f"This is not “{self.profile}”: nothing was deleted.")
        return typed
