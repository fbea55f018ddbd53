"""The one redaction module masks every shape of secret the project's errors and logs can carry."""

from __future__ import annotations

import pytest

from gmgbd_assets.core.redaction import MASK, redact, redact_url

SECRET = "s3cr3t"


@pytest.mark.parametrize(
    "text",
    [
        f"postgresql://gmgbd:{SECRET}@127.0.0.1:5432/catalog",
        f"redis://:{SECRET}@127.0.0.1:6379/0",
        f"rediss://dagster:{SECRET}@redis.gmgbd.svc:6380/1",
        f"IO Error: Unable to connect to Postgres at 'host=127.0.0.1 port=5 password={SECRET} dbname=catalog'",
        f"ducklake:postgres:dbname=catalog password='{SECRET}' host=h",
        f"connect failed: postgresql://u@h/db?sslmode=require&password={SECRET}",
        f"env: PGPASSWORD={SECRET} psql",
    ],
)
def test_redact_masks_the_password_anywhere_in_a_message(text: str) -> None:
    masked = redact(text)
    assert SECRET not in masked
    assert MASK in masked


@pytest.mark.parametrize(
    "password",
    ["it\\'s", "two words", "back\\\\slash", "a\\'b\\'c d=e", "trailing\\\\"],
)
def test_redact_masks_a_quoted_password_with_escapes_and_keeps_what_follows(password: str) -> None:
    dsn = f"host=127.0.0.1 password='{password}' dbname=catalog"
    assert redact(dsn) == f"host=127.0.0.1 password={MASK} dbname=catalog"


def test_redact_masks_a_quoted_password_cut_off_by_the_end_of_the_message() -> None:
    assert redact("password='it\\'s half") == f"password={MASK}"


def test_redact_keeps_the_user_host_and_database_for_the_operator() -> None:
    masked = redact(f"could not connect to postgresql://gmgbd:{SECRET}@db.internal:5432/catalog: timeout")
    assert masked == f"could not connect to postgresql://gmgbd:{MASK}@db.internal:5432/catalog: timeout"


def test_redact_leaves_text_without_a_secret_alone() -> None:
    text = 'connection to server at "127.0.0.1", port 5 failed: Connection refused'
    assert redact(text) == text
    assert redact("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_redact_url_drops_the_query_string_and_the_userinfo_password() -> None:
    url = f"https://user:{SECRET}@api.example.org/v1/observations?email=me@example.org&key={SECRET}#frag"
    assert redact_url(url) == f"https://user:{MASK}@api.example.org/v1/observations"


def test_redact_url_keeps_a_plain_url() -> None:
    assert redact_url("https://api.inaturalist.org/v1/observations") == "https://api.inaturalist.org/v1/observations"
