from __future__ import annotations

import httpx


def test_hello_world(asgid):
    server = asgid("tests.apps.basic:hello")
    response = httpx.get(server.url + "/")
    assert response.status_code == 200
    assert response.text == "Hello, world!"
    assert response.headers["server"] == "asgid"
    assert "date" in response.headers


def test_scope_fields(asgid):
    server = asgid("tests.apps.basic:scope_echo")
    scope = httpx.get(server.url + "/a%20b/c?x=1&y=%20").json()
    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "GET"
    assert scope["scheme"] == "http"
    assert scope["path"] == "/a b/c"
    assert scope["raw_path"] == "/a%20b/c"
    assert scope["query_string"] == "x=1&y=%20"
    assert scope["root_path"] == ""
    assert scope["client"][0] == "127.0.0.1"
    assert scope["server"] == ["127.0.0.1", server.port]
