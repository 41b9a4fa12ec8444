"""One log format: every line a service process writes is one JSON object (tracing.JsonFormatter: time, level,
service, logger, message, the current trace and span ids, the passport being handled), whoever writes it: our
code, uvicorn (run with log_config=None, runtime.serve), aiokafka, asyncio, warnings, uncaught exceptions, and
whatever a library prints to stdout or stderr. No ANSI colour, no padding."""

from __future__ import annotations

import io
import logging
import re
import sys
import threading
from types import TracebackType

from services.common.tracing import JsonFormatter

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")  # colour and cursor sequences (CSI)


class StripAnsi(logging.Filter):
    """Renders a record's message once, without ANSI sequences (a library's coloured text stays readable)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "\x1b" in message:
            record.msg, record.args = _ANSI.sub("", message), None
        return True


class LoggingStream(io.TextIOBase):
    """Stands in for sys.stdout / sys.stderr: what a library prints (or a handler it made writes there) becomes a
    log record, one per line, so it too comes out as one JSON object."""

    def __init__(self, logger: str, level: int) -> None:
        super().__init__()
        self.logger = logging.getLogger(logger)
        self.level = level
        self._partial = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        for line in lines:
            if line.strip():
                self.logger.log(self.level, line.rstrip())
        return len(text)

    def flush(self) -> None:
        if self._partial.strip():
            self.logger.log(self.level, self._partial.rstrip())
        self._partial = ""


def setup_logging(service: str, level: int = logging.INFO, *, std_streams: bool = True) -> None:
    """The root logger's one handler writes JSON lines to stdout and gets every library's records (their own
    handlers are removed, their loggers propagate); warnings, uncaught exceptions (of the main thread, of other
    threads, unraisable ones) are logged; with `std_streams`, sys.stdout and sys.stderr become LoggingStreams.
    uvicorn's access log (one line per request, written in the request's trace) is kept at INFO."""
    out = sys.__stdout__ if std_streams and sys.__stdout__ is not None else sys.stdout
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter(service))
    handler.addFilter(StripAnsi())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for existing in list(logging.root.manager.loggerDict.values()):
        if isinstance(existing, logging.Logger):
            existing.handlers.clear()
            existing.propagate = True
    logging.lastResort = None
    logging.captureWarnings(True)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").setLevel(logging.INFO)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_thread_exception
    sys.unraisablehook = _log_unraisable
    if std_streams:
        sys.stdout = LoggingStream("stdout", logging.INFO)
        sys.stderr = LoggingStream("stderr", logging.WARNING)


def _log_uncaught(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
    logging.getLogger("uncaught").critical("uncaught %s", kind.__name__, exc_info=(kind, error, tb))


def _log_thread_exception(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    error = args.exc_value if args.exc_value is not None else args.exc_type()
    logging.getLogger("uncaught").error(
        "uncaught %s in thread %s", args.exc_type.__name__, name, exc_info=(args.exc_type, error, args.exc_traceback)
    )


def _log_unraisable(unraisable: sys.UnraisableHookArgs) -> None:
    error = unraisable.exc_value
    logging.getLogger("unraisable").warning(
        "%s: %r",
        unraisable.err_msg or "Exception ignored in",
        unraisable.object,
        exc_info=(unraisable.exc_type, error, unraisable.exc_traceback) if error is not None else None,
    )
