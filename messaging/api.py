"""Management API for messaging: templates (CRUD, preview with a chosen profile, test send to the
workspace's test profiles) and the message log."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ParseError
from rest_framework.request import Request
from rest_framework.response import Response

from activities.api import Pagination
from activities.models import Profile
from messaging import services
from messaging.models import Channel, Message, MessageStatus, Template
from messaging.rendering import RenderError
from messaging.serializers import MessageSerializer, PreviewRequest, TemplateSerializer
from workspaces.permissions import acting_user, request_token


def _body(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise ParseError("The body must be a JSON object.")
    return dict(request.data)


def _problems(error: services.TemplateError) -> Response:
    return Response(
        {"template": [{"field": p.field, "message": p.message} for p in error.problems]},
        status=status.HTTP_400_BAD_REQUEST,
    )


class TemplateFilter(django_filters.FilterSet):
    channel = django_filters.ChoiceFilter(choices=Channel.choices)
    name = django_filters.CharFilter(lookup_expr="icontains")
    category = django_filters.CharFilter()

    class Meta:
        model = Template
        fields = ["channel", "name", "category"]


class TemplateViewSet(viewsets.ModelViewSet):
    serializer_class = TemplateSerializer
    filterset_class = TemplateFilter
    pagination_class = Pagination
    queryset = Template.objects.none()

    def get_queryset(self) -> QuerySet[Template]:
        return Template.objects.filter(workspace_id=request_token(self.request).workspace_id)

    @extend_schema(request=OpenApiTypes.OBJECT, responses={201: TemplateSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            template = services.template_save(
                workspace=request_token(request).workspace, actor=acting_user(request), data=_body(request)
            )
        except services.TemplateError as error:
            return _problems(error)
        return Response(TemplateSerializer(template).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=OpenApiTypes.OBJECT, responses={200: TemplateSerializer})
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        template = self.get_object()
        try:
            template = services.template_save(
                workspace=template.workspace, actor=acting_user(request), data=_body(request), template=template
            )
        except services.TemplateError as error:
            return _problems(error)
        return Response(TemplateSerializer(template).data)

    @extend_schema(responses={204: None, 409: OpenApiTypes.OBJECT})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            services.template_delete(template=self.get_object(), actor=acting_user(request))
        except services.TemplateInUse as error:
            return Response(
                {
                    "detail": f"The template is in use: {error}. Change those steps or stop the journeys first.",
                    "journeys": [{"id": j.pk, "name": j.name, "status": j.status} for j in error.journeys],
                },
                status=status.HTTP_409_CONFLICT,
            )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=PreviewRequest, responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"])
    def preview(self, request: Request, pk: str | None = None) -> Response:
        """The template rendered for one profile of the workspace (its locale's variant); SMS bodies
        also report encoding and segment count. Nothing is sent."""
        template = self.get_object()
        params = PreviewRequest(data=request.data)
        params.is_valid(raise_exception=True)
        profiles = Profile.objects.filter(workspace_id=template.workspace_id, merged_into__isnull=True)
        if "profile_id" in params.validated_data:
            profile = profiles.filter(pk=params.validated_data["profile_id"]).first()
        else:
            profile = profiles.filter(user_id=params.validated_data["user_id"]).first()
        if profile is None:
            return Response({"profile_id": ["No such profile in this workspace."]}, status=status.HTTP_400_BAD_REQUEST)
        try:
            preview = services.template_preview(
                template=template, profile=profile, event=params.validated_data["event"]
            )
        except RenderError as error:
            return Response({"template": [str(error)]}, status=status.HTTP_400_BAD_REQUEST)
        return Response({"locale": preview.locale, "content": preview.content, "sms": preview.sms})

    @extend_schema(request=None, responses={202: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"], url_path="test-send")
    def test_send(self, request: Request, pk: str | None = None) -> Response:
        """Queue this template to every test profile of the workspace."""
        messages = services.template_test_send(template=self.get_object(), actor=acting_user(request))
        return Response({"queued": [m.pk for m in messages]}, status=status.HTTP_202_ACCEPTED)


class MessageFilter(django_filters.FilterSet):
    channel = django_filters.ChoiceFilter(choices=Channel.choices)
    status = django_filters.ChoiceFilter(choices=MessageStatus.choices)
    template = django_filters.CharFilter()
    user_id = django_filters.CharFilter(field_name="profile__user_id")
    profile = django_filters.NumberFilter(field_name="profile_id")
    journey = django_filters.NumberFilter(field_name="enrollment__journey_id")
    since = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Message
        fields = ["channel", "status", "template", "user_id", "profile", "journey", "since", "until"]


class MessageViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The message log, newest first."""

    serializer_class = MessageSerializer
    filterset_class = MessageFilter
    pagination_class = Pagination
    queryset = Message.objects.none()

    def get_queryset(self) -> QuerySet[Message]:
        workspace_id = request_token(self.request).workspace_id
        return (
            Message.objects.filter(workspace_id=workspace_id).select_related("profile").order_by("-created_at", "-pk")
        )
