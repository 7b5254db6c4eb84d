"""The API's JSON parser: bounded in size and in nesting, so no body costs unbounded work.

DRF's own ``JSONParser`` reads the request stream to its end (Django's
``DATA_UPLOAD_MAX_MEMORY_SIZE`` guards ``request.body`` and form data, not the stream DRF
reads) and hands it to ``json.load``, which recurses once per level of nesting: a body of
``[[[[…]]]]`` raised ``RecursionError`` (a 500). This parser reads at most
``DATA_UPLOAD_MAX_MEMORY_SIZE`` bytes (413 beyond), measures the nesting with one flat scan
over the text (no recursion on the input) and refuses anything deeper than
``PADDOCK_JSON_MAX_DEPTH`` (400) before ``json`` sees it.
"""

from __future__ import annotations

import codecs
import re
from itertools import accumulate
from typing import IO, Any, Final

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser as DRFJSONParser
from rest_framework.settings import api_settings
from rest_framework.utils import json

# One JSON string literal, escapes included; possessive, so a long string costs one pass.
_STRING: Final = re.compile(r'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_NOT_A_BRACKET: Final = re.compile(r"[^\[\]{}]++")
_STEP: Final = {"[": 1, "{": 1, "]": -1, "}": -1}


class RequestTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "request_too_large"


def json_depth(text: str) -> int:
    """How deeply ``text``'s arrays and objects nest (0 for a scalar), without recursion.

    Brackets inside strings do not count. For text that is not JSON the figure is only an
    upper bound of sorts; ``json`` rejects such text afterwards anyway.
    """
    brackets = _NOT_A_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def check_json_depth(text: str, limit: int | None = None) -> None:
    """Raise ``ValueError`` when ``text`` nests deeper than ``limit`` (the setting by default)."""
    limit = settings.PADDOCK_JSON_MAX_DEPTH if limit is None else limit
    if json_depth(text) > limit:
        raise ValueError(f"JSON nested deeper than {limit} levels")


class JSONParser(DRFJSONParser):
    """DRF's JSON parser with a size bound (413) and a nesting bound (400)."""

    def parse(self, stream: IO[bytes] | None, media_type: str | None = None, parser_context: Any = None) -> Any:
        if stream is None:  # DRF passes None for an empty body
            return None
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(raw) > limit:
            raise RequestTooLarge(f"The request body is larger than {limit:,} bytes.")
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = codecs.decode(raw, encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        depth_limit = settings.PADDOCK_JSON_MAX_DEPTH
        if json_depth(text) > depth_limit:
            raise ParseError(f"JSON parse error - arrays and objects nest deeper than {depth_limit} levels.")
        parse_constant = json.strict_constant if api_settings.STRICT_JSON else None
        try:
            return json.loads(text, parse_constant=parse_constant)
        except ValueError as exc:  # includes integers of more than 4,300 digits
            raise ParseError(f"JSON parse error - {exc}") from None
