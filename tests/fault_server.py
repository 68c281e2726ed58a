"""A small OpenAI-compatible HTTP server of the tests' own, on 127.0.0.1, for what a real server cannot be
made to do on demand: 429 with Retry-After, 500s, answers slower than the client's timeout, and dropped
connections. Its answers are deterministic: it replies with the number in the prompt doubled, so scores
can be checked, and it reports usage like an OpenAI endpoint.

Faults are scripted per request number (1-based, in arrival order) through ``faults``.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Script:
    faults: dict[int, str] = field(default_factory=dict)
    """request number -> '429', '500', 'slow', 'drop' (closed before any answer), 'drop-after-headers' (a 200's
    headers, then closed mid-body), 'bad-json' (a 200 whose body is not JSON), or a usage fault: 'no-usage',
    'null-usage', 'text-usage' (non-numeric prompt_tokens), 'negative-usage', 'inflated-usage' (a billion
    tokens)."""
    every: str | None = None
    """A fault for every request that ``faults`` names none for."""
    delay_s: float = 0.0
    """Every answer waits this long (for kill -9 tests)."""
    retry_after: str = "0"
    requests: int = 0
    authorizations: list[str] = field(default_factory=list)
    clients: list[str] = field(default_factory=list)
    """The address each request came from."""
    print_clients: bool = False
    """Print each request's client address on stdout (a server in a process of its own, in a namespace)."""
    bodies: list[dict[str, object]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


USAGE_FAULTS: dict[str, object] = {
    "no-usage": None,
    "null-usage": None,
    "text-usage": {"prompt_tokens": "many", "completion_tokens": 3},
    "negative-usage": {"prompt_tokens": -300_000_000, "completion_tokens": 3},
    "inflated-usage": {"prompt_tokens": 1_000_000_000, "completion_tokens": 3},
}


def _handler(script: Script) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep test output clean
            return

        def _send(
            self, status: int, payload: dict[str, object], headers: dict[str, str] | None = None
        ) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # what a vLLM server's readiness check asks
            if self.path.rstrip("/").endswith("/models"):
                self._send(200, {"object": "list", "data": [{"id": "any", "object": "model"}]})
            else:
                self._send(404, {"error": {"message": "not found"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            with script.lock:
                script.requests += 1
                number = script.requests
                script.authorizations.append(self.headers.get("Authorization") or "")
                script.clients.append(self.client_address[0])
                if script.print_clients:
                    print(f"client {self.client_address[0]}", flush=True)
                script.bodies.append(body)
            fault = script.faults.get(number, script.every)
            if fault == "429":
                self._send(429, {"error": {"message": "rate limited"}}, {"Retry-After": script.retry_after})
                return
            if fault == "500":
                self._send(500, {"error": {"message": "boom"}})
                return
            if fault == "drop":
                self.connection.shutdown(socket.SHUT_RDWR)
                self.connection.close()
                return
            if fault == "drop-after-headers":
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "4096")
                self.end_headers()
                self.wfile.write(b'{"id": "cmpl-')
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.connection.close()
                return
            if fault == "bad-json":
                data = b'{"choices": [{"message": {"content": "4"'  # cut short: not JSON
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            if fault == "slow":
                time.sleep(3.0)
            if script.delay_s:
                time.sleep(script.delay_s)
            prompt = " ".join(str(m.get("content", "")) for m in body.get("messages", []))  # type: ignore[union-attr]
            numbers = re.findall(r"\d+", prompt)
            answer = str(2 * int(numbers[-1])) if numbers else "I do not know"
            usage: object = {
                "prompt_tokens": 10 + len(prompt) // 4,
                "completion_tokens": 3,
                "total_tokens": 13 + len(prompt) // 4,
            }
            if fault in USAGE_FAULTS:
                usage = USAGE_FAULTS[fault]
            payload = {
                "id": f"cmpl-{number}",
                "object": "chat.completion",
                "model": body.get("model"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": answer},
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage,
            }
            if fault == "no-usage":
                del payload["usage"]
            self._send(200, payload)

    return Handler


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # room for 64+ clients connecting at once
    daemon_threads = True


@contextmanager
def fault_server(script: Script | None = None, host: str = "127.0.0.1") -> Iterator[tuple[str, Script]]:
    """(base URL, script) of a running server on ``host``; it stops when the block ends."""
    script = script or Script()
    server = _Server((host, 0), _handler(script))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}/v1", script
    finally:
        server.shutdown()
        server.server_close()


def serve_as_vllm(argv: list[str], delay_s: float) -> None:
    """Stand in for a vLLM server started as ``COMMAND --model W ... --host H --port P``: the fault server on that
    host and port (for launcher tests of what happens around the server, which a real one makes slow)."""
    host, port = argv[argv.index("--host") + 1], int(argv[argv.index("--port") + 1])
    server = _Server((host, port), _handler(Script(delay_s=delay_s)))
    server.serve_forever()


if __name__ == "__main__":  # a server in a process of its own: [DELAY_S [HOST [--clients]]], or --as-vllm
    import sys

    if "--as-vllm" in sys.argv:  # --as-vllm DELAY_S, then what the launcher gives a vLLM server
        serve_as_vllm(sys.argv, float(sys.argv[sys.argv.index("--as-vllm") + 1]))
        sys.exit(0)
    delay = float(sys.argv[1]) if len(sys.argv) > 1 else 0.0
    host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
    with fault_server(Script(delay_s=delay, print_clients="--clients" in sys.argv), host) as (url, _):
        print(url, flush=True)
        threading.Event().wait()
