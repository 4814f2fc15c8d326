"""Liquid personalization (python-liquid), sandboxed, and what a channel's text costs to send.

Templates see only plain data built for them — `profile`, `event`, `journey`, `unsubscribe_url` — never
a Python object, so `{{ profile.__class__ }}` is empty and nothing outside the context is reachable;
`include`/`render` find no templates; loops, output size and nesting are bounded. Unknown filters and
syntax errors are caught when a template is saved, with the line they are on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from liquid import DictLoader, Environment
from liquid.exceptions import LiquidError


class _Sandbox(Environment):
    loop_iteration_limit = 10_000
    output_stream_limit = 200_000  # characters
    context_depth_limit = 10
    local_namespace_limit = 10_000


ENVIRONMENT = _Sandbox(loader=DictLoader({}), strict_filters=True)


@dataclass(frozen=True)
class LiquidProblem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class RenderError(ValueError):
    """A template failed while rendering (a permanent failure of that message)."""


def _problem(source: str, error: LiquidError) -> LiquidProblem:
    token = getattr(error, "token", None)
    start = getattr(token, "start_index", 0) or 0
    return LiquidProblem(source[:start].count("\n") + 1, getattr(error, "message", None) or str(error))


def liquid_check(source: str) -> LiquidProblem | None:
    """The first syntax or unknown-filter problem of a Liquid source, or None. Filters are only looked
    up when rendering, so the parsed template is analysed for the ones it names."""
    try:
        template = ENVIRONMENT.from_string(source)
        filters = template.analyze().filters
    except LiquidError as error:
        return _problem(source, error)
    unknown = sorted(
        (span.index, name) for name, spans in filters.items() if name not in ENVIRONMENT.filters for span in spans
    )
    if unknown:
        index, name = unknown[0]
        return LiquidProblem(source[:index].count("\n") + 1, f"unknown filter '{name}'")
    return None


@lru_cache(maxsize=4096)
def _parsed(source: str) -> Any:
    return ENVIRONMENT.from_string(source)


def liquid_render(source: str, context: Mapping[str, Any]) -> str:
    """Render a source (parsed once per process, then reused: sends repeat the same few templates).
    Most sends' sources are text and `{{ a.b }}` outputs of strings and numbers: those are filled in
    directly (python-liquid's render costs ~30 µs a message, most of delivery's rendering); anything
    else, or a value that is not there or not a string or number, goes through Liquid."""
    plain = _plain(source)
    if plain is not None:
        filled = plain.fill(context)
        if filled is not None:
            return filled
    try:
        return str(_parsed(source).render(**context))
    except LiquidError as error:
        raise RenderError(str(_problem(source, error))) from error


# `{{ name.name… }}` and nothing else: no filters, no whitespace control, no literal (true, nil, 'x').
_OUTPUT = re.compile(r"\{\{\s*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*\}\}")


@dataclass(frozen=True, slots=True)
class _Plain:
    """A source that is only text and plain outputs: texts[0] path[0] texts[1] … texts[-1]."""

    texts: tuple[str, ...]
    paths: tuple[tuple[str, ...], ...]

    def fill(self, context: Mapping[str, Any]) -> str | None:
        """The source rendered as Liquid renders it, or None where this cannot be sure it would: a
        missing key (Liquid's `size`, `first`, undefined), a value other than a string or an integer."""
        texts = self.texts
        out = [texts[0]]
        for i, path in enumerate(self.paths, 1):
            value: Any = context
            for key in path:
                if not isinstance(value, dict) or key not in value:
                    return None
                value = value[key]
            if isinstance(value, str):
                out.append(value)
            elif isinstance(value, int) and not isinstance(value, bool):
                out.append(str(value))
            else:
                return None
            out.append(texts[i])
        rendered = "".join(out)
        return rendered if len(rendered) <= _Sandbox.output_stream_limit else None  # Liquid raises


@lru_cache(maxsize=4096)
def _plain(source: str) -> _Plain | None:
    pieces = _OUTPUT.split(source)
    texts = pieces[0::2]
    # Any other markup in the text (a tag, another output) is Liquid's; so is a "{" just before an
    # output, which Liquid's lexer would read as part of it.
    if any("{{" in text or "{%" in text for text in texts) or any(text.endswith("{") for text in texts[:-1]):
        return None
    return _Plain(tuple(texts), tuple(tuple(path.split(".")) for path in pieces[1::2]))


# --- SMS length ------------------------------------------------------------------------------------------

_GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = set("^{}\\[~]|€\f")


@dataclass(frozen=True)
class SmsLength:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def sms_length(text: str) -> SmsLength:
    """How an SMS body is encoded and into how many segments it splits (160/153 GSM-7 septets,
    70/67 UCS-2 units; extension characters cost two septets)."""
    if all(c in _GSM7_BASIC or c in _GSM7_EXTENDED for c in text):
        units = sum(2 if c in _GSM7_EXTENDED else 1 for c in text)
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, multi, encoding = 70, 67, "UCS-2"
    if units == 0:
        return SmsLength(encoding, 0, 0)
    return SmsLength(encoding, units, 1 if units <= single else -(-units // multi))
