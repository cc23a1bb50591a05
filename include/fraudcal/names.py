"""Names that become part of Redis keys, file names and mail headers: one rule, checked at the door.

A model type and a model version are not only data: they are spliced into the Redis keys the
online service reads (``fraudcal:calibration:{model_type}:{model_version}`` and its
``:previous``), into file names under the artifacts folder, and into a report's ``Subject``
header. So every such name must match :data:`SAFE_NAME_PATTERN`, and :func:`check_name`
refuses one that does not, naming the value, the first character that breaks the rule and
the rule. This module imports nothing but :mod:`re`.

The rule
--------
1 to 100 ASCII letters, digits, ``.``, ``_`` and ``-``, the first a letter or digit
(``v1``, ``v1.2.3``, ``xgb_2025-03-01``). Everything else is left out for a reason:

- ``:`` separates the parts of a Redis key: a version ``v1:previous`` would publish to
  version v1's rollback key and overwrite it;
- ``/`` and ``\\`` separate the parts of a path; a leading ``.`` makes ``..`` or a hidden file;
- whitespace, CR and LF end or fold a mail header (``Subject: ...\\r\\nBcc: ...``);
- ``<``, ``>``, ``&`` and quotes are HTML; ``*``, ``?``, ``[`` and ``]`` are Redis glob
  patterns (``SCAN MATCH``); ``{`` and ``}`` are Redis Cluster hash tags;
- a leading ``-`` reads as an option on a command line;
- non-ASCII letters allow look-alikes (Cyrillic ``а``, Latin ``a``): two keys that print the same.

The pattern string is the same in JSON Schema (the trigger form's ``pattern``, an ECMA-262
regular expression) and in Python (``jsonschema`` evaluates it with :func:`re.search`). It
ends in ``$(?!\\n)``, because Python's ``$`` alone also matches before a final newline, so that
``"v1\\n"`` would pass; in ECMA-262 the lookahead is a no-op.

:data:`MAIL_ADDRESS_PATTERN` is the same kind of rule for a report recipient (it becomes part
of the ``To`` header): a plain address as HTML's ``<input type="email">`` accepts it
(WHATWG), without whitespace, CR, LF, commas, semicolons, quotes or angle brackets.

Examples
--------
>>> check_name("model_version", "v1.2.3")
'v1.2.3'
>>> check_name("model_version", "v1:previous")
Traceback (most recent call last):
...
fraudcal.names.UnsafeNameError: model_version 'v1:previous' is not a safe name: ':' at index 2 is not allowed; a name must be 1 to 100 ASCII letters, digits, '.', '_' or '-', the first a letter or digit (pattern ^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$(?!\\n)), because it becomes part of Redis keys, file names and mail headers
>>> is_safe_name("a/b"), is_safe_name("v1\\n"), is_safe_name("x" * 101)
(False, False, False)
"""

from __future__ import annotations

import re

#: The longest name (characters): the trigger form's ``maxLength`` and the pattern agree.
MAX_NAME_LENGTH = 100
#: The rule in words, as the errors state it.
SAFE_NAME_RULE = f"1 to {MAX_NAME_LENGTH} ASCII letters, digits, '.', '_' or '-', the first a letter or digit"
#: Every model type and model version that reaches a Redis key, a file name or a mail header.
SAFE_NAME_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9._-]{{0,{MAX_NAME_LENGTH - 1}}}$(?!\n)"
#: A report recipient: a plain ``local@domain`` address (WHATWG's valid e-mail address).
MAIL_ADDRESS_PATTERN = (
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$(?!\n)"
)
#: The longest address a mail server must accept (RFC 5321: a 256-octet path, less ``<>``).
MAX_MAIL_ADDRESS_LENGTH = 254

_SAFE_NAME = re.compile(SAFE_NAME_PATTERN)
_ALLOWED = re.compile(r"[A-Za-z0-9._-]")


class UnsafeNameError(ValueError):
    """A model type or version that breaks :data:`SAFE_NAME_PATTERN`."""


def is_safe_name(value: object) -> bool:
    """True when ``value`` is a string matching :data:`SAFE_NAME_PATTERN`.

    >>> is_safe_name("fraud_detector"), is_safe_name(""), is_safe_name(None)
    (True, False, False)
    """
    return isinstance(value, str) and _SAFE_NAME.search(value) is not None


def _why(value: str) -> str:
    """The first thing about ``value`` that breaks the rule, in words."""
    if not value:
        return "it is empty"
    if len(value) > MAX_NAME_LENGTH:
        return f"it has {len(value)} characters, more than {MAX_NAME_LENGTH}"
    for index, character in enumerate(value):
        if not _ALLOWED.fullmatch(character):
            return f"{character!r} at index {index} is not allowed"
    return f"it starts with {value[0]!r}"


def check_name(kind: str, value: object, error: type[ValueError] = UnsafeNameError) -> str:
    """Return ``value`` if it is a safe name; else raise ``error`` naming ``kind``, the value and the rule.

    Parameters
    ----------
    kind : str
        What the value is (``"model_type"``, ``"model_version"``), for the message.
    value : object
        The name to check; anything but a string is refused.
    error : type of ValueError
        The exception to raise (a caller's own subclass); :class:`UnsafeNameError` by default.

    >>> check_name("model_type", "fraud detector")
    Traceback (most recent call last):
    ...
    fraudcal.names.UnsafeNameError: model_type 'fraud detector' is not a safe name: ' ' at index 5 is not allowed; ...
    """
    if is_safe_name(value):
        return value  # type: ignore[return-value]
    why = _why(value) if isinstance(value, str) else f"it is a {type(value).__name__}, not a string"
    raise error(
        f"{kind} {value!r} is not a safe name: {why}; a name must be {SAFE_NAME_RULE} "
        f"(pattern {SAFE_NAME_PATTERN}), because it becomes part of Redis keys, file names and mail headers"
    )
