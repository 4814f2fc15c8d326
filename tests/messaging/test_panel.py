"""The messages' panel pages through Django's test client: templates edited as each channel's fields
(bad input at its field, nothing saved), locale versions, the live preview of unsaved fields (SMS
segments, the email's HTML, Liquid errors with their line), test sends and test profiles, categories,
the message log with each message's history; every page and action held to role and workspace."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from activities.models import Activity, Profile
from messaging import services
from messaging.models import Message, MessageStatus, MessagingPolicy, Template
from tests.messaging.helpers import journey_sending
from tests.personas import Tenant
from workspaces import models as workspace_models
from workspaces.models import AuditLogEntry, Role

pytestmark = pytest.mark.django_db

EDITOR_SMS = {"channel": "sms", "name": "welcome", "category": "promotional", "c-body": "Hi there", "save": "1"}
DRAWN = {k: v for k, v in EDITOR_SMS.items() if k != "save"}  # a redraw (a language added or removed)


def browser(tenant: Tenant, role: str = Role.MARKETER) -> Client:
    client = Client()
    client.force_login(tenant.members[role])
    return client


def person(tenant: Tenant, user_id: str = "ayse", **fields: Any) -> Profile:
    defaults: dict[str, Any] = {"traits": {"first_name": "Ayşe"}, "locale": "tr", "phone": "+905550000000"}
    return Profile.objects.create(workspace=tenant.workspace, user_id=user_id, **(defaults | fields))


def template(tenant: Tenant, **fields: Any) -> Template:
    data = {"name": "welcome", "channel": "sms", "content": {"body": "Hi {{ profile.first_name }}"}} | fields
    return services.template_save(workspace=tenant.workspace, actor=tenant.owner, data=data)


ADD = reverse("panel:messaging_template_add")
PREVIEW = reverse("panel:messaging_template_preview")
LIST = reverse("panel:messaging_template_changelist")
TESTERS = reverse("panel:messaging_test_profiles")
CATEGORIES = reverse("panel:messaging_categories")
LOG = reverse("panel:messaging_message_changelist")


def change_url(t: Template) -> str:
    return reverse("panel:messaging_template_change", args=[t.pk])


# --- The list and the channel choice ---------------------------------------------------------------------


def test_an_empty_list_says_what_to_do_first(acme):
    page = browser(acme).get(LIST)
    assert page.status_code == 200
    assert b"No templates yet" in page.content and ADD.encode() in page.content


def test_the_list_shows_the_workspaces_templates_only(acme, globex):
    template(acme, name="acme-hello")
    template(globex, name="globex-hello")
    page = browser(acme).get(LIST)
    assert b"acme-hello" in page.content and b"globex-hello" not in page.content
    assert b"Promotional" in page.content  # the category's name, not its key


def test_a_new_template_starts_with_its_channel(acme):
    choice = browser(acme).get(ADD)
    assert choice.status_code == 200
    for channel in ("push", "sms", "email", "in_app", "web_push", "webhook"):
        assert f'data-channel="{channel}"'.encode() in choice.content
    editor = browser(acme).get(ADD + "?channel=email")
    assert editor.status_code == 200
    for field in ("c-subject", "c-preheader", "c-html", "c-text", "c-from_email", "c-reply_to"):
        assert f'name="{field}"'.encode() in editor.content
    assert b"<textarea" in editor.content and b"JSON" not in editor.content


# --- Saving: each channel's fields, and every bad input at its field -----------------------------------------


def test_an_sms_template_is_saved_from_its_fields(acme):
    answer = browser(acme).post(ADD + "?channel=sms", EDITOR_SMS)
    saved = Template.objects.get(workspace=acme.workspace)
    assert answer.status_code == 302 and answer["Location"] == change_url(saved)
    assert (saved.channel, saved.name, saved.content, saved.variants) == ("sms", "welcome", {"body": "Hi there"}, {})
    assert AuditLogEntry.objects.filter(workspace=acme.workspace, action="created", object_type="template").exists()


def test_a_push_template_keeps_buttons_data_and_platform_options(acme):
    fields = {
        "channel": "push",
        "name": "sale",
        "category": "promotional",
        "c-title": "Sale",
        "c-body": "{{ profile.first_name }}, 20% off",
        "c-deep_link": "myapp://sale",
        "c-buttons_0_label": "Open",
        "c-buttons_0_action": "myapp://sale",
        "c-buttons_1_label": "Later",
        "c-data": "order_id: {{ event.order_id }}\nsource: nudge",
        "c-android_priority": "high",
        "save": "1",
    }
    assert browser(acme).post(ADD, fields).status_code == 302
    saved = Template.objects.get(workspace=acme.workspace)
    assert saved.content["buttons"] == [{"label": "Open", "action": "myapp://sale"}, {"label": "Later"}]
    assert saved.content["data"] == {"order_id": "{{ event.order_id }}", "source": "nudge"}
    assert saved.content["platform"] == {"android": {"priority": "high"}}
    page = browser(acme).get(change_url(saved))
    assert b'value="Later"' in page.content and b"order_id: {{ event.order_id }}" in page.content


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"c-body": ""}, "c-body", "Message is required"),
        ({"c-body": "Hi\n{{ profile.first_name | nope }}"}, "c-body", "line 2"),
        ({"c-body": "Hi {% if %}"}, "c-body", "Liquid error on line 1"),
        ({"name": "has spaces"}, "name", "letters, digits"),
        ({"name": ""}, "name", "Name the template"),
        ({"category": "gossip"}, "category", "Select a valid choice"),
        ({"c-body": "x" * 1601}, "c-body", "at most 1,600"),
    ],
)
def test_bad_sms_fields_are_named_at_their_field_and_nothing_is_saved(acme, fields, field, words):
    answer = browser(acme).post(ADD, EDITOR_SMS | fields)
    assert answer.status_code == 400
    errors = _errors(answer)
    assert field in errors and words in errors[field], errors
    assert not Template.objects.filter(workspace=acme.workspace).exists()


def test_webhook_and_email_problems_are_named_at_their_field(acme):
    webhook = {"channel": "webhook", "name": "hook", "category": "promotional", "save": "1", "c-method": "POST"}
    answer = browser(acme).post(ADD, webhook | {"c-url": "http://127.0.0.1/x", "c-headers": "no colon here"})
    errors = _errors(answer)
    assert "Line 1: write it as name: value" in errors["c-headers"]
    answer = browser(acme).post(ADD, webhook | {"c-url": "nowhere", "c-headers": "X-Key: 1"})
    assert "Must be a URL" in _errors(answer)["c-url"] and answer.status_code == 400
    email = {"channel": "email", "name": "mail", "category": "promotional", "c-subject": "Hi", "save": "1"}
    answer = browser(acme).post(ADD, email)
    assert "html or a text body" in _errors(answer)["c-html"]
    assert not Template.objects.filter(workspace=acme.workspace).exists()


def test_a_taken_name_is_named_at_the_name(acme):
    template(acme)
    answer = browser(acme).post(ADD, EDITOR_SMS)
    assert answer.status_code == 400 and "already exists" in _errors(answer)["name"]
    assert Template.objects.filter(workspace=acme.workspace).count() == 1


def test_a_language_version_is_added_edited_and_removed(acme):
    saved = template(acme)
    marketer = browser(acme)
    added = marketer.post(change_url(saved), DRAWN | {"add_locale": "1", "new_locale": "tr"})
    assert added.status_code == 200 and b'data-tab="tr"' in added.content and b'name="v-tr-body"' in added.content
    assert b"errorlist" not in added.content  # drawn again, not checked yet
    bad = marketer.post(change_url(saved), DRAWN | {"add_locale": "1", "new_locale": "türkçe!"})
    assert b"language code" in bad.content and b'data-tab="t' not in bad.content
    answer = marketer.post(change_url(saved), EDITOR_SMS | {"locales": "tr", "v-tr-body": "Merhaba {{ x | nope }}"})
    assert answer.status_code == 400 and "unknown filter" in _errors(answer)["v-tr-body"]
    assert b"{ tab: 1 }" in answer.content  # the tr tab is the one open
    answer = marketer.post(change_url(saved), EDITOR_SMS | {"locales": "tr", "v-tr-body": "Merhaba"})
    assert answer.status_code == 302
    saved.refresh_from_db()
    assert saved.variants == {"tr": {"body": "Merhaba"}} and saved.content == {"body": "Hi there"}
    removed = marketer.post(change_url(saved), DRAWN | {"locales": "tr", "remove_locale": "tr"})
    assert b'data-tab="tr"' not in removed.content
    saved.refresh_from_db()
    assert saved.variants == {"tr": {"body": "Merhaba"}}  # removing a tab saves nothing until Save


# --- The live preview of what is typed ----------------------------------------------------------------------


def test_the_preview_renders_unsaved_sms_for_the_chosen_person_with_its_segments(acme):
    ayse = person(acme)
    preview = browser(acme).post(
        PREVIEW, {"channel": "sms", "c-body": "Hi {{ profile.first_name }}", "preview_profile": ayse.pk}
    )
    assert preview.status_code == 200
    assert b"Hi Ay\xc5\x9fe" in preview.content
    assert b'data-sms-encoding="UCS-2"' in preview.content and b'data-sms-segments="1"' in preview.content
    long = browser(acme).post(PREVIEW, {"channel": "sms", "c-body": "a" * 161})
    assert b'data-sms-encoding="GSM-7"' in long.content and b'data-sms-segments="2"' in long.content
    assert not Template.objects.exists()


def test_the_preview_uses_the_persons_language_or_the_one_chosen(acme):
    ayse = person(acme)
    fields = {"channel": "sms", "c-body": "Hello", "locales": "tr", "v-tr-body": "Merhaba", "preview_profile": ayse.pk}
    assert b"Merhaba" in browser(acme).post(PREVIEW, fields).content
    assert b">Hello<" in browser(acme).post(PREVIEW, fields | {"preview_locale": "-"}).content


def test_the_preview_names_a_liquid_error_at_its_line_and_renders_the_rest(acme):
    fields = {"channel": "email", "c-subject": "Sale {{ x | nope }}", "c-html": "<p>Line one</p>\n<p>{% if %}</p>"}
    preview = browser(acme).post(PREVIEW, fields)
    assert b"data-preview-problems" in preview.content
    assert b"line 2" in preview.content and b"&lt;p&gt;{% if %}&lt;/p&gt;" in preview.content  # the line itself
    assert b"unknown filter" in preview.content
    ok = browser(acme).post(
        PREVIEW,
        {"channel": "email", "c-subject": "Hi", "c-html": "<p>Hi {{ profile.first_name | default: 'there' }}</p>"},
    )
    assert b'sandbox=""' in ok.content and b'srcdoc="&lt;p&gt;Hi there&lt;/p&gt;"' in ok.content


def test_the_service_previews_content_that_is_not_saved(acme):
    ayse = person(acme)
    preview = services.content_preview(
        workspace=acme.workspace,
        channel="push",
        content={"title": "Hi {{ profile.first_name }}", "body": "{{ event.product_name }} {% endif %}"},
        variants={"tr": {"title": "Merhaba {{ profile.first_name }}"}},
        profile=ayse,
        event={"product_name": "Shoes"},
    )
    assert preview.locale == "tr" and preview.content == {"title": "Merhaba Ayşe"}
    assert [p.field for p in preview.problems] == ["content.body"]


def test_the_editor_shows_a_saved_templates_preview_at_once(acme):
    person(acme)
    saved = template(acme)
    page = browser(acme, Role.ANALYST).get(change_url(saved))
    assert page.status_code == 200 and b"Hi Ay\xc5\x9fe" in page.content and b"data-segments" in page.content


# --- Test sends and test profiles ----------------------------------------------------------------------------


def test_a_test_send_goes_to_the_test_profiles(acme):
    saved = template(acme)
    marketer = browser(acme)
    url = reverse("panel:messaging_template_test_send", args=[saved.pk])
    none = marketer.post(url)
    assert none["Location"] == TESTERS and not Message.objects.exists()
    ayse = person(acme)
    assert marketer.post(TESTERS, {"who": "+905550000000", "label": "Ayşe phone"})["Location"] == TESTERS
    listed = marketer.get(TESTERS)
    assert "Ayşe phone" in listed.content.decode()
    marketer.post(url)
    message = Message.objects.get()
    assert (message.profile, message.template, message.payload["test"]) == (ayse, "welcome", True)


def test_test_profiles_bad_input_is_named_and_removal_works(acme, globex):
    ayse = person(acme)
    marketer = browser(acme)
    assert "Nobody in this workspace" in _errors(marketer.post(TESTERS, {"who": "nobody"}))["who"]
    assert "Say who" in _errors(marketer.post(TESTERS, {"who": ""}))["who"]
    person(globex, "gus", email="gus@globex.test")
    assert "Nobody" in _errors(marketer.post(TESTERS, {"who": "gus@globex.test"}))["who"]
    marketer.post(TESTERS, {"who": "ayse"})
    assert "already a test profile" in _errors(marketer.post(TESTERS, {"who": "ayse"}))["who"]
    tester = workspace_models.TestProfile.objects.get(profile=ayse)
    theirs = workspace_models.TestProfile.objects.create(
        workspace=globex.workspace, profile=Profile.objects.get(user_id="gus"), label="g"
    )
    assert marketer.post(reverse("panel:messaging_test_profile_remove", args=[theirs.pk])).status_code == 404
    assert (
        browser(acme, Role.ANALYST).post(reverse("panel:messaging_test_profile_remove", args=[tester.pk])).status_code
        == 403
    )
    assert browser(acme, Role.ANALYST).post(TESTERS, {"who": "ayse"}).status_code == 403
    read_only = browser(acme, Role.ANALYST).get(TESTERS)
    assert read_only.status_code == 200 and b"Add a test profile" not in read_only.content
    assert b"ayse" in read_only.content and b">Remove<" not in read_only.content
    marketer.post(reverse("panel:messaging_test_profile_remove", args=[tester.pk]))
    assert not workspace_models.TestProfile.objects.filter(workspace=acme.workspace).exists()
    assert workspace_models.TestProfile.objects.filter(pk=theirs.pk).exists()


# --- Categories ------------------------------------------------------------------------------------------------


def _categories(rows: list[tuple[str, str, bool]]) -> dict[str, str]:
    data = {"form-TOTAL_FORMS": str(len(rows)), "form-INITIAL_FORMS": "0"}
    for i, (slug, name, transactional) in enumerate(rows):
        data |= {f"form-{i}-slug": slug, f"form-{i}-name": name} | (
            {f"form-{i}-transactional": "on"} if transactional else {}
        )
    return data


def test_owners_edit_categories_and_others_read_them(acme):
    owner = browser(acme, Role.OWNER)
    rows = [
        ("transactional", "Transactional", True),
        ("promotional", "Promotional", False),
        ("news", "Newsletter", False),
    ]
    assert owner.post(CATEGORIES, _categories(rows))["Location"] == CATEGORIES
    policy = MessagingPolicy.objects.get(workspace=acme.workspace)
    assert policy.categories[2] == {"slug": "news", "name": "Newsletter", "transactional": False}
    template(acme, category="news")
    page = browser(acme).get(CATEGORIES)
    assert page.status_code == 200 and b"Newsletter" in page.content and b"Save categories" not in page.content
    assert b"data-templates>1<" in page.content
    assert browser(acme).post(CATEGORIES, _categories(rows[:2])).status_code == 403
    assert len(MessagingPolicy.objects.get(workspace=acme.workspace).categories) == 3


def test_bad_categories_are_named_and_nothing_is_saved(acme):
    template(acme, category="promotional")
    owner = browser(acme, Role.OWNER)
    twice = owner.post(CATEGORIES, _categories([("news", "News", False), ("news", "Again", False)]))
    assert twice.status_code == 400 and "listed twice" in twice.content.decode()
    assert "used by 1 template" in twice.content.decode()
    nameless = owner.post(CATEGORIES, _categories([("promotional", "", False), ("bad slug", "X", False)]))
    text = nameless.content.decode()
    assert "1–100 characters" in text and "letters, digits" in text
    assert MessagingPolicy.objects.get(workspace=acme.workspace).categories[1]["slug"] == "promotional"
    assert len(MessagingPolicy.objects.get(workspace=acme.workspace).categories) == 2


# --- The message log -----------------------------------------------------------------------------------------


def _message(tenant: Tenant, profile: Profile, **fields: Any) -> Message:
    defaults: dict[str, Any] = {
        "channel": "sms",
        "template": "welcome",
        "idempotency_key": f"k{Message.objects.count()}",
    }
    return Message.objects.create(workspace=tenant.workspace, profile=profile, **(defaults | fields))


def test_the_log_lists_filters_and_shows_why_a_message_was_suppressed(acme, globex):
    ayse = person(acme)
    suppressed = _message(acme, ayse, status=MessageStatus.SUPPRESSED, status_reason="opted out of promotional")
    sent = _message(acme, ayse, status=MessageStatus.SENT, sent_at=datetime(2026, 11, 2, tzinfo=UTC))
    theirs = _message(globex, person(globex, "gus"), status=MessageStatus.SENT)
    analyst = browser(acme, Role.ANALYST)
    page = analyst.get(LOG)
    assert page.status_code == 200 and b"opted out of promotional" in page.content and b"gus" not in page.content
    filtered = analyst.get(LOG + "?status__exact=sent")
    assert filtered.status_code == 200 and b"opted out" not in filtered.content
    assert b"opted out" not in analyst.get(LOG + "?channel__exact=email").content
    detail = analyst.get(reverse("panel:messaging_message_change", args=[suppressed.pk]))
    assert detail.status_code == 200
    assert b'data-step="Suppressed"' in detail.content and b"opted out of promotional" in detail.content
    Activity.objects.create(
        workspace=acme.workspace,
        profile=ayse,
        name="message_delivered",
        type="track",
        properties={"message_id": sent.pk, "reported": "delivered"},
        timestamp=datetime(2026, 11, 2, 0, 1, tzinfo=UTC),
        received_at=datetime(2026, 11, 2, 0, 1, tzinfo=UTC),
        message_id="nudge:message_delivered:x",
    )
    history = analyst.get(reverse("panel:messaging_message_change", args=[sent.pk])).content.decode()
    assert (
        history.index('data-step="Written"')
        < history.index('data-step="Sent"')
        < history.index('data-step="Delivered"')
    )
    assert analyst.get(reverse("panel:messaging_message_change", args=[theirs.pk])).status_code == 404
    assert analyst.post(reverse("panel:messaging_message_change", args=[sent.pk])).status_code in (403, 405, 200)
    deferred = _message(
        acme, ayse, status=MessageStatus.QUEUED, status_reason="deferred: quiet hours until 2026-11-03T08:00:00+00:00"
    )
    page = analyst.get(reverse("panel:messaging_message_change", args=[deferred.pk]))
    assert b'data-step="Deferred"' in page.content and b"quiet hours until" in page.content


def test_nobody_adds_changes_or_deletes_messages(acme):
    message = _message(acme, person(acme))
    owner = browser(acme, Role.OWNER)
    assert owner.get(reverse("panel:messaging_message_add")).status_code == 403
    assert owner.post(reverse("panel:messaging_message_delete", args=[message.pk])).status_code == 403
    assert Message.objects.filter(pk=message.pk).exists()


# --- Roles and workspaces ------------------------------------------------------------------------------------


def test_analysts_read_templates_but_change_nothing(acme):
    saved = template(acme)
    analyst = browser(acme, Role.ANALYST)
    page = analyst.get(change_url(saved))
    assert page.status_code == 200 and b"Save template" not in page.content and b"data-test-send" not in page.content
    body = re.search(r'<textarea[^>]*name="c-body"[^>]*>', page.content.decode())
    assert body is not None and "readonly" in body.group(0)
    assert b"New template" not in analyst.get(LIST).content
    assert analyst.post(change_url(saved), EDITOR_SMS | {"c-body": "Changed"}).status_code == 403
    assert analyst.get(ADD).status_code == 403 and analyst.post(ADD, EDITOR_SMS).status_code == 403
    assert analyst.post(reverse("panel:messaging_template_test_send", args=[saved.pk])).status_code == 403
    assert analyst.post(reverse("panel:messaging_template_delete", args=[saved.pk]), {"post": "yes"}).status_code == 403
    assert analyst.post(PREVIEW, {"channel": "sms", "c-body": "Hi"}).status_code == 200  # a preview changes nothing
    saved.refresh_from_db()
    assert saved.content == {"body": "Hi {{ profile.first_name }}"} and not Message.objects.exists()


def test_another_workspaces_templates_are_not_found(acme, globex):
    theirs = template(globex)
    marketer = browser(acme)
    assert marketer.get(change_url(theirs)).status_code == 404
    assert marketer.post(change_url(theirs), EDITOR_SMS).status_code == 404
    assert marketer.post(reverse("panel:messaging_template_test_send", args=[theirs.pk])).status_code == 404
    assert marketer.post(PREVIEW, {"channel": "sms", "template": theirs.pk, "c-body": "x"}).status_code == 404
    stranger = person(globex, "gus")
    preview = marketer.post(
        PREVIEW, {"channel": "sms", "c-body": "{{ profile.user_id }}!", "preview_profile": stranger.pk}
    )
    assert b"gus" not in preview.content
    theirs.refresh_from_db()
    assert theirs.content == {"body": "Hi {{ profile.first_name }}"}


def test_a_hostile_locale_from_the_api_never_reaches_a_script(acme):
    saved = template(acme)
    Template.objects.filter(pk=saved.pk).update(variants={"x'); alert(1); ('": {"body": "x"}})
    page = browser(acme).get(change_url(saved)).content.decode()
    scripts = re.findall(r'(?:x-data|@click|:class|x-show)="([^"]*)"', page)
    assert '@click="tab = 1"' in page and scripts and not any("alert" in script for script in scripts)
    assert "x&#x27;); alert(1); (&#x27;" in page  # shown, escaped


def test_marketers_delete_a_template_with_an_audit_entry(acme):
    saved = template(acme)
    assert browser(acme).get(reverse("panel:messaging_template_delete", args=[saved.pk])).status_code == 200
    answer = browser(acme).post(reverse("panel:messaging_template_delete", args=[saved.pk]), {"post": "yes"})
    assert answer.status_code == 302 and not Template.objects.filter(pk=saved.pk).exists()
    assert AuditLogEntry.objects.filter(workspace=acme.workspace, action="deleted", object_type="template").exists()


def test_a_template_a_live_journey_sends_is_not_deleted_and_the_page_says_which(acme):
    saved = template(acme)
    journey = journey_sending(acme, {"type": "send", "channel": "sms", "template": "welcome"})
    url = reverse("panel:messaging_template_delete", args=[saved.pk])
    page = browser(acme).get(url).content.decode()
    assert "It cannot be deleted while a running journey sends it" in page and journey.name in page
    assert "data-confirm" not in page
    answer = browser(acme).post(url, {"post": "yes"}, follow=True)
    assert answer.redirect_chain[0][0] == change_url(saved)
    assert "welcome cannot be deleted: journey &#x27;on signup&#x27; (live) sends it." in answer.content.decode()
    assert Template.objects.filter(pk=saved.pk).exists()


def _errors(response: Any) -> dict[str, str]:
    """Each field's errors as text, from the page: the form objects the view rendered."""
    found: dict[str, str] = {}
    for context in response.context or []:
        for key in ("template_form", "default", "form"):
            form = context.get(key) if hasattr(context, "get") else None
            if form is not None and hasattr(form, "errors"):
                for name, errors in form.errors.items():
                    html_name = form.add_prefix(name) if name != "__all__" else name
                    found.setdefault(html_name, " ".join(errors))
        for _locale, form in (context.get("variants") or []) if hasattr(context, "get") else []:
            for name, errors in form.errors.items():
                found[form.add_prefix(name)] = " ".join(errors)
        left = context.get("left") if hasattr(context, "get") else None
        if left:
            found["__left__"] = " ".join(left)
    return found
