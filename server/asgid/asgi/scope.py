"""Build HTTP and WebSocket scopes (path decoding, ``root_path``, client/server, proxies)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_to_bytes

from asgid.config import Config
from asgid.events import Request
from asgid.proxy_headers import resolve, trusted_proxies
from asgid.types import Scope

Address = tuple[str, int]


@dataclass(slots=True)
class ConnectionInfo:
    """What every scope on one connection shares; built once when the connection is made."""

    client: Address | None
    server: tuple[str, int | None] | None
    scheme: str  # "http" or "https"; WebSocket scopes map it to ws/wss
    trusted: bool = False  # the peer may set proxy headers
    extensions: dict[str, Any] = field(default_factory=dict)  # e.g. "tls"
    # The HTTP scope's fields that are the same for every request on the connection, in
    # scope order; made by its first request (copying it beats building a dict anew).
    http_scope: dict[str, Any] | None = field(default=None, repr=False, compare=False)


def decode_path(raw_path: bytes) -> str:
    """Percent-decode the target path and read it as UTF-8, as ASGI's ``path`` asks."""
    if raw_path.find(b"%") < 0:  # not ``in``, which costs a raised TypeError on Python 3.11
        try:
            return raw_path.decode("ascii")
        except UnicodeDecodeError:
            return raw_path.decode("utf-8", "replace")
    return unquote_to_bytes(raw_path).decode("utf-8", "replace")


def _http_extensions(http_version: str) -> dict[str, Any]:
    extensions: dict[str, Any] = {
        "http.response.trailers": {},
        "http.response.pathsend": {},
        "http.response.zerocopysend": {},
    }
    if http_version == "2":
        extensions["http.response.push"] = {}
    if http_version != "1.0":  # RFC 8297 §3: no 1xx to an HTTP/1.0 client
        extensions["http.response.early_hint"] = {}
    return extensions


def build_http_scope(
    request: Request, conn: ConnectionInfo, config: Config, state: dict[str, Any]
) -> Scope:
    if conn.trusted:
        client, scheme, server, root_path = _origin(request, conn, config)
    else:
        client, scheme, server, root_path = conn.client, conn.scheme, conn.server, config.root_path
    # One unpacking: on Python 3.11 each field read by name costs about as much again.
    _, http_version, method, raw_path, query_string, headers, authority = request
    # Built per request, inner dicts included: an app or middleware may write into them,
    # and nothing it writes may reach another request.
    if http_version == "1.1":
        # _http_extensions("1.1") without the call: the version of nearly every request.
        extensions: dict[str, Any] = {
            "http.response.trailers": {},
            "http.response.pathsend": {},
            "http.response.zerocopysend": {},
            "http.response.early_hint": {},
        }
    else:
        extensions = _http_extensions(http_version)
    if conn.extensions:
        extensions.update(conn.extensions)
    if raw_path.isascii():
        path = raw_path.decode("ascii")
        if "%" in path:  # in the decoded text: cheaper than a search of the bytes
            path = decode_path(raw_path)
    else:
        path = decode_path(raw_path)
    base = conn.http_scope
    if base is None:
        base = conn.http_scope = {
            "type": "http",
            "asgi": None,
            "http_version": None,
            "method": None,
            "scheme": conn.scheme,
            "path": None,
            "raw_path": None,
            "query_string": None,
            "root_path": config.root_path,
            "headers": None,
            "client": conn.client,
            "server": conn.server,
            "state": None,
            "extensions": None,
        }
    scope = base.copy()
    scope["asgi"] = {"version": "3.0", "spec_version": "2.4"}
    scope["http_version"] = http_version
    scope["method"] = method.decode("ascii")
    scope["path"] = root_path + path
    scope["raw_path"] = raw_path
    scope["query_string"] = query_string
    scope["headers"] = headers if authority is None else _with_host(request)
    scope["state"] = state.copy()
    scope["extensions"] = extensions
    if conn.trusted:  # what the proxy headers said
        scope["scheme"] = scheme
        scope["root_path"] = root_path
        scope["client"] = client
        scope["server"] = server
    return scope


def _with_host(request: Request) -> list[tuple[bytes, bytes]]:
    """RFC 9113 §8.3.1: an HTTP/2 ``:authority`` stands for ``host`` when the request has none."""
    headers = request.headers
    if request.authority is None or any(name == b"host" for name, _ in headers):
        return headers
    return [(b"host", request.authority), *headers]


def build_websocket_scope(
    request: Request, conn: ConnectionInfo, config: Config, state: dict[str, Any]
) -> Scope:
    client, scheme, server, root_path = _origin(request, conn, config)
    extensions: dict[str, Any] = {"websocket.http.response": {}}
    if conn.extensions:
        extensions.update(conn.extensions)
    return {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": request.http_version,
        "scheme": "wss" if scheme in ("https", "wss") else "ws",
        "path": root_path + decode_path(request.raw_path),
        "raw_path": request.raw_path,
        "query_string": request.query_string,
        "root_path": root_path,
        "headers": request.headers,
        "client": client,
        "server": server,
        "subprotocols": subprotocols(request.headers),
        "state": state.copy(),
        "extensions": extensions,
    }


def subprotocols(headers: list[tuple[bytes, bytes]]) -> list[str]:
    offered: list[str] = []
    for name, value in headers:
        if name == b"sec-websocket-protocol":
            offered.extend(
                item.strip() for item in value.decode("latin-1").split(",") if item.strip()
            )
    return offered


def _origin(
    request: Request, conn: ConnectionInfo, config: Config
) -> tuple[Address | None, str, tuple[str, int | None] | None, str]:
    if not conn.trusted:
        return conn.client, conn.scheme, conn.server, config.root_path
    view = resolve(
        request.headers,
        client=conn.client,
        scheme=conn.scheme,
        server=conn.server,
        host_header=(config.proxy_headers_host or "x-forwarded-for").lower().encode("latin-1"),
        port_header=(config.proxy_headers_port or "x-forwarded-port").lower().encode("latin-1"),
        trusted=trusted_proxies(config.trusted_proxies),
    )
    root_path = view.root_path if view.root_path is not None else config.root_path
    return view.client, view.scheme, view.server, root_path
