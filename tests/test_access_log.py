"""Access log: Apache combined format plus request time (µs), to a file or stdout."""

from __future__ import annotations

import re

import httpx

from tests.support.raw import RawClient, wait_until

APP = "tests.apps.http:app"
LINE = re.compile(
    r"^(?P<host>\S+) - - \[(?P<time>\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] "
    r'"(?P<request>(?:[^"\\]|\\.)*)" (?P<status>\d{3}) (?P<size>\d+|-) '
    r'"(?P<referer>(?:[^"\\]|\\.)*)" "(?P<agent>(?:[^"\\]|\\.)*)" (?P<micros>\d+)$'
)


def _lines(path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_access_log_to_file_in_combined_format(asgid, tmp_path):
    log = tmp_path / "access.log"
    server = asgid(APP, "--access-log", str(log))
    httpx.get(
        server.url + "/page?q=1",
        headers={"Referer": "http://ref.example/", "User-Agent": 'agent "quoted"'},
    )
    httpx.post(server.url + "/echo", content=b"12345")
    httpx.head(server.url + "/head")
    httpx.get(server.url + "/error-before")
    wait_until(lambda: len(_lines(log)) >= 4)
    lines = _lines(log)
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), lines
    first, post, head, error = (match.groupdict() for match in parsed)  # type: ignore[union-attr]
    assert first["host"] == "127.0.0.1"
    assert first["request"] == "GET /page?q=1 HTTP/1.1"
    assert first["status"] == "200" and first["size"] == "5"
    assert first["referer"] == "http://ref.example/"
    assert first["agent"] == 'agent \\"quoted\\"'
    assert post["request"] == "POST /echo HTTP/1.1" and post["size"] == "5"
    assert head["request"] == "HEAD /head HTTP/1.1" and head["size"] == "-"
    assert error["status"] == "500"
    # the access log does not go to the server's console when it has a file
    assert "GET /page" not in server.output


def test_access_log_to_stdout(asgid):
    server = asgid(APP, "--access-log", "-")
    httpx.get(server.url + "/to-stdout", headers={"User-Agent": "ua"})
    line = server.wait_for('"GET /to-stdout HTTP/1.1"')
    assert LINE.match(line.strip()), line


def test_access_log_escapes_what_the_client_controls(asgid, tmp_path):
    log = tmp_path / "access.log"
    server = asgid(APP, "--access-log", str(log))
    with RawClient(server.port) as client:
        client.send(b'GET /a"b\\c?x="y" HTTP/1.1\r\nHost: x\r\nUser-Agent: evil\xff" 200\r\n\r\n')
        client.read_response()
    wait_until(lambda: len(_lines(log)) >= 1)
    line = _lines(log)[0]
    match = LINE.match(line)
    assert match, line
    assert match["agent"] == 'evil\\xff\\" 200'


def test_response_cut_short_is_logged(asgid, tmp_path):
    log = tmp_path / "access.log"
    server = asgid(APP, "--access-log", str(log))
    with RawClient(server.port) as client:
        client.send(b"GET /error-after HTTP/1.1\r\nHost: x\r\n\r\n")
        client.read_until_closed()
    wait_until(lambda: len(_lines(log)) >= 1)
    match = LINE.match(_lines(log)[0])
    assert match and match["request"] == "GET /error-after HTTP/1.1"
    assert match["status"] == "200" and match["size"] == "7"  # b"partial"
