"""The ceiling: a bare sync grpcio server answering one trivial unary method.

It has the same thread-pool shape as the real server
(`grpc.server(ThreadPoolExecutor(max_workers=16))`) but no interceptor, no
logging, no database and no protobuf: a generic handler echoes the request
bytes back. Whatever the real server does per call is measured against it.

    python -m bench.echo_server --listen 127.0.0.1:0 [--processes N]

prints `port N` on stdout once serving, and stops on SIGTERM/SIGINT or after
`--max-seconds` (default 1800), whichever comes first. With `--processes N`
it is N such servers on one port (SO_REUSEPORT), forked before any gRPC
object exists: the ceiling for `serve --workers N`.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import socket
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import grpc

SERVICE = "bench.v1.Echo"
METHOD = f"/{SERVICE}/Echo"


def _echo(request: bytes, context: grpc.ServicerContext) -> bytes:
    return request


def start(listen: str = "127.0.0.1:0", workers: int = 16, reuse_port: bool = False) -> tuple[grpc.Server, int]:
    server = grpc.server(
        ThreadPoolExecutor(max_workers=workers), options=[("grpc.so_reuseport", 1 if reuse_port else 0)]
    )
    # No serializers: bytes in, bytes out.
    handler = grpc.method_handlers_generic_handler(SERVICE, {"Echo": grpc.unary_unary_rpc_method_handler(_echo)})
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port(listen)
    if port == 0:
        raise OSError(f"cannot listen on {listen}")
    server.start()
    return server, port


def _wait_for_stop(seconds: float) -> None:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait(seconds)


def _forked(listen: str, processes: int, workers: int, max_seconds: float) -> int:
    host, _, port = listen.rpartition(":")
    # Bound, never listening: resolves port 0 to one port for every process.
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind((host, int(port)))
    port = holder.getsockname()[1]
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    pids = []
    for _ in range(processes):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                holder.close()
                ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: never outlive the parent
                server, _ = start(f"{host}:{port}", workers, reuse_port=True)
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
                _wait_for_stop(max_seconds)
                server.stop(1).wait()
                code = 0
            finally:
                os._exit(code)
        pids.append(pid)
    print(f"port {port}", flush=True)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    _wait_for_stop(max_seconds)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for pid in pids:
        os.waitpid(pid, 0)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.echo_server", description=__doc__.split("\n\n")[0])
    p.add_argument("--listen", default="127.0.0.1:0")
    p.add_argument("--workers", type=int, default=16, help="threads per process")
    p.add_argument("--processes", type=int, default=1, help="server processes on the one port (SO_REUSEPORT)")
    p.add_argument("--max-seconds", type=float, default=1800.0, help="stop by itself after this long")
    args = p.parse_args(argv)
    if not args.listen.startswith(("127.", "localhost:", "[::1]:")):
        p.error("loopback addresses only")
    if args.processes > 1:
        return _forked(args.listen, args.processes, args.workers, args.max_seconds)
    server, port = start(args.listen, args.workers)
    print(f"port {port}", flush=True)
    _wait_for_stop(args.max_seconds)
    server.stop(1).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
