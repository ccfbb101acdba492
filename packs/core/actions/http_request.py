"""core.http_request: one HTTP request, with Attune's parameters and result.

Parameters (JSON on stdin): url, method, headers, body, json_body (or json), query_params,
timeout, verify_ssl (or verify), auth_type/auth_username/auth_password/auth_token,
follow_redirects, max_redirects, max_response_bytes. Prints one JSON object: status_code,
headers, body, json (the parsed body when it is JSON, else null), elapsed_ms, url (after
redirects), success (2xx). A non-2xx answer, a connection error or a timeout exits 1 with the
reason on stderr, so `failed()` transitions see it; the JSON is still on stdout.
"""

from __future__ import annotations

import base64
import json
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

# Stdout is capped at 256 KiB by the runner; body and parsed JSON both go into it.
RESULT_LIMIT_BYTES = 250_000


class Failure(Exception):
    pass


def main() -> int:
    params = json.load(sys.stdin)
    started = time.monotonic()
    result: dict[str, Any] = {"status_code": 0, "headers": {}, "body": "", "json": None,
                              "elapsed_ms": 0, "url": params.get("url") or "", "success": False}
    try:
        request, context, opener = build(params)
        result["url"] = request.full_url
        respond(result, request, context, opener, params)
    except Failure as exc:
        result["error"] = str(exc)
    result["elapsed_ms"] = int((time.monotonic() - started) * 1000)
    text = json.dumps(result, ensure_ascii=False)
    if len(text.encode()) > RESULT_LIMIT_BYTES:
        print(f"the response does not fit in a task result: {len(text.encode())} bytes of output, "
              f"the limit is {RESULT_LIMIT_BYTES} (lower max_response_bytes or fetch less)",
              file=sys.stderr)
        return 1
    print(text)
    if not result["success"]:
        error = result.get("error") or f"HTTP {result['status_code']} from {request_line(params)}"
        print(error, file=sys.stderr)
        return 1
    return 0


def request_line(params: dict[str, Any]) -> str:
    return f"{(params.get('method') or 'GET').upper()} {params.get('url')}"


def build(params: dict[str, Any]) -> tuple[urllib.request.Request, ssl.SSLContext | None, Any]:
    url = params.get("url")
    if not url:
        raise Failure("url parameter is required")
    method = (params.get("method") or "GET").upper()
    query = params.get("query_params") or {}
    if query:
        url += ("&" if urllib.parse.urlsplit(url).query else "?") + urllib.parse.urlencode(query)
    headers = {str(k): str(v) for k, v in (params.get("headers") or {}).items()}
    data = None
    payload = params.get("json_body", params.get("json"))
    if payload is not None:
        data = json.dumps(payload).encode()
        if not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"
    elif params.get("body") is not None:
        data = str(params["body"]).encode()
    auth = params.get("auth_type") or "none"
    if auth == "basic":
        pair = f"{params.get('auth_username') or ''}:{params.get('auth_password') or ''}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    elif auth == "bearer":
        headers["Authorization"] = f"Bearer {params.get('auth_token') or ''}"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    verify = params.get("verify_ssl") if params.get("verify_ssl") is not None else params.get("verify")
    context = None
    if url.startswith("https:") and verify is False:  # None: not given, so verify
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    redirects = Redirects(params.get("follow_redirects", True), int(params.get("max_redirects", 10)))
    handlers: list[Any] = [redirects]
    if context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=context))
    return request, context, urllib.request.build_opener(*handlers)


class Redirects(urllib.request.HTTPRedirectHandler):
    def __init__(self, follow: bool, limit: int) -> None:
        super().__init__()
        self.follow = follow
        self.max_redirections = limit

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return super().redirect_request(req, fp, code, msg, headers, newurl) if self.follow else None


def respond(result: dict[str, Any], request: urllib.request.Request, context: Any, opener: Any,
            params: dict[str, Any]) -> None:
    timeout = float(params.get("timeout", 30))
    limit = int(params.get("max_response_bytes", 100_000))
    try:
        response = opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as answer:  # a non-2xx status is still an answer
        response = answer
    except TimeoutError:  # socket.timeout is an alias of it
        raise Failure(f"request timed out after {timeout:g} s: {request_line(params)}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            raise Failure(f"request timed out after {timeout:g} s: {request_line(params)}") from None
        raise Failure(f"could not connect: {reason} ({request_line(params)})") from None
    with response:
        try:
            raw = response.read(limit + 1)
        except TimeoutError:
            raise Failure(f"request timed out after {timeout:g} s reading the response: "
                          f"{request_line(params)}") from None
        if len(raw) > limit:
            raise Failure(f"the response body is larger than max_response_bytes ({limit}): "
                          f"{request_line(params)}")
        result["status_code"] = response.status
        result["headers"] = dict(response.headers.items())
        result["url"] = response.geturl()
    charset = response.headers.get_content_charset() or "utf-8"
    result["body"] = raw.decode(charset, errors="replace")
    result["json"] = parse_json(result["body"])
    result["success"] = 200 <= result["status_code"] < 300


def parse_json(body: str) -> Any:
    text = body.strip()
    if not text or text[0] not in "[{":
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


if __name__ == "__main__":
    sys.exit(main())
