"""Management-API shapes for journeys and versions."""

from __future__ import annotations

from rest_framework import serializers

from journeys.models import Journey, JourneyBacktest, JourneyVersion


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


class JourneyBacktestSerializer(serializers.ModelSerializer):
    requested_by = serializers.CharField(source="requested_by.email", default=None, read_only=True, allow_null=True)
    progress = serializers.FloatField(read_only=True, help_text="0 to 1: profiles replayed of those to replay")
    result = serializers.DictField(
        read_only=True,
        help_text="entered, profiles, converted, waiting, exits, refusals, nodes, edges, messaged, webhooks "
        "(journeys/backtest.py); grows as chunks are replayed, final once status is done",
    )

    class Meta:
        model = JourneyBacktest
        fields = [
            "id",
            "status",
            "error",
            "days",
            "since",
            "until",
            "progress",
            "profiles_total",
            "profiles_done",
            "activities_done",
            "requested_by",
            "created_at",
            "started_at",
            "finished_at",
            "document",
            "result",
        ]
        read_only_fields = fields
