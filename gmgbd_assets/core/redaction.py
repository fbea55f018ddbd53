"""The one place that masks secrets in text before it is logged, raised or shown in the Dagster UI.

Two shapes carry a secret here: a URL (``postgresql://user:pw@host/db``, ``redis://:pw@host``,
``https://host/path?key=...``) and a libpq key/value DSN (``host=h password='it\\'s' dbname=d``), which DuckDB
and psycopg2 copy verbatim into their connection errors. ``redact`` masks both anywhere inside a message;
``redact_url`` is for one URL that is about to be logged, where the query string may hold a key or an e-mail.
"""

from __future__ import annotations

import re

MASK = "***"

# A URL's userinfo password: what lies between the first ':' after the scheme's '//' and the '@'. The user part
# may be empty (redis://:pw@host). Over-masking a port in a malformed URL is the safe side of the trade.
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*):(?P<secret>[^@\s]*)@")

# A libpq key/value password: a single-quoted value with backslash escapes (possibly cut off by the end of the
# message), or an unquoted value up to whitespace. It also covers ``password=`` in a URL's query string and
# ``PGPASSWORD=`` in an echoed environment, which end at whitespace too.
_KEY_VALUE_PASSWORD = re.compile(r"(?P<head>password\s*=\s*)(?P<secret>'(?:[^'\\]|\\.)*(?:'|\\?$)|[^\s']\S*)", re.I)


def redact(text: str) -> str:
    """``text`` with every URL userinfo password and every ``password=...`` value replaced by ``***``."""
    masked = _KEY_VALUE_PASSWORD.sub(lambda match: match.group("head") + MASK, text)
    return _URL_PASSWORD.sub(lambda match: f"{match.group('head')}:{MASK}@", masked)


def redact_url(url: str) -> str:
    """``url`` without its query string or fragment (they may carry an e-mail address or a key) and with any
    userinfo password masked."""
    without_query = re.split(r"[?#]", url, maxsplit=1)[0]
    return _URL_PASSWORD.sub(lambda match: f"{match.group('head')}:{MASK}@", without_query)
