"""OpenAPI details drf-spectacular cannot infer: the error responses every operation may give,
and request bodies that refuse unknown fields (as the serializers do)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

ERROR = inline_serializer("Error", {"detail": serializers.CharField()})
# Field name -> messages (nested for nested fields), or {"detail": "..."} for a malformed body.
VALIDATION_ERROR = OpenApiResponse(
    response={"type": "object", "additionalProperties": True},
    description="Invalid input: messages per field.",
)


class ApiAutoSchema(AutoSchema):
    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        errors = {
            "401": ("No API key, or one that is invalid, revoked or expired.", ERROR),
            "403": ("Refused (a session request without its CSRF token).", ERROR),
            "429": ("Too many requests: retry after the Retry-After header's seconds.", ERROR),
        }
        has_query = any(p["in"] == "query" for p in operation.get("parameters", []))
        if self.method in {"POST", "PUT", "PATCH"} or has_query:
            errors["400"] = ("Invalid input.", VALIDATION_ERROR)
        if self.method in {"POST", "PUT", "PATCH"}:
            errors["413"] = ("The request body is over DATA_UPLOAD_MAX_MEMORY_SIZE.", ERROR)
            errors["415"] = ("The body is not application/json.", ERROR)
        if "{" in self.path or self._is_list_view():
            # A list answers 404 to a page or cursor that does not exist.
            errors["404"] = ("Not found (or not yours).", ERROR)
        responses = operation["responses"]
        for code, (description, body) in errors.items():
            if code not in responses:
                responses[code] = {
                    **self._get_response_for_code(body, code),
                    "description": description,
                }
        return operation


def forbid_unknown_request_fields(result: dict, generator: Any, request: Any, public: bool) -> dict:
    """Postprocessing hook: request components say additionalProperties: false."""
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request") and component.get("type") == "object":
            component["additionalProperties"] = False
    return result
