"""Management API for behaviors: CRUD (the body is the behavior document; `?backfill_days=N` on create
backfills it), pause, resume, simulate (a stored behavior, or an inline one at
/api/v1/behaviors/simulate), counts, backfill with its progress, open matches per behavior and per profile
(/api/v1/profiles/{id}/behaviors)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Prefetch, QuerySet, Sum
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ParseError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from activities.api import Pagination
from activities.selectors import profiles_for_workspace
from behaviors import services
from behaviors.backfill import BackfillRefused, backfill_start, days_parse
from behaviors.document import BehaviorError
from behaviors.models import Backfill, Behavior
from behaviors.selectors import match_describe, open_matches
from behaviors.simulator import simulate_behavior
from journeys.models import JourneyStat
from journeys.services import TransitionError
from journeys.simulator import SimulationError
from workspaces.models import Role
from workspaces.permissions import acting_user, request_token


class BackfillSerializer(serializers.ModelSerializer):
    progress = serializers.FloatField(read_only=True)

    class Meta:
        model = Backfill
        fields = [
            "days",
            "since",
            "until",
            "status",
            "progress",
            "profiles_total",
            "profiles_done",
            "matched",
            "skipped_live",
            "opened",
            "fired",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields


class BehaviorSerializer(serializers.ModelSerializer):
    status = serializers.CharField(read_only=True)
    activity = serializers.SerializerMethodField()
    backfill = serializers.SerializerMethodField()

    class Meta:
        model = Behavior
        fields = ["id", "name", "slug", "activity", "status", "document", "backfill", "created_at", "updated_at"]
        read_only_fields = fields

    def get_activity(self, behavior: Behavior) -> str:
        return f"behavior:{behavior.slug}"

    @extend_schema_field(BackfillSerializer(allow_null=True))
    def get_backfill(self, behavior: Behavior) -> dict[str, Any] | None:
        backfill = next(iter(behavior.backfills.all()), None)  # at most one; prefetched
        return BackfillSerializer(backfill).data if backfill is not None else None


class MatchSerializer(serializers.Serializer):
    """An open match: the behavior, the profile, the step it waits for, since and until when."""

    behavior = serializers.DictField()
    profile = serializers.DictField()
    version = serializers.IntegerField()
    started_at = serializers.DateTimeField()
    waiting_for = serializers.DictField(allow_null=True)
    since = serializers.DateTimeField(allow_null=True)
    until = serializers.DateTimeField(allow_null=True, help_text="null: the step's window has no end")


class ProfileMatchesSerializer(serializers.Serializer):
    profile = serializers.IntegerField()
    open = MatchSerializer(many=True)


class BehaviorSimulateRequestSerializer(serializers.Serializer):
    """What simulate reads (validated by the simulator, which names the bad field)."""

    events = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text="[{user_id (or anonymous_id), event, timestamp, properties}], in any order",
    )
    until = serializers.DateTimeField(help_text="the virtual clock's end: windows closing by then are settled")


class BehaviorInlineSimulateRequestSerializer(BehaviorSimulateRequestSerializer):
    behavior = serializers.DictField(help_text="a behavior document: name, slug, steps, max_once_per")


class BehaviorFiringSerializer(serializers.Serializer):
    at = serializers.DateTimeField(help_text="when it fired: the moment its last step was satisfied")
    started_at = serializers.DateTimeField(help_text="when its match started: the first step's activity")
    activity = serializers.CharField(help_text="the activity recorded, behavior:<slug>")
    properties = serializers.DictField(help_text="the recorded activity's: those of the first step's activity")


class BehaviorSimulatedMatchSerializer(serializers.Serializer):
    step = serializers.IntegerField(help_text="the index in `steps` of the step waited for")
    since = serializers.DateTimeField()
    until = serializers.DateTimeField(allow_null=True, help_text="null: the step's window has no end")


class BehaviorSimulatedProfileSerializer(serializers.Serializer):
    fired = serializers.ListField(child=serializers.DateTimeField(), help_text="when it fired, in order")
    firings = BehaviorFiringSerializer(many=True, help_text="the same firings, each with what it recorded")
    open = BehaviorSimulatedMatchSerializer(allow_null=True, help_text="the match still open at `until`")


class BehaviorSimulationSerializer(serializers.Serializer):
    """`{"profiles": {"dee": {"fired": ["2025-01-06T09:00:00Z"], "firings": [...], "open": null}}}`"""

    profiles = serializers.DictField(
        child=BehaviorSimulatedProfileSerializer(), help_text="by user_id (or anonymous_id)"
    )


def _refused(error: BackfillRefused) -> Response:
    code = status.HTTP_409_CONFLICT if error.conflict else status.HTTP_400_BAD_REQUEST
    return Response({error.field: [error.message]}, status=code)


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
    data = data if isinstance(data, dict) else {}
    try:
        return Response(simulate_behavior(document, events=data.get("events", []), until=data.get("until")))
    except BehaviorError as error:
        return _problems(error)
    except SimulationError as error:
        return Response({error.field: [error.message]}, status=status.HTTP_400_BAD_REQUEST)


class BehaviorViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = BehaviorSerializer
    pagination_class = Pagination
    queryset = Behavior.objects.none()
    action_roles = {"simulate": Role.ANALYST}

    def get_queryset(self) -> QuerySet[Behavior]:
        workspace_id = request_token(self.request).workspace_id
        return (
            Behavior.objects.filter(workspace_id=workspace_id)
            .select_related("journey")
            .prefetch_related(Prefetch("backfills", queryset=Backfill.objects.order_by("-created_at")))
        )

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses={201: BehaviorSerializer},
        parameters=[
            OpenApiParameter(
                "backfill_days", int, description="Also evaluate it over the stored activities of the last N days"
            )
        ],
    )
    def create(self, request: Request) -> Response:
        raw_days = request.query_params.get("backfill_days")
        try:
            days = days_parse(raw_days) if raw_days is not None else None
        except BackfillRefused as error:
            return Response({"backfill_days": [error.message]}, status=status.HTTP_400_BAD_REQUEST)
        try:
            with transaction.atomic():
                actor = acting_user(request)
                behavior = services.behavior_create(
                    workspace=request_token(request).workspace, actor=actor, document=_document(request)
                )
                if days is not None:
                    backfill_start(behavior=behavior, actor=actor, days=days)
        except BehaviorError as error:
            return _problems(error)
        behavior = self.get_queryset().get(pk=behavior.pk)
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

    @extend_schema(responses={204: None, 409: OpenApiTypes.OBJECT})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        try:
            services.behavior_delete(behavior=self.get_object(), actor=acting_user(request))
        except services.BehaviorInUse as error:
            return Response(
                {
                    "detail": f"The behavior is in use: {error}. Change or stop those journeys first, or pause it.",
                    "journeys": [{"id": j.pk, "name": j.name, "status": j.status} for j in error.journeys],
                },
                status=status.HTTP_409_CONFLICT,
            )
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

    @extend_schema(request=BehaviorSimulateRequestSerializer, responses={200: BehaviorSimulationSerializer})
    @action(detail=True, methods=["post"])
    def simulate(self, request: Request, pk: str | None = None) -> Response:
        """Run the behavior over timestamped events with a virtual clock, as live traffic runs it (its
        compiled journey on the journey engine); nothing is stored. Per profile: when it fired, what
        each firing recorded, and the match still open at `until`."""
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

    @extend_schema(
        methods=["POST"],
        request=OpenApiTypes.OBJECT,
        responses={202: BackfillSerializer},
        description='Body `{"days": N}`: evaluate the behavior over the stored activities of the last N days.',
    )
    @extend_schema(methods=["GET"], responses={200: BackfillSerializer})
    @action(detail=True, methods=["get", "post"])
    def backfill(self, request: Request, pk: str | None = None) -> Response:
        behavior = self.get_object()
        if request.method == "GET":
            found = behavior.backfills.first()
            if found is None:
                return Response({"detail": "This behavior has not been backfilled."}, status=status.HTTP_404_NOT_FOUND)
            return Response(BackfillSerializer(found).data)
        data = request.data if isinstance(request.data, dict) else {}
        try:
            started = backfill_start(behavior=behavior, actor=acting_user(request), days=days_parse(data.get("days")))
        except BackfillRefused as error:
            return _refused(error)
        return Response(BackfillSerializer(started).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={200: MatchSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def matches(self, request: Request, pk: str | None = None) -> Response:
        """The behavior's open matches, by profile: the step each waits for, since and until when."""
        behavior = self.get_object()
        rows = open_matches(workspace_id=behavior.workspace_id).filter(journey__behavior=behavior)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(MatchSerializer([match_describe(e) for e in page or []], many=True).data)


class ProfileBehaviorsView(APIView):
    """The behaviors open for one profile now: the step each waits for, since and until when."""

    required_role = Role.ANALYST

    @extend_schema(responses={200: ProfileMatchesSerializer})
    def get(self, request: Request, pk: int) -> Response:
        workspace_id = request_token(request).workspace_id
        profile = profiles_for_workspace(workspace_id).filter(pk=pk).first()
        if profile is None:
            return Response({"detail": "No such profile."}, status=status.HTTP_404_NOT_FOUND)
        rows = open_matches(workspace_id=workspace_id).filter(profile=profile)
        return Response({"profile": profile.pk, "open": MatchSerializer(map(match_describe, rows), many=True).data})


class BehaviorSimulateView(APIView):
    """Run an inline behavior document (`"behavior"`) over timestamped events with a virtual clock, on the
    journey engine as live traffic runs it."""

    required_role = Role.ANALYST

    @extend_schema(
        operation_id="behaviors_simulate_inline",
        request=BehaviorInlineSimulateRequestSerializer,
        responses={200: BehaviorSimulationSerializer},
    )
    def post(self, request: Request) -> Response:
        """As `/api/v1/behaviors/{id}/simulate`, for a behavior document not stored (`"behavior"`)."""
        data = request.data if isinstance(request.data, dict) else {}
        if "behavior" not in data:
            return Response({"behavior": ["This field is required."]}, status=status.HTTP_400_BAD_REQUEST)
        return _simulation(data["behavior"], data)
