"""Dump the gateway's OpenAPI document for the web app's typed client (no server is started).

``python -m gateway.web_api [PATH]`` writes it to ``web/src/api/openapi.json`` (or ``PATH``);
``npm run api-types`` in ``web/`` then turns it into ``web/src/api/schema.d.ts``. Both files are committed,
and ``tests/unit/test_web_api_drift.py`` fails when the committed document differs from the gateway's own.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from gateway.app import create_app
from gateway.settings import GatewaySettings

#: The committed document, beside the generated types.
OPENAPI_JSON = Path(__file__).resolve().parent.parent / "web" / "src" / "api" / "openapi.json"


def gateway_openapi() -> dict[str, Any]:
    """The gateway's OpenAPI document as it serves it at ``/openapi.json`` (development settings)."""
    return create_app(GatewaySettings(environment="development")).openapi()


def render(document: dict[str, Any]) -> str:
    """The committed form: indented, key order kept (it is the document's order), newline at the end."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Write the document to the path given, else to :data:`OPENAPI_JSON`."""
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else OPENAPI_JSON
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(gateway_openapi()), encoding="utf-8")


if __name__ == "__main__":
    main()
