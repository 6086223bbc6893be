#!/usr/bin/env python3
"""A backend HTTP/1.1 server for the relay's integration tests.

It listens on 127.0.0.1 only, keeps connections alive, and prints "ready"
on stdout once it accepts connections. Routes:

  GET  /echo            the method, target and header fields as JSON
  POST /echo            the request body (at most 64 MiB), as received
  POST /sha256          {"sha256": HEX, "length": N} of the request body,
                        read in pieces, so any size works
  GET  /bytes?n=N&seed=S[&chunked=1]
                        N deterministic bytes (see pattern_block), with
                        Content-Length, or chunked with chunked=1
  GET  /slow?first=N&delay=SEC[&rest=M]
                        a chunked body: N bytes "a", a pause of SEC seconds
                        (a float), then M bytes "b" (N and M default to 1)
  GET  /close-mid       announces Content-Length 1000, sends 100 bytes and
                        closes the connection
  GET  /status/N        status N with a one-line body (none for 1xx, 204
                        and 304)
  GET  /head-test       a fixed body with Content-Length; HEAD gets the same
                        head and no body
  GET  /server-id       the --name given on the command line
  GET  /peer            the address and port of the connection's client
                        (the enabler's end), so that a test can tell
                        whether two requests shared one connection
  GET  /hold?key=K[&first=N][&rest=M]
                        a chunked body: N bytes "a", then, once
                        /release?key=K was requested (or after 60 s),
                        M bytes "b" (N and M default to 1)
  GET  /release?key=K   lets the /hold requests with key K finish
  GET  /close-mid-chunked
                        a chunked body whose connection closes after the
                        first 100-byte chunk, without the last chunk
  POST /sink?key=K      reads the body and returns {"length": N}. It logs
                        "sink K: started" once the head is read, then
                        "sink K: finished N bytes" or "sink K: failed
                        after N bytes: REASON", so that a test can tell
                        whether an upload was cut short
  POST /trailers        {"sha256": HEX, "length": N, "trailers": [[NAME,
                        VALUE], ...]} of a chunked request body and its
                        trailer fields
  GET  /health          the status that /set-health set last (200 at
                        start) with a one-line body. After
                        /set-health?status=hang it waits until
                        /set-health sets a status, or responds with 503
                        after 60 s
  GET  /set-health?status=N|hang
                        sets the status of /health, from 200 to 599, or
                        makes /health hang

HEAD works on every GET route. Request bodies may come with
Content-Length or chunked.

`backend.py --digest N SEED` prints the SHA-256 of the N bytes that
/bytes?n=N&seed=SEED sends, so a test can check a download.
"""

import argparse
import hashlib
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PIECE = 64 * 1024
ECHO_MAX = 64 * 1024 * 1024
HOLD_MAX_SEC = 60

# Events that /release sets and /hold waits for, by key.
hold_events = {}
hold_lock = threading.Lock()


# The state of /health: a status, or HEALTH_HANG. /set-health changes it
# and wakes the /health requests that hang.
HEALTH_HANG = "hang"
health_state = {"status": 200}
health_changed = threading.Condition()


def hold_event(key):
    """Return the event of KEY, created on first use by either route."""
    with hold_lock:
        return hold_events.setdefault(key, threading.Event())


def pattern_block(seed):
    """Return the 64 KiB block that /bytes repeats for SEED: the SHA-256
    digests of "SEED:0", "SEED:1", ... "SEED:2047" concatenated."""
    return b"".join(
        hashlib.sha256(f"{seed}:{i}".encode()).digest() for i in range(2048)
    )


def pattern_digest(n, seed):
    """Return the hex SHA-256 of the first N bytes that /bytes sends."""
    block = pattern_block(seed)
    digest = hashlib.sha256()
    while n > 0:
        take = min(n, len(block))
        digest.update(block[:take])
        n -= take
    return digest.hexdigest()


class BodyError(Exception):
    """A request body that cannot be read: bad framing or too large."""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "drawbridge-test-backend"
    head_only = False

    # Request bodies

    def read_body_pieces(self):
        """Yield the request body in pieces, decoding chunked framing."""
        coding = self.headers.get("Transfer-Encoding", "")
        if coding.strip().lower() == "chunked":
            yield from self.read_chunked()
            return
        length = int(self.headers.get("Content-Length", "0") or "0")
        while length > 0:
            piece = self.rfile.read(min(length, PIECE))
            if not piece:
                raise BodyError("the connection closed inside the body")
            length -= len(piece)
            yield piece

    def read_chunked(self):
        while True:
            line = self.rfile.readline(1024)
            if not line.endswith(b"\n"):
                raise BodyError("invalid chunk size line")
            size = int(line.split(b";")[0].strip(), 16)
            if size == 0:
                break
            while size > 0:
                piece = self.rfile.read(min(size, PIECE))
                if not piece:
                    raise BodyError("the connection closed inside a chunk")
                size -= len(piece)
                yield piece
            if self.rfile.read(2) != b"\r\n":
                raise BodyError("chunk data without CRLF")
        # Trailer fields end with an empty line.
        while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
            pass

    # Responses

    def send_head(self, status, fields):
        self.send_response(status)
        for name, value in fields:
            self.send_header(name, value)
        self.end_headers()

    def send_whole(self, status, body, content_type="text/plain"):
        no_body = status < 200 or status in (204, 304)
        fields = [("Content-Type", content_type)]
        if not no_body:
            fields.append(("Content-Length", str(len(body))))
        self.send_head(status, fields)
        if not no_body and not self.head_only:
            self.wfile.write(body)

    def write_chunk(self, data):
        if not self.head_only and data:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

    def end_chunks(self):
        if not self.head_only:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

    # Routes

    def route_echo_get(self, query):
        del query
        info = {
            "method": self.command,
            "path": self.path,
            "headers": [[name, value] for name, value in self.headers.items()],
        }
        body = json.dumps(info).encode() + b"\n"
        self.send_whole(200, body, "application/json")

    def route_bytes(self, query):
        n = int(query.get("n", ["0"])[0])
        seed = query.get("seed", ["0"])[0]
        chunked = query.get("chunked", ["0"])[0] == "1"
        block = pattern_block(seed)
        fields = [("Content-Type", "application/octet-stream")]
        if chunked:
            fields.append(("Transfer-Encoding", "chunked"))
        else:
            fields.append(("Content-Length", str(n)))
        self.send_head(200, fields)
        left = n
        while left > 0 and not self.head_only:
            piece = block[: min(left, len(block))]
            if chunked:
                self.write_chunk(piece)
            else:
                self.wfile.write(piece)
            left -= len(piece)
        if chunked:
            self.end_chunks()

    def route_slow(self, query):
        first = int(query.get("first", ["1"])[0])
        rest = int(query.get("rest", ["1"])[0])
        delay = float(query.get("delay", ["1"])[0])
        self.send_head(
            200,
            [("Content-Type", "text/plain"), ("Transfer-Encoding", "chunked")],
        )
        self.write_chunk(b"a" * first)
        time.sleep(delay)
        self.write_chunk(b"b" * rest)
        self.end_chunks()

    def route_close_mid(self, query):
        del query
        self.send_head(
            200, [("Content-Type", "text/plain"), ("Content-Length", "1000")]
        )
        if not self.head_only:
            self.wfile.write(b"x" * 100)
            self.wfile.flush()
        self.close_connection = True

    def route_head_test(self, query):
        del query
        self.send_whole(200, b"head-test body\n")

    def route_server_id(self, query):
        del query
        self.send_whole(200, self.server.name.encode() + b"\n")

    def route_peer(self, query):
        del query
        host, port = self.client_address[:2]
        self.send_whole(200, f"{host}:{port}\n".encode())

    def route_hold(self, query):
        key = query.get("key", [""])[0]
        first = int(query.get("first", ["1"])[0])
        rest = int(query.get("rest", ["1"])[0])
        self.send_head(
            200,
            [("Content-Type", "text/plain"), ("Transfer-Encoding", "chunked")],
        )
        self.write_chunk(b"a" * first)
        hold_event(key).wait(HOLD_MAX_SEC)
        self.write_chunk(b"b" * rest)
        self.end_chunks()

    def route_close_mid_chunked(self, query):
        del query
        self.send_head(
            200,
            [("Content-Type", "text/plain"), ("Transfer-Encoding", "chunked")],
        )
        self.write_chunk(b"x" * 100)
        self.close_connection = True

    def route_release(self, query):
        key = query.get("key", [""])[0]
        hold_event(key).set()
        self.send_whole(200, f"released {key}\n".encode())

    def route_health(self, query):
        del query
        with health_changed:
            health_changed.wait_for(
                lambda: health_state["status"] != HEALTH_HANG, HOLD_MAX_SEC
            )
            status = health_state["status"]
        if status == HEALTH_HANG:
            status = 503
        try:
            self.send_whole(status, b"health %d\n" % status)
        except OSError:
            # A poller that gave up while the route hung closed the
            # connection.
            self.close_connection = True

    def route_set_health(self, query):
        value = query.get("status", [""])[0]
        if value != HEALTH_HANG and not (
            value.isdigit() and 200 <= int(value) <= 599
        ):
            self.send_whole(400, b"give a status from 200 to 599, or hang\n")
            return
        with health_changed:
            health_state["status"] = (
                HEALTH_HANG if value == HEALTH_HANG else int(value)
            )
            health_changed.notify_all()
        self.send_whole(200, f"health {value}\n".encode())

    GET_ROUTES = {
        "/echo": route_echo_get,
        "/bytes": route_bytes,
        "/slow": route_slow,
        "/close-mid": route_close_mid,
        "/head-test": route_head_test,
        "/server-id": route_server_id,
        "/peer": route_peer,
        "/hold": route_hold,
        "/release": route_release,
        "/close-mid-chunked": route_close_mid_chunked,
        "/health": route_health,
        "/set-health": route_set_health,
    }

    def route_status(self, path):
        try:
            status = int(path[len("/status/"):])
        except ValueError:
            status = 0
        if not 100 <= status <= 599 or status == 101:
            self.send_whole(400, b"give a status from 100 to 599, not 101\n")
            return
        # A 1xx is interim, so a final response must follow it.
        if status < 200:
            self.send_response_only(status)
            self.end_headers()
            self.send_whole(200, b"final response after 1xx\n")
            return
        self.send_whole(status, b"status %d\n" % status)

    def do_GET(self):
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path.startswith("/status/"):
            self.route_status(url.path)
            return
        route = self.GET_ROUTES.get(url.path)
        if route is None:
            self.send_whole(404, b"no route %s\n" % url.path.encode())
            return
        route(self, query)

    def do_HEAD(self):
        # The handler serves every request of a keep-alive connection, so
        # the flag is reset for the requests that follow.
        self.head_only = True
        try:
            self.do_GET()
        finally:
            self.head_only = False

    def do_POST(self):
        path = urlsplit(self.path).path
        try:
            if path == "/echo":
                self.post_echo()
            elif path == "/sha256":
                self.post_sha256()
            elif path == "/trailers":
                self.post_trailers()
            elif path == "/sink":
                self.post_sink()
            else:
                for _ in self.read_body_pieces():
                    pass
                self.send_whole(404, b"no route %s\n" % path.encode())
        except (BodyError, ValueError) as err:
            self.close_connection = True
            self.send_whole(400, f"invalid request body: {err}\n".encode())

    def post_echo(self):
        pieces = []
        size = 0
        for piece in self.read_body_pieces():
            size += len(piece)
            if size > ECHO_MAX:
                raise BodyError(f"the body exceeds {ECHO_MAX} bytes")
            pieces.append(piece)
        content_type = self.headers.get("Content-Type", "text/plain")
        self.send_whole(200, b"".join(pieces), content_type)

    def post_sha256(self):
        digest = hashlib.sha256()
        length = 0
        for piece in self.read_body_pieces():
            digest.update(piece)
            length += len(piece)
        body = json.dumps({"sha256": digest.hexdigest(), "length": length})
        self.send_whole(200, body.encode() + b"\n", "application/json")

    def post_sink(self):
        key = parse_qs(urlsplit(self.path).query).get("key", [""])[0]
        self.log_message("sink %s: started", key)
        length = 0
        try:
            for piece in self.read_body_pieces():
                length += len(piece)
        except (BodyError, ValueError, OSError) as err:
            self.log_message("sink %s: failed after %d bytes: %s", key,
                             length, err)
            raise
        self.log_message("sink %s: finished %d bytes", key, length)
        body = json.dumps({"length": length}).encode() + b"\n"
        self.send_whole(200, body, "application/json")

    def post_trailers(self):
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            raise BodyError("/trailers needs a chunked request body")
        digest = hashlib.sha256()
        length = 0
        while True:
            line = self.rfile.readline(1024)
            if not line.endswith(b"\n"):
                raise BodyError("invalid chunk size line")
            size = int(line.split(b";")[0].strip(), 16)
            if size == 0:
                break
            data = self.rfile.read(size)
            if len(data) != size or self.rfile.read(2) != b"\r\n":
                raise BodyError("truncated chunk")
            digest.update(data)
            length += size
        trailers = []
        while True:
            line = self.rfile.readline(8192)
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            trailers.append([name.strip(), value.strip()])
        body = json.dumps(
            {"sha256": digest.hexdigest(), "length": length,
             "trailers": trailers}
        )
        self.send_whole(200, body.encode() + b"\n", "application/json")

    def log_message(self, format, *args):  # noqa: A002 - the base's name
        sys.stderr.write(
            "%s %s: %s\n"
            % (self.server.name, self.address_string(), format % args)
        )


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port, name):
        super().__init__(("127.0.0.1", port), Handler)
        self.name = name


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, help="TCP port on 127.0.0.1")
    parser.add_argument("--name", default="backend", help="/server-id body")
    parser.add_argument(
        "--digest",
        nargs=2,
        metavar=("N", "SEED"),
        help="print the SHA-256 of /bytes?n=N&seed=SEED and exit",
    )
    args = parser.parse_args()
    if args.digest is not None:
        print(pattern_digest(int(args.digest[0]), args.digest[1]))
        return 0
    if args.port is None:
        parser.error("--port is required")
    server = Server(args.port, args.name)
    print("ready", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
