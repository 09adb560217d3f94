"""Schemathesis hooks for the contract tests (tests/tests/contracts.rs).

An Idempotency-Key names one request: the same key with another body is refused (422), as
the IETF Idempotency-Key draft asks. Schemathesis draws keys from the header's schema and
soon repeats short ones ("0", "A") with new bodies, which would report that refusal as a
schema-valid request rejected. A real client makes a key per request, so each valid key is
made unique here; an invalid one (negative testing) is left as generated.

An order's product_id names a catalogue row: whether one exists is state, not schema, and an
unknown one is refused (422). When SHOP_PRODUCT_IDS lists the products the test created, a
valid product_id is mapped onto one of them.
"""

import os
import re
import uuid

import schemathesis

VALID_KEY = re.compile(r"^[!-~]{1,255}$")
PRODUCT_IDS = [int(n) for n in os.environ.get("SHOP_PRODUCT_IDS", "").split(",") if n]


def unique(key):
    """A valid key made unique (still 1 to 255 visible ASCII characters); others unchanged."""
    if isinstance(key, str) and VALID_KEY.match(key):
        return f"{key[:200]}-{uuid.uuid4()}"
    return key


# Both: `map_headers` reaches the generated (fuzzing, stateful) cases, `map_case` the built
# ones (examples, coverage).
@schemathesis.hook
def map_headers(context, headers):
    if headers and "Idempotency-Key" in headers:
        headers["Idempotency-Key"] = unique(headers["Idempotency-Key"])
    return headers


def within_bcrypt_limit(body):
    """A password of at most 72 characters (what JSON Schema can say) cut to 72 UTF-8 bytes
    (what bcrypt takes, stated in the schema's description). Longer ones, which the schema
    itself refuses, are left for negative testing."""
    if isinstance(body, dict) and isinstance(body.get("password"), str):
        password = body["password"]
        if len(password) <= 72 and len(password.encode("utf-8")) > 72:
            cut = password.encode("utf-8")[:72].decode("utf-8", errors="ignore")
            body["password"] = cut if len(cut) >= 8 else "x" * 8
    return body


def existing_product(body):
    """The body with a valid product_id replaced by one that exists."""
    if PRODUCT_IDS and isinstance(body, dict):
        product_id = body.get("product_id")
        if type(product_id) in (int, float) and product_id >= 1 and product_id == int(product_id):
            body["product_id"] = PRODUCT_IDS[int(product_id) % len(PRODUCT_IDS)]
    return body


@schemathesis.hook
def map_body(context, body):
    return within_bcrypt_limit(existing_product(body))


@schemathesis.hook
def map_case(context, case):
    if case.headers and "Idempotency-Key" in case.headers:
        case.headers["Idempotency-Key"] = unique(case.headers["Idempotency-Key"])
    case.body = within_bcrypt_limit(existing_product(case.body))
    return case
