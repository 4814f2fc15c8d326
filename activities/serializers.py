"""Management-API shapes for profiles and activities; explicit fields, input and output apart."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from activities.models import Activity, IngestionError, Profile, PushDevice
from segments.zones import zone_named


class PushDeviceSerializer(serializers.ModelSerializer):
    class Meta:
        model = PushDevice
        fields = ["token", "platform", "created_at", "updated_at"]


class ProfileSerializer(serializers.ModelSerializer):
    anonymous_ids = serializers.SerializerMethodField()
    push_devices = PushDeviceSerializer(many=True, read_only=True)

    class Meta:
        model = Profile
        fields = [
            "id",
            "user_id",
            "anonymous_ids",
            "traits",
            "email",
            "phone",
            "timezone",
            "locale",
            "consent",
            "tags",
            "push_devices",
            "first_seen",
            "last_seen",
            "created_at",
        ]

    def get_anonymous_ids(self, profile: Profile) -> list[str]:
        identities = getattr(profile, "anonymous_identities", None)
        if identities is None:
            identities = profile.identities.filter(kind="anonymous_id").order_by("pk")
        return [identity.value for identity in identities]


class ProfileUpdateSerializer(serializers.Serializer):
    traits = serializers.DictField(required=False, help_text="Merged into the traits; null removes a trait")
    tags_add = serializers.ListField(child=serializers.CharField(max_length=100), required=False)
    tags_remove = serializers.ListField(child=serializers.CharField(max_length=100), required=False)
    timezone = serializers.CharField(required=False, max_length=64)
    locale = serializers.CharField(required=False, max_length=35, allow_blank=True)
    consent = serializers.DictField(
        child=serializers.BooleanField(),
        required=False,
        help_text='Channel or category to allowed, e.g. {"email": false}',
    )

    def validate_timezone(self, value: str) -> str:
        if zone_named(value) is None:
            raise serializers.ValidationError(f"{value[:80]!r} is not an IANA time zone name")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs:
            raise serializers.ValidationError(
                "Nothing to change: send traits, tags_add, tags_remove, timezone, locale or consent."
            )
        return attrs


class ActivitySerializer(serializers.ModelSerializer):
    user_id = serializers.CharField(source="profile.user_id", read_only=True, allow_null=True)

    class Meta:
        model = Activity
        fields = [
            "id",
            "profile",
            "user_id",
            "name",
            "type",
            "properties",
            "context",
            "timestamp",
            "received_at",
            "message_id",
        ]


class IngestionErrorSerializer(serializers.ModelSerializer):
    class Meta:
        model = IngestionError
        fields = ["id", "kind", "endpoint", "field", "error", "message_id", "activity", "excerpt", "created_at"]
