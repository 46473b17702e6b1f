"""A faulty network in front of a real server, for tests of what a client does when a
response is lost or a gateway fails. The server is real and does the work; only the way
back is cut. Loopback only.

Each request is forwarded whole (``Connection: close`` both ways). A rule matching the
method and path can, a given number of times:

* ``"drop"``: forward the request, let the server handle it, then close the connection
  without answering (the client sees the kind of failure a read timeout gives);
* ``"503"``: answer 503 without forwarding (a gateway in front of a restarting server);
* ``"down"``: the service is gone for ``seconds``, from this request on: every connection
  in that window is closed at once, unanswered and not forwarded.
"""
from __future__ import annotations

import re
import socket
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Rule:
    method: str
    path: str            # a regex matched against the path (query string included)
    action: str          # "drop", "503" or "down"
    times: int = 1
    seconds: float = 0   # for "down"


@dataclass
class FaultyProxy:
    upstream: tuple[str, int]
    rules: list[Rule] = field(default_factory=list)
    seen: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, outcome)

    def __post_init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._lock = threading.Lock()
        self._stop = False
        self.down_until = 0.0
        self.outages: list[tuple[float, float]] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def close(self) -> None:
        self._stop = True
        self._sock.close()

    def __enter__(self) -> FaultyProxy:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def count(self, method: str, path: str) -> int:
        return sum(1 for m, p, _ in self.seen if m == method and re.search(path, p))

    # -- the wire ------------------------------------------------------------------
    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _rule(self, method: str, path: str) -> str | None:
        with self._lock:
            for r in self.rules:
                if r.times > 0 and r.method == method and re.search(r.path, path):
                    r.times -= 1
                    if r.action == "down":
                        now = time.monotonic()
                        self.down_until = now + r.seconds
                        self.outages.append((now, self.down_until))
                    return r.action
        return None

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            head, body = _read_request(conn)
            if head is None:
                return
            lines = head.split(b"\r\n")
            method, path, _ = lines[0].decode("latin-1").split(" ", 2)
            action = self._rule(method, path)
            if action == "down" or time.monotonic() < self.down_until:
                self.seen.append((method, path, "down"))
                return  # closed unanswered: the service is not there
            if action == "503":
                self.seen.append((method, path, "503"))
                conn.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                             b"Connection: close\r\n\r\n")
                return
            headers = [ln for ln in lines[1:] if ln and not ln.lower().startswith(
                (b"connection:", b"keep-alive:", b"proxy-connection:"))]
            request = b"\r\n".join([lines[0], *headers, b"Connection: close", b"", b""]) + body
            with socket.create_connection(self.upstream, timeout=120) as up:
                up.sendall(request)
                response = b"".join(iter(lambda: up.recv(65536), b""))
            if action == "drop":
                self.seen.append((method, path, "dropped"))
                return  # the server did the work; the answer never arrives
            self.seen.append((method, path, "ok"))
            conn.sendall(response)


def _read_request(conn: socket.socket) -> tuple[bytes | None, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None, b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    size = int(m.group(1)) if m else 0
    while len(body) < size:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head, body
