"""The one rule for names that reach Redis keys, file names and mail headers (fraudcal.names)."""

from __future__ import annotations

import re

import pytest

from fraudcal.names import (
    MAIL_ADDRESS_PATTERN,
    SAFE_NAME_PATTERN,
    SAFE_NAME_RULE,
    UnsafeNameError,
    check_name,
    is_safe_name,
)

SAFE = ["v1", "v1.2.3", "fraud_detector", "xgb_2025-03-01", "V2", "0", "a" * 100]
UNSAFE = {
    "v1:previous": "':' at index 2",  # the Redis key separator: would be v1's rollback key
    "a/b": "'/' at index 1",
    "a\\b": "'\\\\' at index 1",
    "v 1": "' ' at index 1",
    "v1\n": "'\\n' at index 2",  # Python's $ alone matches before a final newline
    "v1\r\nBcc: x@evil.example": "'\\r' at index 2",
    "<img src=x onerror=alert(1)>": "'<' at index 0",
    "..": "it starts with '.'",
    ".hidden": "it starts with '.'",
    "-rf": "it starts with '-'",
    "v*": "'*' at index 1",
    "{v1}": "'{' at index 0",
    "v\u0430": "'\u0430' at index 1",  # Cyrillic a: a look-alike of v + Latin a
    "": "it is empty",
    "a" * 101: "it has 101 characters, more than 100",
}


@pytest.mark.parametrize("name", SAFE)
def test_safe_names_pass_unchanged(name):
    assert check_name("model_version", name) == name
    assert is_safe_name(name)


@pytest.mark.parametrize(("name", "why"), UNSAFE.items(), ids=[repr(name)[:30] for name in UNSAFE])
def test_unsafe_names_are_refused_naming_the_value_the_character_and_the_rule(name, why):
    with pytest.raises(UnsafeNameError) as error:
        check_name("model_version", name)
    message = str(error.value)
    assert message.startswith(f"model_version {name!r} is not a safe name: {why}")
    assert SAFE_NAME_RULE in message and SAFE_NAME_PATTERN in message
    assert isinstance(error.value, ValueError)
    assert not is_safe_name(name)


@pytest.mark.parametrize("value", [None, 1, b"v1", ["v1"]])
def test_a_name_that_is_not_a_string_is_refused(value):
    with pytest.raises(UnsafeNameError, match=f"model_type {re.escape(repr(value))} is not a safe name: it is a"):
        check_name("model_type", value)


def test_the_caller_chooses_the_error_class():
    class MyInputError(ValueError):
        pass

    with pytest.raises(MyInputError, match="model_type 'a:b'"):
        check_name("model_type", "a:b", MyInputError)


def test_the_pattern_means_the_same_under_re_search_which_jsonschema_uses():
    # jsonschema checks "pattern" with re.search; the rule must hold there exactly as in check_name.
    for name in SAFE:
        assert re.search(SAFE_NAME_PATTERN, name)
    for name in UNSAFE:
        assert re.search(SAFE_NAME_PATTERN, name) is None, repr(name)


@pytest.mark.parametrize(
    "address", ["ops@example.com", "fraud-ops@example.com", "a.b+tag@mail.example.co", "x@localhost"]
)
def test_plain_mail_addresses_match(address):
    assert re.search(MAIL_ADDRESS_PATTERN, address)


@pytest.mark.parametrize(
    "address",
    [
        "ops@example.com\r\nBcc: x@evil.example",  # header injection
        "ops@example.com\n",
        "ops@example.com, x@evil.example",  # a second recipient smuggled into one
        "Ops <ops@example.com>",
        "ops@example.com>",
        "o ps@example.com",
        '"ops"@example.com',
        "ops@exa mple.com",
        "ops;x@example.com",
        "@example.com",
        "ops@",
        "ops@-example.com",
        "not an address",
    ],
)
def test_anything_but_a_plain_address_does_not_match(address):
    assert re.search(MAIL_ADDRESS_PATTERN, address) is None
