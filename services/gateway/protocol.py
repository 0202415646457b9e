"""uvicorn's httptools protocol with limits on the request line and headers, rejected in the API's error shape.

The gateway runs uvicorn with httptools. In the versions installed when this was written
(uvicorn 0.55, httptools 0.9), a URL over 65535 bytes fails ``httptools.parse_url``. uvicorn
responds to that, and to every other request it cannot parse, with a plain-text
``400 Invalid HTTP request received.``, and it sets no limit on the size of the headers.

``LimitedHttpToolsProtocol`` stops reading a request whose URL exceeds ``MAX_URL_BYTES``
(414 ``uri_too_long``) or whose headers together exceed ``MAX_HEADER_BYTES`` (431
``headers_too_large``). It responds to those, and to every unparsable request (400
``bad_request``), with ``{"detail", "message"}`` as JSON like the rest of the API, and then
closes the connection.

NOTE: this overrides uvicorn's ``on_url``, ``on_header`` and ``send_400_response``, which are
not a public interface. tests/gateway/test_input_checks.py checks the responses through a real
gateway, so a uvicorn upgrade that changes them fails there.
"""

import json
import logging

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from libs.common.i18n import message, negotiate_language

logger = logging.getLogger(__name__)

# The longest URL the API needs is set-log-dir with a 1024-character folder, and query filters
# are short, so 8 KiB leaves a wide margin.
MAX_URL_BYTES = 8192
# A bearer token is under 1 KiB, so 32 KiB leaves room for the forwarding headers of proxies.
MAX_HEADER_BYTES = 32768


class RequestRejected(Exception):
    """Raised in a parser callback to stop reading a request that breaks a limit."""


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` with URL and header size limits and JSON error responses."""

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.header_bytes = 0
        # The status, detail and message code of a request rejected by a limit.
        self.rejection: tuple[int, str, str] | None = None

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > MAX_URL_BYTES:
            self.rejection = (414, "uri_too_long", "uri_too_long")
            raise RequestRejected()

    def on_header(self, name: bytes, value: bytes) -> None:
        # Name, value, ": " and the line break, as they were sent.
        self.header_bytes += len(name) + len(value) + 4
        if self.header_bytes > MAX_HEADER_BYTES:
            self.rejection = (431, "headers_too_large", "headers_too_large")
            raise RequestRejected()
        super().on_header(name, value)

    def send_400_response(self, msg: str) -> None:
        """Send the rejection as JSON in place of uvicorn's plain-text 400, then close the connection."""
        # A parser error before on_message_begin leaves no rejection attribute.
        status, code, message_code = getattr(self, "rejection", None) or (400, "bad_request", "invalid_http_request")
        limit = MAX_URL_BYTES if status == 414 else MAX_HEADER_BYTES
        headers = dict(getattr(self, "headers", []) or [])
        lang = negotiate_language(headers.get(b"accept-language", b"").decode("latin-1"))
        body = json.dumps(
            {"detail": code, "message": message(message_code, lang, max_bytes=limit)}, ensure_ascii=False
        ).encode()
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "-"
        logger.warning(
            "request rejected before routing status=%d code=%s client=%s reason=%s", status, code, client, msg
        )

        content = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: application/json\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"connection: close\r\n",
                b"\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()
