"""The dead-letter API's OpenAPI document, generated from the routes and their models.

``python -m redrive.openapi > dead-letters.openapi.json`` writes it.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from redrive.api import app

TITLE = "Payroll dead-letter API"
VERSION = "1.0.0"
DESCRIPTION = (
    "See and act on the process dead-letter queue. Every call is signed with AWS SigV4 "
    "(API Gateway IAM authorization) and passes AWS WAF. A record is addressed by its "
    "record_key (the record id, base64url-encoded without padding)."
)


def openapi_document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        app.get_openapi_json_schema(title=TITLE, version=VERSION, description=DESCRIPTION)
    )
    return document


if __name__ == "__main__":
    sys.stdout.write(json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n")
