"""What the OpenAPI schema says of every operation's error answers. Each view names the problem in a
JSON object (`{"detail": …}`, or field → messages, or the document's problems); the schema documents
the codes an operation can answer so clients (and schemathesis in CI) can hold the API to them."""

from __future__ import annotations

from typing import Any

ERROR = {
    "type": "object",
    "description": 'What was wrong, by field (`{"detail": "…"}`, `{"field": ["…"]}` or a list of problems)',
    "additionalProperties": True,
}
REASONS = {
    "400": "The request names something wrong: the answer says what, by field",
    "401": "No management token, or one that is unknown, revoked, or whose maker left",
    "403": "The token's role does not allow this",
    "404": "No such object in this workspace (or no such page of a list)",
    "409": "Not now: the object's state does not allow it (the answer says why)",
    "413": "The upload is larger than allowed",
    "415": "The body is not JSON (send Content-Type: application/json)",
    "429": "Too many requests for this token: retry after the Retry-After header's seconds",
}


def add_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular post-processing hook: every operation documents 400, 401, 403, 404 (an object, or
    a page of a list), 415 and 429; those with a path id also 409; uploads 413."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            codes = ["400", "401", "403", "404", "415", "429"]
            if "{" in path:
                codes.append("409")
            if path.endswith("/import/") and method == "post":
                codes.append("413")
            for code in codes:
                operation["responses"].setdefault(
                    code,
                    {
                        "description": REASONS[code],
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                    },
                )
    return result
