"""Liquid checks name the line; the sandbox reaches nothing outside its context; SMS length by encoding."""

from __future__ import annotations

import pytest

from messaging.rendering import RenderError, liquid_check, liquid_render, sms_length


def test_a_syntax_error_is_reported_with_its_line():
    problem = liquid_check("Hello\n{% if %}\nbye")
    assert problem is not None
    assert problem.line == 2
    assert "missing expression" in problem.message


def test_an_unknown_filter_is_an_error_when_saved():
    problem = liquid_check("{{ profile.first_name | shout }}")
    assert problem is not None
    assert problem.line == 1
    assert "unknown filter 'shout'" in problem.message


def test_default_filter_and_missing_values():
    context = {"profile": {"first_name": ""}, "event": {"product_name": "Shoes"}}
    rendered = liquid_render('Hi {{ profile.first_name | default: "there" }}, {{ event.product_name }}!', context)
    assert rendered == "Hi there, Shoes!"
    assert liquid_render("[{{ profile.nothing.deeper }}]", context) == "[]"


@pytest.mark.parametrize(
    "source",
    ["{{ profile.__class__ }}", "{{ profile.__dict__ }}", "{{ profile.items }}", "{{ event.__init__.__globals__ }}"],
)
def test_python_internals_are_out_of_reach(source):
    assert liquid_render(source, {"profile": {"first_name": "Ada"}, "event": {}}) == ""


def test_templates_cannot_include_files():
    with pytest.raises(RenderError, match="line 1"):
        liquid_render("{% include '/etc/passwd' %}", {})


def test_loops_are_bounded():
    with pytest.raises(RenderError):
        liquid_render("{% for i in (1..100000000) %}x{% endfor %}", {})


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("", "GSM-7", 0, 0),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("€" * 80, "GSM-7", 160, 1),  # extension characters cost two septets
        ("ğ" * 70, "UCS-2", 70, 1),
        ("ğ" * 71, "UCS-2", 71, 2),
        ("😀" * 35, "UCS-2", 70, 1),  # a surrogate pair is two units
    ],
)
def test_sms_segments(text, encoding, units, segments):
    length = sms_length(text)
    assert (length.encoding, length.units, length.segments) == (encoding, units, segments)
