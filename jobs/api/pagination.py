"""Pagination: numbered pages for jobs and endpoints, a cursor over started_at for runs."""

from __future__ import annotations

from django.conf import settings
from rest_framework.pagination import CursorPagination, PageNumberPagination


class PagePagination(PageNumberPagination):
    page_size = settings.API_PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = settings.API_MAX_PAGE_SIZE


class RunCursorPagination(CursorPagination):
    # A cursor stays fast and stable on a large, growing table (no OFFSET, no count(*)).
    ordering = ("-started_at", "-id")
    page_size = settings.API_PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = settings.API_MAX_PAGE_SIZE
