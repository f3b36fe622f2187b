"""Logs: one JSON object per line on standard error (`PTSP_LOG_FORMAT=json`, the default
of `ptsp up` and its processes) or plain text (`text`, the default of the other
commands).

Standard error, not standard output: `ptsp up` keeps its `ptsp ready URL` line alone on
standard output whatever the format (API.md), and its children's standard output is a
pipe their parent reads only for their first line.

No personal data: the access line (`services.ops.telemetry`) names the route template,
never the path or the query string (a tracking PIN travels in one), and no body.
Structured fields go in `extra={"fields": {...}}`; the JSON formatter puts them at the
top level of the line, the text formatter appends them as key=value.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

ACCESS = "ptsp.access"
FIELDS = "fields"
"""The `extra` key whose dict a formatter puts into the line."""


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, FIELDS, None)
    return fields if isinstance(fields, dict) else {}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(_fields(record))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(name)s %(levelname)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = _fields(record)
        if fields:
            text += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        return text


def configure(log_format: str, level: int = logging.INFO) -> None:
    """Every log line of this process in `log_format` (json or text) on standard error;
    uvicorn's own loggers too (it is started with `log_config=None`, so they propagate)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)  # a library's warning is a log line too, in the format
