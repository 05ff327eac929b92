"""How ``paklog`` commands that used Temporal leave."""

from __future__ import annotations

import os
import sys


def exit_after_temporal(code: int) -> None:
    """Leave without interpreter shutdown: temporalio 1.35 can abort there (sdk-python #300)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
