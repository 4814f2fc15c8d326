"""One JSON error shape for the management API; an unreachable database answers 503, not 500."""

from __future__ import annotations

from typing import Any

from django.db import DatabaseError, InterfaceError, OperationalError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, (OperationalError, InterfaceError)):
        return Response(
            {"detail": "The database is unavailable; retry shortly."}, status=503, headers={"Retry-After": "5"}
        )
    if isinstance(exc, DatabaseError):
        return None
    return drf_exception_handler(exc, context)
