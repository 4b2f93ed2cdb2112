"""Log output shapes: JSON lines, the ``--access-log-format`` template, ``--log-config`` files."""

from __future__ import annotations

import importlib
import json
import logging
import string
import time
from pathlib import Path
from typing import Any

from asgid.errors import ConfigError

# Fields of every access line (asgid.logging.AccessLogWriter), by name.
ACCESS_FIELDS = (
    "client",
    "method",
    "path",
    "protocol",
    "status",
    "bytes",
    "duration_s",
    "referer",
    "user_agent",
)
# Derived fields a template may use besides those.
DERIVED_FIELDS = ("duration_ms", "time")


class NotAccess(logging.Filter):
    """Keeps access lines off the server log's handler: they have their own destination."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name != "asgid.access"


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and any access-line fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in ACCESS_FIELDS:
            if name in record.__dict__:
                entry[name] = record.__dict__[name]
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class AccessTemplate:
    """``{client} {method} {path} {status}``-style access lines, checked once at start."""

    def __init__(self, template: str) -> None:
        known = set(ACCESS_FIELDS) | set(DERIVED_FIELDS)
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(template) if name}
        except ValueError as exc:
            raise ConfigError(f"--access-log-format {template!r}: {exc}") from None
        unknown = names - known
        if unknown:
            raise ConfigError(
                f"--access-log-format: unknown field(s) {', '.join(sorted(unknown))}; "
                f"known: {', '.join(ACCESS_FIELDS + DERIVED_FIELDS)}"
            )
        self.template = template
        self.derived = names & set(DERIVED_FIELDS)

    def render(self, fields: dict[str, Any]) -> str:
        values = {k: ("-" if v is None else v) for k, v in fields.items()}
        if "duration_ms" in self.derived:
            duration = fields["duration_s"]
            values["duration_ms"] = "-" if duration is None else f"{duration * 1000:.3f}"
        if "time" in self.derived:
            values["time"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        return self.template.format(**values)


def load_log_config(path: str) -> None:
    """dictConfig from ``.json``/``.yaml``/``.yml``, fileConfig from anything else (INI)."""
    import logging.config  # here: it imports socketserver, which only --log-config needs

    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"--log-config {path}: no such file")
    suffix = file.suffix.lower()
    try:
        if suffix == ".json":
            logging.config.dictConfig(json.loads(file.read_text()))
        elif suffix in (".yaml", ".yml"):
            logging.config.dictConfig(_yaml(file))
        else:
            logging.config.fileConfig(str(file), disable_existing_loggers=False)
    except ConfigError:
        raise
    except Exception as exc:  # json, yaml, configparser and dictConfig errors alike
        raise ConfigError(f"--log-config {path}: {exc}") from None


def _yaml(file: Path) -> Any:
    try:
        yaml = importlib.import_module("yaml")
    except ImportError:
        raise ConfigError(
            f"--log-config {file}: YAML needs PyYAML (pip install pyyaml), or write JSON/INI"
        ) from None
    return yaml.safe_load(file.read_text())
