"""Admin for the message outbox, scoped by workspace and read-only: delivery state is the workers'."""

from __future__ import annotations

from django.contrib import admin

from messaging.models import Message
from workspaces.admin_scope import ReadOnlyScopedAdmin


@admin.register(Message)
class MessageAdmin(ReadOnlyScopedAdmin):
    list_display = ["created_at", "channel", "template", "profile", "status", "attempts"]
    list_filter = ["workspace", "channel", "status"]
    search_fields = ["template", "profile__user_id", "idempotency_key"]
    raw_id_fields = ["profile", "enrollment"]
    show_full_result_count = False
