"""Management API for segments: CRUD (a bad rule answers 400 naming its field), the estimate of an unsaved
rule, size now and over time, members, list members and CSV imports; a profile's segments; bulk tags."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Q, QuerySet
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser, DataAndFiles, FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from activities.api import Pagination
from activities.selectors import profiles_for_workspace
from segments import lists, selectors, services
from segments.conditions import ConditionError, as_datetime, event_leaves_refused, parse_condition
from segments.models import ListImport, Membership, Segment, SegmentKind, SegmentSize
from segments.services import Problem, SegmentError, SegmentInUse
from workspaces.models import Role
from workspaces.permissions import acting_user, request_token


class SegmentSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.email", read_only=True, allow_null=True, default=None)
    updated_by = serializers.CharField(source="updated_by.email", read_only=True, allow_null=True, default=None)

    class Meta:
        model = Segment
        fields = [
            "id",
            "name",
            "slug",
            "description",
            "kind",
            "rule",
            "record_changes",
            "builtin",
            "size",
            "refreshed_at",
            "refresh_error",
            "created_by",
            "updated_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class SegmentInputSerializer(serializers.Serializer):
    """What a segment is written with (documents the body; validation is the service's, by field)."""

    name = serializers.CharField()
    slug = serializers.SlugField(required=False, help_text="Default: from the name. Never changes.")
    description = serializers.CharField(required=False, allow_blank=True)
    kind = serializers.ChoiceField(choices=SegmentKind.choices, required=False, default=SegmentKind.RULE)
    rule = serializers.JSONField(required=False, help_text="The condition members meet (PRODUCT.md §5); rules only")
    record_changes = serializers.BooleanField(required=False, help_text="Record segment_entered / segment_exited")


class MemberSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="profile.id")
    user_id = serializers.CharField(source="profile.user_id", allow_null=True)
    email = serializers.CharField(source="profile.email")
    since = serializers.DateTimeField()


class ImportSerializer(serializers.ModelSerializer):
    progress = serializers.FloatField(read_only=True)

    class Meta:
        model = ListImport
        fields = [
            "id",
            "filename",
            "status",
            "progress",
            "rows_total",
            "cursor",
            "added",
            "already",
            "repeated",
            "rejected",
            "problems",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields


class ProfileSegmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField()
    since = serializers.DateTimeField(allow_null=True)


def _problems(problems: list[Problem]) -> Response:
    return Response(
        {"segment": [{"field": p.field, "message": p.message} for p in problems]}, status=status.HTTP_400_BAD_REQUEST
    )


def _body(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise ParseError("The body must be a JSON object.")
    return dict(request.data)


def _query(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    if value is not None and "\x00" in value:
        raise serializers.ValidationError({name: ["must not contain a NUL character"]})
    return value


def _moment(request: Request, name: str, default: datetime) -> datetime:
    raw = _query(request, name)
    if raw is None:
        return default
    moment = as_datetime(raw)
    if moment is None:
        raise serializers.ValidationError({name: ["must be an ISO 8601 date-time"]})
    return moment.astimezone(UTC)


class CsvParser(BaseParser):
    """A CSV sent as the body (`Content-Type: text/csv`), read as the upload `file` (up to the limit + 1
    byte, so that a larger one is refused, not cut)."""

    media_type = "text/csv"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> DataAndFiles:
        data = stream.read(settings.NUDGE_SEGMENT_IMPORT_MAX_BYTES + 1) if stream is not None else b""
        return DataAndFiles({}, {"file": SimpleUploadedFile("upload.csv", data, content_type="text/csv")})


class SegmentViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    serializer_class = SegmentSerializer
    pagination_class = Pagination
    queryset = Segment.objects.none()

    def get_queryset(self) -> QuerySet[Segment]:
        rows = Segment.objects.filter(workspace_id=request_token(self.request).workspace_id).select_related(
            "created_by", "updated_by"
        )
        kind = _query(self.request, "kind")
        if kind:
            rows = rows.filter(kind=kind)
        name = _query(self.request, "name")
        if name:
            rows = rows.filter(Q(name__icontains=name) | Q(slug__icontains=name))
        return rows.order_by("name")

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", str, enum=SegmentKind.values),
            OpenApiParameter("name", str, description="Part of the name or slug"),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=SegmentInputSerializer, responses={201: SegmentSerializer})
    def create(self, request: Request) -> Response:
        try:
            segment = services.segment_create(
                workspace=request_token(request).workspace, actor=acting_user(request), data=_body(request)
            )
        except SegmentError as error:
            return _problems(error.problems)
        return Response(SegmentSerializer(segment).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=SegmentInputSerializer, responses={200: SegmentSerializer})
    def update(self, request: Request, pk: str | None = None) -> Response:
        try:
            segment = services.segment_update(
                segment=self.get_object(), actor=acting_user(request), data=_body(request)
            )
        except SegmentError as error:
            return _problems(error.problems)
        return Response(SegmentSerializer(segment).data)

    @extend_schema(request=SegmentInputSerializer, responses={200: SegmentSerializer})
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        return self.update(request, pk)

    @extend_schema(responses={204: None, 409: OpenApiTypes.OBJECT})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        try:
            services.segment_delete(segment=self.get_object(), actor=acting_user(request))
        except SegmentInUse as error:
            return Response(
                {
                    "detail": f"The segment is in use: {error}. Remove it from them first.",
                    "journeys": [{"id": j.pk, "name": j.name} for j in error.usage.journeys],
                    "segments": [{"id": s.pk, "name": s.name} for s in error.usage.segments],
                },
                status=status.HTTP_409_CONFLICT,
            )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["get"])
    def size(self, request: Request, pk: str | None = None) -> Response:
        """How many profiles are in it now (counted, bounded by the estimate's timeout; a rule too slow
        to count answers its last refresh's size with `stale: true`)."""
        segment = self.get_object()
        now = timezone.now()
        if segment.kind == SegmentKind.LIST:
            members = Membership.objects.filter(segment=segment, profile__merged_into__isnull=True).count()
            return Response({"size": members, "as_of": now, "stale": False})
        rule = selectors.segment_rule(segment)
        assert rule is not None
        counted = selectors.estimate(segment.workspace_id, rule, timeout_ms=settings.NUDGE_SEGMENT_ESTIMATE_TIMEOUT_MS)
        if counted.size is None:
            return Response({"size": segment.size, "as_of": segment.refreshed_at, "stale": True})
        return Response({"size": counted.size, "as_of": now, "stale": False})

    @extend_schema(
        responses={200: OpenApiTypes.OBJECT},
        parameters=[
            OpenApiParameter("since", OpenApiTypes.DATETIME, description="Default: 30 days ago"),
            OpenApiParameter("until", OpenApiTypes.DATETIME, description="Default: now"),
            OpenApiParameter("every", str, enum=["hour", "day"], description="The last sample of each hour or day"),
        ],
    )
    @action(detail=True, methods=["get"])
    def sizes(self, request: Request, pk: str | None = None) -> Response:
        """The segment's size over time: one sample per refresh (lists: per change)."""
        segment = self.get_object()
        now = timezone.now()
        since, until = _moment(request, "since", now - timedelta(days=30)), _moment(request, "until", now)
        every = request.query_params.get("every")
        if every not in (None, "hour", "day"):
            return Response({"every": ['must be "hour" or "day"']}, status=status.HTTP_400_BAD_REQUEST)
        rows = SegmentSize.objects.filter(segment=segment, at__gte=since, at__lte=until).order_by("at")
        samples = list(rows.values_list("at", "size", "entered", "exited")[:20_000])
        if every is not None:
            cut = "%Y-%m-%dT%H" if every == "hour" else "%Y-%m-%d"
            last: dict[str, tuple] = {}
            for sample in samples:
                last[sample[0].strftime(cut)] = sample
            samples = list(last.values())
        return Response(
            {
                "segment": segment.pk,
                "sizes": [{"at": at, "size": size, "entered": e, "exited": x} for at, size, e, x in samples],
            }
        )

    @extend_schema(
        methods=["GET"],
        responses={200: MemberSerializer(many=True)},
        parameters=[OpenApiParameter("q", str, description="Part of a member's user id or email")],
    )
    @extend_schema(
        methods=["POST"],
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT},
        description='Lists only: `{"add": ["ann", "bob@example.com"], "remove": [...]}` (user ids, or emails).',
    )
    @action(detail=True, methods=["get", "post"])
    def members(self, request: Request, pk: str | None = None) -> Response:
        """GET: the members as of the last refresh (a list's as they are), newest first. POST (lists):
        add and remove members by user id or email."""
        segment = self.get_object()
        if request.method == "POST":
            data = _body(request)
            unknown = sorted(set(data) - {"add", "remove"})
            # each one given a list (a number was a 500, a string taken letter by letter); its items are
            # checked one by one below (`add[1]`)
            wrong = [k for k in ("add", "remove") if k in data and not isinstance(data[k], list)]
            if unknown or wrong or not any(isinstance(data.get(k), list) for k in ("add", "remove")):
                field = (unknown or wrong or ["add"])[0]
                return _problems([Problem(field, 'send "add" and/or "remove": lists of user ids or emails')])
            try:
                change = lists.list_members_change(
                    segment=segment, actor=acting_user(request), add=data.get("add"), remove=data.get("remove")
                )
            except SegmentError as error:
                return _problems(error.problems)
            return Response(
                {
                    "added": change.added,
                    "removed": change.removed,
                    "already": change.already,
                    "repeated": change.repeated,
                    "problems": [p.as_dict() for p in change.problems],
                }
            )
        rows = selectors.segment_members(segment)
        search = _query(request, "q")
        if search:
            rows = rows.filter(Q(profile__user_id__icontains=search) | Q(profile__email__icontains=search.lower()))
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(MemberSerializer(page, many=True).data)

    @extend_schema(methods=["GET"], responses={200: ImportSerializer})
    @extend_schema(
        methods=["POST"],
        request={"multipart/form-data": OpenApiTypes.OBJECT, "text/csv": OpenApiTypes.BINARY},
        responses={202: ImportSerializer},
        description="A CSV of user ids or emails, as the form field `file` or as the body (text/csv). "
        "One value per line, or a header with a `user_id` and/or `email` column.",
    )
    @action(
        detail=True,
        methods=["get", "post"],
        url_path="import",
        parser_classes=[MultiPartParser, FormParser, CsvParser, JSONParser],
    )
    def import_(self, request: Request, pk: str | None = None) -> Response:
        """POST: import a CSV into a list (202; the work goes on in the background). GET: the latest
        import's progress, with every rejected row by line."""
        segment = self.get_object()
        if request.method == "GET":
            found = segment.imports.first()
            if found is None:
                return Response({"detail": "Nothing was imported into this segment."}, status=status.HTTP_404_NOT_FOUND)
            return Response(ImportSerializer(found).data)
        upload = request.FILES.get("file")
        if upload is None:
            return _problems([Problem("file", "is required: a CSV file (form field `file`, or the body as text/csv)")])
        limit = settings.NUDGE_SEGMENT_IMPORT_MAX_BYTES
        if upload.size is not None and upload.size > limit:
            return Response(
                {"file": [f"is larger than {lists.size_text(limit)}"]},
                status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        try:
            started = lists.list_import_start(
                segment=segment, actor=acting_user(request), data=upload.read(limit + 1), filename=upload.name or ""
            )
        except lists.ImportRefused as error:
            code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE if error.too_large else status.HTTP_400_BAD_REQUEST
            return Response({error.field: [error.message]}, status=code)
        except SegmentError as error:
            return _problems(error.problems)
        return Response(ImportSerializer(started).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={200: SegmentSerializer})
    @action(detail=True, methods=["post"])
    def refresh(self, request: Request, pk: str | None = None) -> Response:
        """Recompute a rule segment's members now (the beat does it every few minutes)."""
        segment = self.get_object()
        if segment.kind != SegmentKind.RULE:
            return _problems([Problem("kind", "a list's members are the ones added to it; nothing to refresh")])
        services.segment_refresh(segment_id=segment.pk)
        return Response(SegmentSerializer(self.get_queryset().get(pk=segment.pk)).data)


class SegmentEstimateView(APIView):
    """How many profiles an unsaved rule holds now (the panel's live estimate)."""

    required_role = Role.ANALYST

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT},
        description='Body `{"rule": {...}}`. Answers `{"size": N, "profiles": total, "timed_out": false}`; a '
        "rule that cannot be counted in time answers `size: null, timed_out: true`.",
    )
    def post(self, request: Request) -> Response:
        data = _body(request)
        if "rule" not in data:
            return _problems([Problem("rule", "is required: the condition to count")])
        raw = data["rule"]
        try:
            rule = parse_condition(raw, "rule")
        except ConditionError as error:
            return _problems([Problem(error.field, error.message)])
        workspace_id = request_token(request).workspace_id
        problems = [Problem(f, m) for f, m in event_leaves_refused(raw, "rule")]
        known = selectors.definitions(workspace_id)
        problems += [
            Problem(field, f"no segment {ref!r} in this workspace")
            for field, ref in _segment_fields(raw)
            if ref not in known
        ]
        if problems:
            return _problems(problems)
        counted = selectors.estimate(workspace_id, rule, timeout_ms=settings.NUDGE_SEGMENT_ESTIMATE_TIMEOUT_MS)
        return Response({"size": counted.size, "profiles": counted.profiles, "timed_out": counted.size is None})


def _segment_fields(raw: Any) -> list[tuple[str, str]]:
    from segments.conditions import profile_leaves

    return [
        (f"{field}.in_segment", str(leaf["in_segment"]))
        for field, leaf in profile_leaves(raw, "rule")
        if "in_segment" in leaf
    ]


class ProfileSegmentsView(APIView):
    """The segments one profile is in now (rules asked now; lists by their members)."""

    required_role = Role.ANALYST

    @extend_schema(responses={200: ProfileSegmentSerializer(many=True)})
    def get(self, request: Request, pk: int) -> Response:
        profile = profiles_for_workspace(request_token(request).workspace_id).filter(pk=pk).first()
        if profile is None:
            return Response({"detail": "No such profile."}, status=status.HTTP_404_NOT_FOUND)
        found = [
            {"id": s.pk, "slug": s.slug, "name": s.name, "kind": s.kind, "since": since}
            for s, since in selectors.profile_segments(profile)
        ]
        return Response({"profile": profile.pk, "segments": ProfileSegmentSerializer(found, many=True).data})


class TagsSerializer(serializers.Serializer):
    add = serializers.ListField(child=serializers.CharField(max_length=100), required=False, default=list)
    remove = serializers.ListField(child=serializers.CharField(max_length=100), required=False, default=list)
    profiles = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, max_length=10_000)
    segment = serializers.CharField(required=False, help_text="A segment's id or slug: every member now")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("add") and not attrs.get("remove"):
            raise serializers.ValidationError({"add": ["send tags to add and/or remove"]})
        if ("profiles" in attrs) == ("segment" in attrs):
            raise serializers.ValidationError({"profiles": ["send either profiles (ids) or a segment"]})
        return attrs


class ProfileTagsView(APIView):
    """Add and remove tags on many profiles at once: by ids, or every member of a segment."""

    required_role = Role.MARKETER

    @extend_schema(request=TagsSerializer, responses={200: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        data = TagsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        token = request_token(request)
        segment = None
        if "segment" in values:
            segment = selectors.segment_resolve(token.workspace_id, values["segment"])
            if segment is None:
                return Response({"segment": ["no such segment in this workspace"]}, status=status.HTTP_400_BAD_REQUEST)
        changed = services.tags_change(
            workspace=token.workspace,
            actor=acting_user(request),
            add=values["add"],
            remove=values["remove"],
            profile_ids=values.get("profiles"),
            segment=segment,
        )
        return Response({"profiles": changed})
