"""Management API for behaviors: CRUD (the body is the behavior document), pause, resume, simulate (a
stored behavior, or an inline one at /api/v1/behaviors/simulate) and counts."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet, Sum
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ParseError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from activities.api import Pagination
from behaviors import services
from behaviors.document import BehaviorError, parse_behavior
from behaviors.models import Behavior
from behaviors.simulator import simulate_behavior
from journeys.models import JourneyStat
from journeys.services import TransitionError
from journeys.simulator import SimulationError
from workspaces.models import Role
from workspaces.permissions import acting_user, request_token


class BehaviorSerializer(serializers.ModelSerializer):
    status = serializers.CharField(read_only=True)
    activity = serializers.SerializerMethodField()

    class Meta:
        model = Behavior
        fields = ["id", "name", "slug", "activity", "status", "document", "created_at", "updated_at"]
        read_only_fields = fields

    def get_activity(self, behavior: Behavior) -> str:
        return f"behavior:{behavior.slug}"


def _problems(error: BehaviorError) -> Response:
    return Response(
        {"behavior": [{"field": p.field, "message": p.message} for p in error.problems]},
        status=status.HTTP_400_BAD_REQUEST,
    )


def _document(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict) or not request.data:
        raise ParseError("The body must be a behavior document: a JSON object.")
    return dict(request.data)


def _simulation(document: Any, data: Any) -> Response:
    try:
        behavior = parse_behavior(document)
    except BehaviorError as error:
        return _problems(error)
    data = data if isinstance(data, dict) else {}
    try:
        return Response(simulate_behavior(behavior, events=data.get("events", []), until=data.get("until")))
    except SimulationError as error:
        return Response({error.field: [error.message]}, status=status.HTTP_400_BAD_REQUEST)


class BehaviorViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = BehaviorSerializer
    pagination_class = Pagination
    queryset = Behavior.objects.none()
    action_roles = {"simulate": Role.ANALYST}

    def get_queryset(self) -> QuerySet[Behavior]:
        workspace_id = request_token(self.request).workspace_id
        return Behavior.objects.filter(workspace_id=workspace_id).select_related("journey")

    @extend_schema(request=OpenApiTypes.OBJECT, responses={201: BehaviorSerializer})
    def create(self, request: Request) -> Response:
        try:
            behavior = services.behavior_create(
                workspace=request_token(request).workspace, actor=acting_user(request), document=_document(request)
            )
        except BehaviorError as error:
            return _problems(error)
        return Response(BehaviorSerializer(behavior).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=OpenApiTypes.OBJECT, responses={200: BehaviorSerializer})
    def update(self, request: Request, pk: str | None = None) -> Response:
        try:
            behavior = services.behavior_update(
                behavior=self.get_object(), actor=acting_user(request), document=_document(request)
            )
        except BehaviorError as error:
            return _problems(error)
        except TransitionError as error:
            return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
        return Response(BehaviorSerializer(behavior).data)

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        services.behavior_delete(behavior=self.get_object(), actor=acting_user(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _transition(self, request: Request, change: Any) -> Response:
        behavior = self.get_object()
        try:
            change(behavior=behavior, actor=acting_user(request))
        except TransitionError as error:
            return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
        return Response(BehaviorSerializer(self.get_queryset().get(pk=behavior.pk)).data)

    @extend_schema(request=None, responses={200: BehaviorSerializer})
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str | None = None) -> Response:
        return self._transition(request, services.behavior_pause)

    @extend_schema(request=None, responses={200: BehaviorSerializer})
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str | None = None) -> Response:
        return self._transition(request, services.behavior_resume)

    @extend_schema(request=OpenApiTypes.OBJECT, responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"])
    def simulate(self, request: Request, pk: str | None = None) -> Response:
        return _simulation(self.get_object().document, request.data)

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["get"])
    def counts(self, request: Request, pk: str | None = None) -> Response:
        """Open matches now, and how often it fired per (UTC) day (from the counters, no scans)."""
        behavior = self.get_object()
        if behavior.journey is None:
            return Response({"open_matches": 0, "fired": []})
        recorder = "record" if behavior.document.get("max_once_per") else "complete"  # see behaviors.compiler
        fired = (
            JourneyStat.objects.filter(journey=behavior.journey, metric="node_entered", node=recorder)
            .values_list("day")
            .annotate(total=Sum("count"))
            .order_by("day")
        )
        open_matches = behavior.journey.enrollments.filter(exit_at__isnull=True).count()
        return Response(
            {"open_matches": open_matches, "fired": [{"day": day.isoformat(), "count": n} for day, n in fired]}
        )


class BehaviorSimulateView(APIView):
    """Run an inline behavior document (`"behavior"`) over timestamped events with a virtual clock."""

    required_role = Role.ANALYST

    @extend_schema(
        operation_id="behaviors_simulate_inline", request=OpenApiTypes.OBJECT, responses={200: OpenApiTypes.OBJECT}
    )
    def post(self, request: Request) -> Response:
        data = request.data if isinstance(request.data, dict) else {}
        if "behavior" not in data:
            return Response({"behavior": ["This field is required."]}, status=status.HTTP_400_BAD_REQUEST)
        return _simulation(data["behavior"], data)
