"""The whole URL tree of Nudge."""

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path, re_path
from django.views.defaults import page_not_found
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from activities import api as activities_api
from activities import ingestion
from behaviors import api as behaviors_api
from config import health, metrics
from journeys import api as journeys_api
from messaging import api as messaging_api
from messaging import inbound as messaging_inbound
from messaging import views as messaging_views
from panel.sites import panel_site
from segments import api as segments_api


class OptionalSlashRouter(SimpleRouter):
    """Routes answer with and without the trailing slash (`/journeys/1/simulate` as in the brief)."""

    def __init__(self) -> None:
        super().__init__()
        self.trailing_slash = "/?"


router = OptionalSlashRouter()
router.register("profiles", activities_api.ProfileViewSet, basename="profile")
router.register("activities", activities_api.ActivityViewSet, basename="activity")
router.register("journeys", journeys_api.JourneyViewSet, basename="journey")
router.register("templates", messaging_api.TemplateViewSet, basename="template")
router.register("behaviors", behaviors_api.BehaviorViewSet, basename="behavior")
router.register("messages", messaging_api.MessageViewSet, basename="message")
router.register("segments", segments_api.SegmentViewSet, basename="segment")
router.register("ingestion-errors", activities_api.IngestionErrorViewSet, basename="ingestion-error")

urlpatterns = [
    # Ingestion: the Segment HTTP Tracking API.
    path("v1/track", ingestion.track, name="ingest-track"),
    path("v1/identify", ingestion.identify, name="ingest-identify"),
    path("v1/page", ingestion.page, name="ingest-page"),
    path("v1/screen", ingestion.screen, name="ingest-screen"),
    path("v1/alias", ingestion.alias, name="ingest-alias"),
    path("v1/group", ingestion.group, name="ingest-group"),
    path("v1/batch", ingestion.batch, name="ingest-batch"),
    path("v1/import", ingestion.batch, name="ingest-import"),
    # Management API and its schema.
    path("api/v1/journeys/simulate", journeys_api.JourneySimulateView.as_view(), name="journey-simulate"),
    path("api/v1/behaviors/simulate", behaviors_api.BehaviorSimulateView.as_view(), name="behavior-simulate"),
    re_path(r"^api/v1/segments/estimate/?$", segments_api.SegmentEstimateView.as_view(), name="segment-estimate"),
    re_path(r"^api/v1/profiles/tags/?$", segments_api.ProfileTagsView.as_view(), name="profile-tags"),
    re_path(
        r"^api/v1/profiles/(?P<pk>[0-9]+)/segments/?$",
        segments_api.ProfileSegmentsView.as_view(),
        name="profile-segments",
    ),
    re_path(
        r"^api/v1/profiles/(?P<pk>[0-9]+)/behaviors/?$",
        behaviors_api.ProfileBehaviorsView.as_view(),
        name="profile-behaviors",
    ),
    path("api/v1/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    # Operators and the panel.
    path("v1/inapp", messaging_inbound.inapp, name="inapp"),
    path("m/sms/<str:token>", messaging_inbound.sms_inbound, name="sms-inbound"),
    path("m/status/<str:token>", messaging_inbound.delivery_report, name="delivery-report"),
    path("m/o/<str:token>.gif", messaging_views.message_opened, name="message-opened"),
    path("m/c/<str:token>", messaging_views.message_clicked, name="message-clicked"),
    path("m/u/<str:token>", messaging_views.unsubscribe, name="message-unsubscribe"),
    path("health", health.health, name="health"),
    path("metrics", metrics.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("", panel_site.urls),
]


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """A URL nothing answers: JSON for API and ingestion clients, the HTML page for people."""
    if request.path.startswith(("/api/", "/v1/")):
        return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)
    return page_not_found(request, exception)


handler404 = not_found
