"""The ceiling: a bare sync grpcio server answering one trivial unary method.

It has the same thread-pool shape as the real server
(`grpc.server(ThreadPoolExecutor(max_workers=16))`) but no interceptor, no
logging, no database and no protobuf: a generic handler echoes the request
bytes back. Whatever the real server does per call is measured against it.

    python -m bench.echo_server --listen 127.0.0.1:0

prints `port N` on stdout once serving, and stops on SIGTERM/SIGINT or after
`--max-seconds` (default 1800), whichever comes first.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import grpc

SERVICE = "bench.v1.Echo"
METHOD = f"/{SERVICE}/Echo"


def _echo(request: bytes, context: grpc.ServicerContext) -> bytes:
    return request


def start(listen: str = "127.0.0.1:0", workers: int = 16) -> tuple[grpc.Server, int]:
    server = grpc.server(ThreadPoolExecutor(max_workers=workers))
    # No serializers: bytes in, bytes out.
    handler = grpc.method_handlers_generic_handler(SERVICE, {"Echo": grpc.unary_unary_rpc_method_handler(_echo)})
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port(listen)
    if port == 0:
        raise OSError(f"cannot listen on {listen}")
    server.start()
    return server, port


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.echo_server", description=__doc__.split("\n\n")[0])
    p.add_argument("--listen", default="127.0.0.1:0")
    p.add_argument("--workers", type=int, default=16)
    p.add_argument("--max-seconds", type=float, default=1800.0, help="stop by itself after this long")
    args = p.parse_args(argv)
    if not args.listen.startswith(("127.", "localhost:", "[::1]:")):
        p.error("loopback addresses only")
    server, port = start(args.listen, args.workers)
    print(f"port {port}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait(args.max_seconds)
    server.stop(1).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
