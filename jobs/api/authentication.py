"""API authentication: the X-API-Key header names a key of one user, who becomes request.user."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from jobs.models import ApiKey

HEADER = "X-API-Key"


def user_for_key(key: str) -> tuple[object, ApiKey]:
    """The (owner, key) of a usable key, or AuthenticationFailed saying why it is not usable."""
    prefix, _, _ = key.partition(".")
    # Looked up among all keys, not only usable ones, so a revoked key is told it was revoked.
    api_key = ApiKey.objects.select_related("owner").filter(prefix=prefix).first()
    if api_key is None or not api_key.is_valid(key):
        raise exceptions.AuthenticationFailed("Invalid API key.")
    if api_key.revoked:
        raise exceptions.AuthenticationFailed("This API key has been revoked.")
    if api_key.has_expired:
        raise exceptions.AuthenticationFailed("This API key has expired.")
    if not api_key.owner.is_active:
        raise exceptions.AuthenticationFailed("The owner of this API key is inactive.")
    return api_key.owner, api_key


class ApiKeyAuthentication(BaseAuthentication):
    """`X-API-Key: <prefix>.<secret>`; without the header, the next class (session) is tried."""

    def authenticate(self, request: Request) -> tuple[object, ApiKey] | None:
        key = request.META.get("HTTP_X_API_KEY")
        if key is None:
            return None
        key = key.strip()
        if not key:
            raise exceptions.AuthenticationFailed("The X-API-Key header is empty.")
        return user_for_key(key)

    def authenticate_header(self, request: Request) -> str:
        # A WWW-Authenticate value makes DRF answer an anonymous request with 401, not 403.
        return HEADER


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": HEADER,
            "description": "A key made with `manage.py createapikey USERNAME` or in the admin.",
        }
