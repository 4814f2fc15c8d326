"""Management-API shapes for templates and messages."""

from __future__ import annotations

from rest_framework import serializers

from messaging.models import Message, Template


class TemplateSerializer(serializers.ModelSerializer):
    class Meta:
        model = Template
        fields = ["id", "name", "channel", "category", "content", "variants", "created_at", "updated_at"]
        read_only_fields = fields


class MessageSerializer(serializers.ModelSerializer):
    user_id = serializers.CharField(source="profile.user_id", default=None, read_only=True, allow_null=True)

    class Meta:
        model = Message
        fields = [
            "id",
            "profile",
            "user_id",
            "channel",
            "template",
            "category",
            "node",
            "status",
            "status_reason",
            "attempts",
            "created_at",
            "sent_at",
            "send_after",
            "provider_message_id",
            "rendered",
        ]
        read_only_fields = fields


class PreviewRequest(serializers.Serializer):
    profile_id = serializers.IntegerField(required=False)
    user_id = serializers.CharField(required=False, max_length=255)
    event = serializers.DictField(required=False, default=dict)

    def validate(self, attrs: dict) -> dict:
        if "profile_id" not in attrs and "user_id" not in attrs:
            raise serializers.ValidationError({"profile_id": "give profile_id or user_id: whose preview?"})
        return attrs
