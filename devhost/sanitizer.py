"""Credential hiding in the messages the Functions host passes on, as the host does it.

The host builds every worker failure as an ``RpcException`` whose message goes through its
``Sanitizer`` (azure-functions-host ``src/WebJobs.Script/Workers/Rpc/RpcException.cs``, the
constructor; rules in ``src/WebJobs.Script/Sanitizer.cs``, ``Sanitizer.Sanitize(string)``):

- each of a fixed list of tokens (``Token=``, ``AccountKey=``, ``Password=``, ``pwd=``,
  ``&sig=``, ``?sig=``, ``&code=``, ``?code=``, ``key=``, ...), found case-insensitively, is
  replaced, together with everything after it up to the next ``<``, ``"`` or ``'`` (or the end
  of the text), by ``[Hidden Credential]``;
- ``PublicKeyToken=`` is not a credential;
- a URL with a user and password (``scheme://user:password@host:port``) is replaced whole.

A bare ``sig=`` or ``code=`` (not after ``?`` or ``&``) is not among the host's tokens, so it
is left as it is, here as there. This module follows those rules; it is not the host's code.
"""

from __future__ import annotations

import re

SECRET_REPLACEMENT = "[Hidden Credential]"
_ALLOWED_TOKENS = ("PublicKeyToken=",)
CREDENTIAL_TOKENS = ("Token=", "DefaultEndpointsProtocol=http", "AccountKey=", "Data Source=",
                     "Server=", "Password=", "pwd=", "&amp;sig=", "&sig=", "?sig=",
                     "SharedAccessKey=", "&amp;code=", "&code=", "?code=", "key=")
_VALUE_TERMINATORS = re.compile("[<\"']")
_URL_CREDENTIALS = re.compile(
    r"""\b([a-zA-Z]+)   # protocol
        ://
        ([^:/\s]+)      # user
        :
        ([^@/\s]+)      # password
        @
        ([^:/\s]+)      # address
        :
        ([0-9]+)\b      # port
    """, re.IGNORECASE | re.VERBOSE)


def sanitize(text: str | None) -> str:
    """``text`` with the credentials the host would hide replaced by ``[Hidden Credential]``."""
    if not text:
        return ""
    if "=" not in text and ":" not in text:
        return text
    shown = text
    # allowed tokens are masked (same length) while searching, so they never match
    searched = text
    for allowed in _ALLOWED_TOKENS:
        searched = re.sub(re.escape(allowed), "#" * len(allowed), searched, flags=re.IGNORECASE)
    for token in CREDENTIAL_TOKENS:
        pattern = re.compile(re.escape(token), re.IGNORECASE)
        start = 0
        while (found := pattern.search(searched, start)) is not None:
            start = found.start()
            # both texts have the same length and the same terminators
            end = _VALUE_TERMINATORS.search(shown, start)
            cut = end.start() if end else len(shown)
            shown = shown[:start] + SECRET_REPLACEMENT + shown[cut:]
            searched = searched[:start] + SECRET_REPLACEMENT + searched[cut:]
    if ":" in text:
        shown = _URL_CREDENTIALS.sub(SECRET_REPLACEMENT, shown)
    return shown
