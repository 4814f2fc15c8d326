"""Management API for journeys. For now: the inline simulator (`POST /api/v1/journeys/simulate`);
stored journeys, versions and their simulate/analytics endpoints arrive with the runtime."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from journeys.document import DocumentError, parse_journey
from journeys.simulator import SimulationError, simulate
from workspaces.models import Role

_REQUEST = inline_serializer(
    "JourneySimulationRequest",
    {
        "journey": serializers.JSONField(help_text="A journey document (PRODUCT.md §8.1)"),
        "until": serializers.DateTimeField(),
        "profiles": serializers.ListField(child=serializers.JSONField()),
        "events": serializers.ListField(child=serializers.JSONField()),
    },
)


class JourneySimulateView(APIView):
    """Run a journey document over profiles and timestamped events with a virtual clock. Nothing is
    stored or sent; templates need not exist. Any role may simulate."""

    required_role = Role.ANALYST

    @extend_schema(
        request=_REQUEST,
        responses={200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT},
        examples=[
            OpenApiExample(
                "A profile enters",
                request_only=True,
                value={
                    "journey": {
                        "name": "…",
                        "entry": {"type": "event", "event": "screen_view"},
                        "start": "s",
                        "nodes": {"s": {"type": "send", "channel": "push", "template": "t", "next": None}},
                    },
                    "until": "2025-02-01T00:00:00Z",
                    "profiles": [{"user_id": "ann", "timezone": "UTC"}],
                    "events": [
                        {
                            "user_id": "ann",
                            "event": "screen_view",
                            "properties": {},
                            "timestamp": "2024-12-17T12:00:00Z",
                        }
                    ],
                },
            )
        ],
    )
    def post(self, request: Request) -> Response:
        data = request.data if isinstance(request.data, dict) else {}
        if "journey" not in data:
            return Response({"journey": ["This field is required."]}, status=status.HTTP_400_BAD_REQUEST)
        try:
            journey = parse_journey(data["journey"])
        except DocumentError as error:
            return Response(
                {"journey": [{"field": p.field, "message": p.message} for p in error.problems]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        try:
            result = simulate(
                journey, profiles=data.get("profiles", []), events=data.get("events", []), until=data.get("until")
            )
        except SimulationError as error:
            return Response({error.field: [error.message]}, status=status.HTTP_400_BAD_REQUEST)
        return Response(result)
