"""Messages in the marketing panel: templates per channel (each channel's fields as a form, a variant per
language, a live preview re-rendered as the marketer types, test sends), the workspace's test profiles,
message categories, and the message log with each message's status history. Views call
`messaging.services` and `messaging.selectors`; every problem the template checks name is shown at its
field."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Case, CharField, F, QuerySet, Value, When
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils.html import format_html
from unfold.decorators import action, display

from activities.models import Profile
from messaging import forms, selectors, services
from messaging.channels import FIELDS
from messaging.models import Channel, Message, MessageStatus, Template
from panel.forms import unvalidated
from panel.model_admin import PanelModelAdmin
from panel.sites import panel_site
from panel.times import local_words
from workspaces.models import Role, TestProfile
from workspaces.permissions import acting_user

CHANNEL_ICONS: dict[str, str] = {
    Channel.PUSH: "notifications",
    Channel.SMS: "sms",
    Channel.EMAIL: "mail",
    Channel.IN_APP: "web_asset",
    Channel.WEB_PUSH: "public",
    Channel.WEBHOOK: "webhook",
}
CHANNEL_LEADS: dict[str, str] = {
    Channel.PUSH: "A notification on the phone: title, message, image, deep link and buttons.",
    Channel.SMS: "A text message; the preview counts its segments.",
    Channel.EMAIL: "Subject, preheader, HTML and plain-text bodies, with a one-click unsubscribe.",
    Channel.IN_APP: "A modal, banner or full-screen message the app shows.",
    Channel.WEB_PUSH: "A browser notification: title, message, icon and the page it opens.",
    Channel.WEBHOOK: "A request to your own service: method, URL, headers and body.",
}
STATUS_LABELS = {
    MessageStatus.HELD: "warning",
    MessageStatus.QUEUED: "info",
    MessageStatus.SENDING: "info",
    MessageStatus.SENT: "success",
    MessageStatus.DELIVERED: "success",
    MessageStatus.OPENED: "success",
    MessageStatus.CLICKED: "success",
    MessageStatus.FAILED: "danger",
    MessageStatus.SUPPRESSED: "warning",
}
LINE = re.compile(r"\bline (\d+)\b")


def profile_url(profile_id: int) -> str | None:
    """The person's page on the panel, once the People pages exist."""
    try:
        return reverse("panel:activities_profile_change", args=[profile_id])
    except NoReverseMatch:
        return None


@admin.register(Template, site=panel_site)
class TemplatePanelAdmin(PanelModelAdmin):
    list_display = ["name_link", "channel_label", "category_name", "languages", "edited"]
    list_filter = ["channel", "category"]
    search_fields = ["name"]
    ordering = ["name"]
    list_per_page = 50
    actions_list = ["test_profiles", "categories"]
    actions = None  # deleting goes through the services, one template at a time (refused while in use)
    change_list_template = "messaging/panel/template_list.html"

    # --- Columns --------------------------------------------------------------------------------------

    @display(description="Template", ordering="name")
    def name_link(self, template: Template) -> str:
        url = reverse("panel:messaging_template_change", args=[template.pk])
        return format_html('<a class="font-medium text-primary-600" href="{}">{}</a>', url, template.name)

    @display(description="Channel", ordering="channel", label=True)
    def channel_label(self, template: Template) -> str:
        return template.get_channel_display()

    @display(description="Category", ordering="category")
    def category_name(self, template: Template) -> str:
        return str(template.category_label)  # type: ignore[attr-defined]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Template]:
        categories = services.policy_for(self.membership(request).workspace_id).categories
        names = [
            When(category=c["slug"], then=Value(str(c.get("name") or c["slug"]))) for c in categories if c.get("slug")
        ]
        label = Case(*names, default=F("category"), output_field=CharField()) if names else F("category")
        return super().get_queryset(request).annotate(category_label=label)

    @display(description="Languages")
    def languages(self, template: Template) -> str:
        return ", ".join(["default", *sorted(template.variants or {})])

    @display(description="Last edited", ordering="updated_at")
    def edited(self, template: Template) -> str:
        return local_words(template.updated_at)

    @action(description="Test profiles", url_path="test-profiles-link", icon="smartphone")
    def test_profiles(self, request: HttpRequest) -> HttpResponse:
        return HttpResponseRedirect(reverse("panel:messaging_test_profiles"))

    @action(description="Categories", url_path="categories-link", icon="label")
    def categories(self, request: HttpRequest) -> HttpResponse:
        return HttpResponseRedirect(reverse("panel:messaging_categories"))

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: dict | None = None) -> HttpResponse:
        """Delete after confirming; refused while a running journey sends it (its messages would fail)."""
        if not self.has_delete_permission(request):
            raise PermissionDenied
        template = self.template(request, int(object_id) if object_id.isdigit() else 0)
        back = reverse("panel:messaging_template_change", args=[template.pk])
        if request.method == "POST":
            try:
                services.template_delete(template=template, actor=acting_user(request))
            except services.TemplateInUse as error:
                self.message_user(request, f"{template.name} cannot be deleted: {error}.", messages.ERROR)
                return HttpResponseRedirect(back)
            self.message_user(request, f"Deleted {template.name}.", messages.SUCCESS)
            return HttpResponseRedirect(reverse("panel:messaging_template_changelist"))
        from journeys.panel import journey_url
        from journeys.selectors import journeys_sending

        sending = journeys_sending(workspace_id=template.workspace_id, channel=template.channel, template=template.name)
        context = self.context(
            request,
            f"Delete {template.name}?",
            template=template,
            original=template,
            sending=[(journey, journey_url(journey)) for journey in sending],
            back_url=back,
        )
        return TemplateResponse(request, "messaging/panel/delete.html", context)

    # --- Pages ----------------------------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        pages = [
            path("preview/", view(self.preview_view), name="messaging_template_preview"),
            path("<int:pk>/test-send/", view(self.test_send_view), name="messaging_template_test_send"),
            path("test-profiles/", view(self.test_profiles_view), name="messaging_test_profiles"),
            path(
                "test-profiles/<int:pk>/remove/",
                view(self.test_profile_remove_view),
                name="messaging_test_profile_remove",
            ),
            path("categories/", view(self.categories_view), name="messaging_categories"),
        ]
        return pages + super().get_urls()

    def template(self, request: HttpRequest, pk: int) -> Template:
        if not self.has_view_permission(request):
            raise PermissionDenied
        mine = Template.objects.filter(workspace_id=self.membership(request).workspace_id)
        return get_object_or_404(mine.select_related("workspace"), pk=pk)

    def context(self, request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
        return {**self.admin_site.each_context(request), "opts": self.model._meta, "title": title, **extra}

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None) -> HttpResponse:
        """First the channel (a card each), then its fields."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        channel = request.GET.get("channel") or request.POST.get("channel")
        if channel not in Channel.values:
            choices = [
                {"value": value, "label": label, "icon": CHANNEL_ICONS[value], "lead": CHANNEL_LEADS[value]}
                for value, label in Channel.choices
            ]
            return TemplateResponse(
                request, "messaging/panel/channel_choice.html", self.context(request, "New template", channels=choices)
            )
        return self.editor(request, None, str(channel))

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        template = self.template(request, int(object_id) if object_id.isdigit() else 0)
        return self.editor(request, template, template.channel)

    # --- The editor -----------------------------------------------------------------------------------

    def _forms(
        self, request: HttpRequest, template: Template | None, channel: str, locales: list[str], posted: Any
    ) -> tuple[forms.TemplateForm, forms.ContentForm, dict[str, forms.ContentForm]]:
        categories = services.policy_for(self.membership(request).workspace_id).categories
        content = template.content if template else {}
        variants = template.variants if template else {}
        template_form = forms.TemplateForm(
            posted,
            categories=categories,
            initial={"name": template.name, "category": template.category} if template else {"category": "promotional"},
        )
        default = forms.ContentForm(
            posted, channel=channel, prefix="c", initial=forms.ContentForm.initial_from(channel, content)
        )
        by_locale = {
            locale: forms.ContentForm(
                posted,
                channel=channel,
                variant=True,
                prefix=f"v-{locale}",
                initial=forms.ContentForm.initial_from(channel, variants.get(locale) or {}),
            )
            for locale in locales
        }
        return template_form, default, by_locale

    def editor(self, request: HttpRequest, template: Template | None, channel: str) -> HttpResponse:
        can_change = self.has_change_permission(request) if template else self.has_add_permission(request)
        posted = request.POST if request.method == "POST" else None
        if posted is not None and not can_change:
            raise PermissionDenied
        workspace = self.membership(request).workspace
        locales = (
            list(posted.getlist("locales"))
            if posted is not None
            else sorted((template.variants or {}) if template else {})
        )
        locale_error, active = "", ""
        if posted is not None and "add_locale" in posted:
            try:
                wanted = forms.locale_clean(posted.get("new_locale", ""))
            except forms.ValidationError as error:
                locale_error = error.messages[0]
            else:
                if wanted.lower() in {loc.lower() for loc in locales}:
                    locale_error = f"There is a {wanted} version already."
                else:
                    locales.append(wanted)
                    active = wanted
        if posted is not None and posted.get("remove_locale") in locales:
            locales.remove(posted["remove_locale"])
        template_form, default, by_locale = self._forms(request, template, channel, locales, posted)
        left: list[str] = []
        status = 200
        saving = posted is not None and "save" in posted
        if saving:
            valid = template_form.is_valid() & default.is_valid()
            for form in by_locale.values():
                valid &= form.is_valid()
            if valid:
                kept = template.content if template else {}
                data = {
                    "name": template_form.cleaned_data["name"],
                    "channel": channel,
                    "category": template_form.cleaned_data["category"],
                    "content": default.content(kept),
                    "variants": {
                        loc: form.content((template.variants or {}).get(loc) if template else {})
                        for loc, form in by_locale.items()
                    },
                }
                try:
                    saved = services.template_save(
                        workspace=workspace, actor=acting_user(request), data=data, template=template
                    )
                except services.TemplateError as error:
                    where: dict[str, Any] = {"content": default, "name": template_form, "category": template_form}
                    where |= {f"variants.{loc}": form for loc, form in by_locale.items()}
                    left = forms.show_problems(error.problems, where)
                else:
                    self.message_user(request, f"Saved {saved.name}.", messages.SUCCESS)
                    return HttpResponseRedirect(reverse("panel:messaging_template_change", args=[saved.pk]))
            status = 400
            if not default.errors:  # open the first language whose fields have a problem
                active = next((loc for loc, form in by_locale.items() if form.errors), active)
        elif posted is not None:  # a language added or removed: drawn again, nothing saved, no errors yet
            for drawn in (template_form, default, *by_locale.values()):
                unvalidated(drawn)
        if not can_change:  # read-only, yet still sent with the preview's requests (disabled ones are not)
            for shown in (template_form, default, *by_locale.values()):
                for field in shown.fields.values():
                    field.widget.attrs["readonly"] = True
        preview_form = self._preview_form(request, locales, posted)
        preview = self._preview(request, channel, default, by_locale, preview_form)
        context = self.context(
            request,
            f"{template.name}" if template else f"New {Channel(channel).label} template",
            original=template,
            template=template,
            channel=channel,
            channel_label=Channel(channel).label,
            channel_icon=CHANNEL_ICONS[channel],
            template_form=template_form,
            default=default,
            variants=list(by_locale.items()),
            locales=locales,
            # Tabs are told apart by number: a locale (from the API) is never put into a script.
            active_tab=locales.index(active) + 1 if active in locales else 0,
            locale_error=locale_error,
            new_locale=posted.get("new_locale", "") if posted is not None and locale_error else "",
            left=left,
            can_change=can_change,
            test_profiles=TestProfile.objects.filter(workspace=workspace).count(),
            preview_form=preview_form,
            **preview,
        )
        return TemplateResponse(request, "messaging/panel/editor.html", context, status=status)

    # --- The live preview -----------------------------------------------------------------------------

    def _preview_form(self, request: HttpRequest, locales: list[str], posted: Any) -> forms.PreviewForm:
        workspace_id = self.membership(request).workspace_id
        profiles = selectors.preview_profiles(workspace_id)
        test_ids = set(TestProfile.objects.filter(workspace_id=workspace_id).values_list("profile_id", flat=True))
        choices = forms.preview_choices(profiles, test_ids)
        initial = {"preview_profile": choices[1][0] if len(choices) > 1 else ""}
        form = forms.PreviewForm(posted, profiles=choices, locales=locales, initial=initial)
        form.is_valid()
        return form

    def _preview(
        self,
        request: HttpRequest,
        channel: str,
        default: forms.ContentForm,
        by_locale: dict[str, forms.ContentForm],
        preview_form: forms.PreviewForm,
    ) -> dict[str, Any]:
        """The fields as typed (what passes the form's type checks), rendered for the chosen person."""
        workspace = self.membership(request).workspace
        for form in (default, *by_locale.values()):
            if form.is_bound and not hasattr(form, "cleaned_data"):
                form.is_valid()
        content = default.content() if default.is_bound else _unbound_content(default)
        variants = {loc: form.content() if form.is_bound else _unbound_content(form) for loc, form in by_locale.items()}
        data = preview_form.cleaned_data if hasattr(preview_form, "cleaned_data") else {}
        chosen = str(data.get("preview_profile") or preview_form.initial.get("preview_profile") or "")
        profile = None
        if chosen.isdigit():
            profile = Profile.objects.filter(workspace=workspace, merged_into__isnull=True, pk=int(chosen)).first()
        if profile is None:
            profile = Profile(workspace=workspace, traits={}, locale="")
        wanted = data.get("preview_locale") or ""
        locale = None if wanted == "" else ("" if wanted == "-" else wanted)
        preview = services.content_preview(
            workspace=workspace,
            channel=channel,
            content=content,
            variants=variants,
            profile=profile,
            locale=locale,
            event=preview_form.event() if hasattr(preview_form, "cleaned_data") else {},
        )
        shown = {**content, **(variants.get(preview.locale) or {})} if preview.locale in variants else content
        problems = []
        for problem in preview.problems:
            if problem.message == "is required":
                continue  # for saving; while writing, an empty field is no news
            name = problem.field.split(".")[1].split("[")[0] if "." in problem.field else problem.field
            line = LINE.search(problem.message)
            source = shown.get(name)
            excerpt = ""
            if line and isinstance(source, str):
                lines = source.splitlines()
                number = int(line.group(1))
                excerpt = lines[number - 1] if 0 < number <= len(lines) else ""
            problems.append({"field": forms.LABELS.get(name, name), "message": problem.message, "line": excerpt})
        variant = _variant_used(preview.locale, list(variants))
        return {
            "preview": preview,
            "preview_problems": problems,
            "preview_person": profile,
            "preview_variant": variant,
            "rendered": preview.content,
        }

    def preview_view(self, request: HttpRequest) -> HttpResponse:
        """The preview card alone, for htmx (POST of the editor's form as it is; nothing saved)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponse(status=405)
        channel = request.POST.get("channel", "")
        if channel not in FIELDS:
            return HttpResponse("Choose a channel.", status=400)
        locales = [loc for loc in request.POST.getlist("locales") if forms.LOCALE.match(loc)]
        template = None
        pk = request.POST.get("template", "")
        if pk.isdigit():
            template = self.template(request, int(pk))
        _, default, by_locale = self._forms(request, template, channel, locales, request.POST)
        preview_form = self._preview_form(request, locales, request.POST)
        context = {"channel": channel, **self._preview(request, channel, default, by_locale, preview_form)}
        return TemplateResponse(request, "messaging/panel/_preview.html", context)

    # --- Test sends and test profiles -----------------------------------------------------------------

    def test_send_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        template = self.template(request, pk)
        if request.method != "POST":
            return HttpResponseRedirect(reverse("panel:messaging_template_change", args=[pk]))
        if not self.has_change_permission(request):
            raise PermissionDenied
        sent = services.template_test_send(template=template, actor=acting_user(request))
        if not sent:
            self.message_user(request, "No test profiles yet: add one, then send the test.", messages.WARNING)
            return HttpResponseRedirect(reverse("panel:messaging_test_profiles"))
        names = ", ".join(str(m.profile) for m in sent)
        self.message_user(
            request,
            f"Test of the saved {template.name} queued to {len(sent)} test profile(s): {names}.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("panel:messaging_template_change", args=[pk]))

    def test_profiles_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        workspace = self.membership(request).workspace
        can_change = self.has_change_permission(request)
        form = forms.TestProfileForm(request.POST if request.method == "POST" else None)
        status = 200
        if request.method == "POST":
            if not can_change:
                raise PermissionDenied
            if form.is_valid():
                profile = selectors.profile_find(workspace.pk, form.cleaned_data["who"])
                if profile is None:
                    form.add_error("who", "Nobody in this workspace has that user id, email or phone.")
                else:
                    try:
                        added = services.test_profile_add(
                            workspace=workspace,
                            actor=acting_user(request),
                            profile=profile,
                            label=form.cleaned_data["label"],
                        )
                    except services.TestProfileError as error:
                        form.add_error("who", str(error))
                    else:
                        self.message_user(request, f"{added.label} gets test sends now.", messages.SUCCESS)
                        return HttpResponseRedirect(reverse("panel:messaging_test_profiles"))
            status = 400
        rows = [
            {
                "test_profile": t,
                "profile": t.profile,
                "devices": list(t.profile.push_devices.all()),
                "url": profile_url(t.profile_id),
            }
            for t in TestProfile.objects.filter(workspace=workspace)
            .select_related("profile")
            .prefetch_related("profile__push_devices")
            .order_by("label")
        ]
        context = self.context(request, "Test profiles", rows=rows, form=form, can_change=can_change)
        return TemplateResponse(request, "messaging/panel/test_profiles.html", context, status=status)

    def test_profile_remove_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        test_profile = get_object_or_404(TestProfile, workspace_id=self.membership(request).workspace_id, pk=pk)
        if request.method == "POST":
            services.test_profile_remove(test_profile=test_profile, actor=acting_user(request))
            self.message_user(request, f"{test_profile.label} gets no more test sends.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("panel:messaging_test_profiles"))

    # --- Categories -------------------------------------------------------------------------------------

    def categories_view(self, request: HttpRequest) -> HttpResponse:
        """The workspace's message categories: everyone reads them, owners change them."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        workspace = self.membership(request).workspace
        can_change = self.allows(request, Role.OWNER)
        policy = services.policy_for(workspace.pk)
        initial = [c for c in policy.categories if isinstance(c, dict)]
        # Posted rows are read as they are: compared with an initial, unchanged ones would be skipped.
        formset = (
            forms.CategoryFormSet(request.POST) if request.method == "POST" else forms.CategoryFormSet(initial=initial)
        )
        problems: list[str] = []
        status = 200
        if request.method == "POST":
            if not can_change:
                raise PermissionDenied
            if formset.is_valid():
                rows = [
                    (i, form.cleaned_data)
                    for i, form in enumerate(formset.forms)
                    if form.cleaned_data.get("slug") or form.cleaned_data.get("name")
                ]
                try:
                    services.categories_save(
                        workspace=workspace,
                        actor=acting_user(request),
                        categories=[{**data, "slug": data.get("slug", "").strip()} for _, data in rows],
                    )
                except services.TemplateError as error:
                    for problem in error.problems:
                        found = re.match(r"categories\[(\d+)\]\.(\w+)", problem.field)
                        message = problem.message[0].upper() + problem.message[1:] + "."
                        if found:
                            index, name = int(found.group(1)), found.group(2)
                            formset.forms[rows[index][0]].add_error(name, message)
                        else:
                            problems.append(message)
                else:
                    self.message_user(request, "Categories saved.", messages.SUCCESS)
                    return HttpResponseRedirect(reverse("panel:messaging_categories"))
            status = 400
        used = Counter(Template.objects.filter(workspace=workspace).values_list("category", flat=True))
        table = [(form, used.get(str(form["slug"].value() or ""), 0)) for form in formset]
        context = self.context(
            request, "Message categories", formset=formset, rows=table, problems=problems, can_change=can_change
        )
        return TemplateResponse(request, "messaging/panel/categories.html", context, status=status)


def _unbound_content(form: forms.ContentForm) -> dict[str, Any]:
    """An unbound form's initial values as content (the saved template, as the page first shows it)."""
    bound = forms.ContentForm(
        {f"{form.prefix}-{k}": v for k, v in form.initial.items()},
        channel=form.channel,
        variant=form.variant,
        prefix=form.prefix,
    )
    bound.is_valid()
    return bound.content()


def _variant_used(locale: str, locales: list[str]) -> str:
    """Which version a preview in `locale` shows: the exact one, else its language's, else the default."""
    wanted = locale.replace("_", "-").lower()
    by_lower = {loc.lower(): loc for loc in locales}
    if wanted in by_lower:
        return by_lower[wanted]
    return by_lower.get(wanted.split("-")[0], "") if wanted else ""


@admin.register(Message, site=panel_site)
class MessagePanelAdmin(PanelModelAdmin):
    """The message log, read-only: delivery state is the workers'."""

    list_display = ["created", "channel_label", "template_name", "person", "status_label", "reason"]
    list_filter = [
        "status",
        "channel",
        "category",
        ("enrollment__journey", admin.RelatedOnlyFieldListFilter),  # the journeys of this workspace's messages
        ("created_at", admin.DateFieldListFilter),
    ]
    search_fields = ["template", "profile__user_id", "profile__email", "profile__phone"]
    list_select_related = ["profile"]
    ordering = ["-created_at", "-pk"]
    list_per_page = 50
    show_full_result_count = False
    change_list_template = "messaging/panel/message_list.html"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        return {}

    @display(description="Written", ordering="created_at")
    def created(self, message: Message) -> str:
        url = reverse("panel:messaging_message_change", args=[message.pk])
        when = local_words(message.created_at, seconds=True)
        return format_html('<a class="text-primary-600" href="{}">{}</a>', url, when)

    @display(description="Channel", ordering="channel")
    def channel_label(self, message: Message) -> str:
        return dict(Channel.choices).get(message.channel, message.channel)

    @display(description="Template", ordering="template")
    def template_name(self, message: Message) -> str:
        return message.template or "—"

    @display(description="Person")
    def person(self, message: Message) -> str:
        return str(message.profile)

    @display(description="Status", ordering="status", label=STATUS_LABELS)
    def status_label(self, message: Message) -> str:
        return message.status

    @display(description="Why (suppressed, deferred, failed)")
    def reason(self, message: Message) -> str:
        return message.status_reason or "—"

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        """One message: what it was, its status history (and why it was suppressed or deferred), what was
        sent."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        mine = Message.objects.filter(workspace_id=self.membership(request).workspace_id)
        message = get_object_or_404(
            mine.select_related("profile", "enrollment__journey"), pk=int(object_id) if object_id.isdigit() else 0
        )
        template = Template.objects.filter(
            workspace_id=message.workspace_id, channel=message.channel, name=message.template
        ).first()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"{dict(Channel.choices).get(message.channel, message.channel)} message #{message.pk}",
            "message": message,
            "history": selectors.message_history(message),
            "template": template,
            "journey": message.enrollment.journey if message.enrollment_id and message.enrollment else None,
            "event": (message.payload or {}).get("event") or {},
            "is_test": bool((message.payload or {}).get("test")),
            "rendered": message.rendered or {},
            "person_url": profile_url(message.profile_id),
            "status_color": STATUS_LABELS.get(MessageStatus(message.status), "info"),
        }
        return TemplateResponse(request, "messaging/panel/message.html", context)
