"""Management-API shapes for journeys and versions."""

from __future__ import annotations

from rest_framework import serializers

from journeys.models import Journey, JourneyVersion


class JourneyVersionSerializer(serializers.ModelSerializer):
    published_by = serializers.CharField(source="published_by.email", default=None, read_only=True, allow_null=True)

    class Meta:
        model = JourneyVersion
        fields = ["number", "published_at", "published_by", "document"]


class JourneySerializer(serializers.ModelSerializer):
    live_version = serializers.IntegerField(source="live_version.number", default=None, read_only=True, allow_null=True)

    class Meta:
        model = Journey
        fields = ["id", "name", "status", "live_version", "created_at", "updated_at"]


class JourneyDetailSerializer(JourneySerializer):
    class Meta(JourneySerializer.Meta):
        fields = [*JourneySerializer.Meta.fields, "draft"]
