"""--log-config (JSON, YAML, INI), --log-format json, --access-log-format, a propagating
access logger, and --config TOML files with their precedence and errors."""

from __future__ import annotations

import json

import httpx

from tests.support.net import free_port
from tests.support.server import run_cli

APP = "tests.apps.ops:app"


def test_json_log_format_gives_access_lines_with_fields(asgid):
    port = free_port()  # the JSON "Listening on" line ends in '"}', not a bare port
    server = asgid(APP, "--log-format", "json", "--access-log", "-", "-p", str(port), endpoints=())
    httpx.get(f"http://127.0.0.1:{port}/pid?x=1", headers={"user-agent": "probe/1"})
    line = server.wait_for('"logger": "asgid.access"')
    entry = json.loads(line)
    assert entry["method"] == "GET" and entry["path"] == "/pid?x=1"
    assert entry["status"] == 200 and entry["protocol"] == "HTTP/1.1"
    assert entry["client"] == "127.0.0.1" and entry["user_agent"] == "probe/1"
    assert entry["bytes"] == len(str(server.proc.pid)) and entry["duration_s"] >= 0
    ready = json.loads(server.wait_for('"message": "asgid ready'))
    assert ready["level"] == "INFO" and ready["logger"] == "asgid.server"


def test_access_log_format_with_named_fields(asgid, tmp_path):
    log = tmp_path / "access.log"
    server = asgid(
        APP, "--access-log", str(log), "--access-log-format", "{method} {path} -> {status}"
    )
    httpx.get(server.url + "/pid")
    server.stop()
    assert log.read_text().splitlines() == ["GET /pid -> 200"]


def test_access_log_format_with_an_unknown_field_exits_2():
    result = run_cli(APP, "--access-log-format", "{method} {colour}")
    assert result.returncode == 2
    assert "unknown field(s) colour" in result.stderr and "Traceback" not in result.stderr


def test_log_config_json_and_the_access_logger_propagates(asgid, tmp_path):
    # A handler on the root logger (as an app would add) receives access lines too.
    everything = tmp_path / "all.log"
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(name)s|%(message)s"}},
        "handlers": {"file": {"class": "logging.FileHandler", "filename": str(everything),
                              "formatter": "plain"},
                     # the test harness reads "Listening on" from stderr
                     "console": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}},
        "root": {"level": "INFO", "handlers": ["file", "console"]},
    }  # fmt: skip
    path = tmp_path / "logging.json"
    path.write_text(json.dumps(config))
    server = asgid(APP, "--log-config", str(path), "--access-log", "/dev/null")
    httpx.get(server.url + "/pid")
    server.stop()
    lines = everything.read_text().splitlines()
    assert any(line.startswith("asgid.access|127.0.0.1") for line in lines)
    assert any(line.startswith("asgid.server|asgid ready") for line in lines)


def test_log_config_yaml_and_ini(asgid, tmp_path):
    out = tmp_path / "yaml.log"
    yaml_file = tmp_path / "logging.yaml"
    yaml_file.write_text(
        "version: 1\ndisable_existing_loggers: false\n"
        f"handlers:\n  f:\n    class: logging.FileHandler\n    filename: {out}\n"
        "  e:\n    class: logging.StreamHandler\n"
        "root:\n  level: INFO\n  handlers: [f, e]\n"
    )
    asgid(APP, "--log-config", str(yaml_file)).stop()
    assert "asgid ready" in out.read_text()
    ini_out = tmp_path / "ini.log"
    ini = tmp_path / "logging.ini"
    ini.write_text(
        "[loggers]\nkeys=root\n[handlers]\nkeys=f,e\n[formatters]\nkeys=p\n"
        "[logger_root]\nlevel=INFO\nhandlers=f,e\n"
        f"[handler_f]\nclass=FileHandler\nformatter=p\nargs=('{ini_out}',)\n"
        "[handler_e]\nclass=StreamHandler\nformatter=p\nargs=(sys.stderr,)\n"
        "[formatter_p]\nformat=INI %(message)s\n"
    )
    asgid(APP, "--log-config", str(ini)).stop()
    assert "INI asgid ready" in ini_out.read_text()


def test_log_config_errors_exit_2_naming_the_file(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    result = run_cli(APP, "--log-config", str(broken))
    assert result.returncode == 2 and str(broken) in result.stderr
    assert "Traceback" not in result.stderr


def test_config_file_sets_options_below_env_and_command_line(asgid, tmp_path):
    config = tmp_path / "asgid.toml"
    config.write_text(
        'app = "tests.apps.ops:app"\nserver-name = "from-file"\n'
        "timeout_keep_alive = 7\nlimit-concurrency = 5\nproxy-headers = true\n"
    )
    server = asgid("--config", str(config))
    assert httpx.get(server.url + "/pid").headers["server"] == "from-file"
    server.stop()
    server = asgid("--config", str(config), env={"ASGID_SERVER_NAME": "from-env"})
    assert httpx.get(server.url + "/pid").headers["server"] == "from-env"
    server.stop()
    server = asgid("--config", str(config), "-s", "from-cli", env={"ASGID_SERVER_NAME": "from-env"})
    assert httpx.get(server.url + "/pid").headers["server"] == "from-cli"


def test_config_file_unknown_key_or_bad_value_exits_2_naming_key_and_file(tmp_path):
    config = tmp_path / "asgid.toml"
    config.write_text("wrokers = 2\n")
    result = run_cli(APP, "--config", str(config))
    assert result.returncode == 2
    assert "'wrokers'" in result.stderr and str(config) in result.stderr
    config.write_text('graceful-timeout = "soon"\n')
    result = run_cli(APP, "--config", str(config))
    assert result.returncode == 2
    assert "'graceful-timeout'" in result.stderr and str(config) in result.stderr
    config.write_text("workers = [\n")
    result = run_cli(APP, "--config", str(config))
    assert result.returncode == 2 and "not valid TOML" in result.stderr
