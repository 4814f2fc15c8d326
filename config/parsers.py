"""The management API's JSON parser: what PostgreSQL or the engine could not take is refused at the
door with a 400 naming where it is — a NUL character (in a value or a key), a number beyond a float
(`1e400`), nesting deeper than MAX_DEPTH levels — instead of failing later as a 500."""

from __future__ import annotations

from typing import Any

import orjson
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from activities.segment_spec import nul_path, too_deep

MAX_DEPTH = 32  # a journey document with conditions nests about 15 deep


class StrictJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        body = stream.read() if stream is not None else b""
        try:
            data = orjson.loads(body)  # refuses 1e400 and NaN; nesting past 1,024 levels
        except orjson.JSONDecodeError as error:
            raise ParseError(f"JSON parse error - {error}") from None
        if (deep := too_deep(data, "", MAX_DEPTH)) is not None:
            raise ParseError(f"{deep or 'body'} nests deeper than {MAX_DEPTH} levels")
        if b"\\u0000" in body and (path := nul_path(data)) is not None:
            raise ParseError(f"{path} contains a NUL character (\\u0000), which cannot be stored")
        return data
