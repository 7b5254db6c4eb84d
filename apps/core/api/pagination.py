"""Pagination used by every list: numbered pages for collections, cursors for streams."""

from rest_framework.pagination import CursorPagination, PageNumberPagination


class PagePagination(PageNumberPagination):
    """``?page=N&page_size=M`` with a total count; the default for collections."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class StreamCursorPagination(CursorPagination):
    """Cursor pages for append-only streams (events, ledgers): stable under inserts."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
    ordering = "-id"
