"""The loop's form encoding is urlencode's (what httpx sends for `data=`), byte for byte."""

from __future__ import annotations

from urllib.parse import urlencode

from hypothesis import given
from hypothesis import strategies as st

from messaging.outbound import form_encode

TEXT = st.text(st.characters(exclude_categories=("Cs",)))  # surrogates do not encode, in either


@given(st.dictionaries(TEXT, TEXT, max_size=6))
def test_text_fields_encode_as_urlencode_does(fields):
    assert form_encode(fields) == urlencode(fields, doseq=True).encode()


def test_a_field_that_is_not_text_goes_through_urlencode():
    fields = {"To": ["+1555", "+1556"], "Count": 3, "Body": "a b&c=d/é"}
    assert form_encode(fields) == urlencode(fields, doseq=True).encode()
    assert form_encode({"Body": "a b&c=d/é~_.-"}) == b"Body=a+b%26c%3Dd%2F%C3%A9~_.-"
