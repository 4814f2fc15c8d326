"""Request checks that belong before any view: a NUL character in the URL (`%00`) can only be a mistake
or an attack, and PostgreSQL cannot compare with one; it is refused with a 400 naming it."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse


class RefuseNulMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        names = [key for key, values in request.GET.lists() if "\x00" in key or any("\x00" in v for v in values)]
        if names or "\x00" in request.path:
            field = names[0].replace("\x00", "%00") if names else "path"
            return JsonResponse(
                {"detail": f"{field} contains a NUL character (%00)", "field": field, "code": "invalid_request"},
                status=400,
            )
        return self.get_response(request)
