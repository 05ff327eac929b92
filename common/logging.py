"""structlog set-up shared by every process.

JSON lines by default (every process the platform runs; ``PAKLOG_LOG_FORMAT=console``
for people); ``request_id``, ``workflow_id`` and ``activity`` are bound through
contextvars. With ``PAKLOG_EXCEPTIONS_URL`` set, unexpected exceptions also go
to the central exception log (:mod:`common.exception_log`).

Every exception, whoever logs it (our code, uvicorn's error logger, a
library), is rendered by :func:`short_traceback`: plain text, the innermost
frames only, no local variables, at most :data:`MAX_TRACEBACK_CHARS`. structlog's
console default (rich, with every local rendered) cost seconds of CPU and
hundreds of kilobytes per error; a process answering many errors stalled.
"""

from __future__ import annotations

import logging
import sys
import traceback
from typing import TYPE_CHECKING, TextIO

import structlog
from structlog.typing import ExcInfo

if TYPE_CHECKING:
    from common.exception_log import ExceptionShipper
    from common.settings import PaklogSettings

#: Frames kept per exception of a chain, innermost first (where the error happened).
MAX_TRACEBACK_FRAMES = 8
#: Upper bound of a rendered traceback; the middle goes first (the outermost frames and the message stay).
MAX_TRACEBACK_CHARS = 6_000
_CUT = "\n  ... (traceback cut) ...\n"


def short_traceback(exc_info: ExcInfo) -> str:
    """The exception as plain text: its last :data:`MAX_TRACEBACK_FRAMES` frames per chained exception, bounded.

    Args:
        exc_info: ``(type, value, traceback)`` as :func:`sys.exc_info` returns it.
    """
    exc = exc_info[1]
    if exc is None:
        return ""
    text = "".join(traceback.format_exception(exc, limit=-MAX_TRACEBACK_FRAMES)).rstrip("\n")
    if len(text) > MAX_TRACEBACK_CHARS:
        head = MAX_TRACEBACK_CHARS // 3
        tail = MAX_TRACEBACK_CHARS - head - len(_CUT)
        text = text[:head] + _CUT + text[-tail:]
    return text


def _write_short_traceback(sio: TextIO, exc_info: ExcInfo) -> None:
    sio.write("\n" + short_traceback(exc_info))


#: The exception shipper :func:`configure_logging` installed last (replaced, and closed, by the next call).
_shipper: ExceptionShipper | None = None


def configure_logging(
    fmt: str = "json",
    level: str = "INFO",
    *,
    stream: TextIO | None = None,
    shipper: ExceptionShipper | None = None,
) -> None:
    """Route stdlib and structlog output through one renderer, and unexpected exceptions to the exception log.

    Args:
        fmt: ``json`` (one JSON object a line: every process the platform runs) or ``console`` for people.
        level: Minimum level name, e.g. ``INFO``.
        stream: Where lines go (default: standard error).
        shipper: Ships exceptions to the central exception log (:mod:`common.exception_log`);
            it is started here. A shipper installed earlier is closed.
    """
    global _shipper
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty(), exception_formatter=_write_short_traceback)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                # exc_info (ours, or a stdlib record's) becomes the bounded "exception" string, in both formats.
                structlog.processors.ExceptionRenderer(short_traceback),
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    handlers: list[logging.Handler] = [handler]
    if _shipper is not None and _shipper is not shipper:
        _shipper.close(timeout=1.0)
    _shipper = shipper
    if shipper is not None:
        from common.exception_log import ExceptionLogHandler

        shipper.start()
        handlers.append(ExceptionLogHandler(shipper))
    root.handlers[:] = handlers
    root.setLevel(level.upper())
    # uvicorn's own error logger ("Exception in ASGI application") goes through the handler above, even when
    # uvicorn was started with its default logging config (which gives it a handler of its own).
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    # uvicorn's access log duplicates our request log line.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # httpx logs every outgoing request at INFO; the service that answers logs it already.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def configure_process_logging(settings: PaklogSettings, process: str) -> None:
    """:func:`configure_logging` from a process's settings: its format and level, and the exception log.

    The exception log is on when ``PAKLOG_EXCEPTIONS_URL`` is set; records go there with the
    deployment's service token (``PAKLOG_SERVICE_TOKEN``) under ``process`` (``gateway``, ``orders`` ...).
    """
    from common.exception_log import ExceptionShipper
    from common.settings import ServiceCredential

    shipper = None
    if settings.exceptions_url:
        credential = settings if isinstance(settings, ServiceCredential) else ServiceCredential()
        shipper = ExceptionShipper(settings.exceptions_url, credential.service_token.get_secret_value(), process)
    configure_logging(settings.log_format, settings.log_level, shipper=shipper)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger; log with key-value pairs, not f-strings."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
