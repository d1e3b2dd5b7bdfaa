"""An HTTP floor for the gateway rows: Starlette on uvicorn answering a small JSON.

It is what the gateway costs before it does anything (no gRPC hop, no JSON
transcoding), and it is how the HTTP clients of `bench.loadgen` were compared.

    python -m bench.http_echo --port 0

prints `port N` once serving; stops on SIGTERM/SIGINT or after `--max-seconds`.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

BODY = {"uuid": "00000000-0000-0000-0000-000000000000", "title": "echo", "status": "open"}


async def _echo(request):  # noqa: ANN001 - Starlette handler
    return JSONResponse(BODY)


app = Starlette(routes=[Route("/echo", _echo, methods=["GET", "POST"])])


async def _serve(sock: socket.socket, max_seconds: float) -> None:
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await asyncio.wait_for(asyncio.shield(task), max_seconds)
    except TimeoutError:
        server.should_exit = True
        await task


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.http_echo")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--max-seconds", type=float, default=1800.0)
    args = p.parse_args(argv)
    # proto must be IPPROTO_TCP: asyncio only sets TCP_NODELAY on accepted sockets
    # whose proto says TCP, and without it every response waits ~40 ms (Nagle
    # against delayed ACKs).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    print(f"port {sock.getsockname()[1]}", flush=True)
    asyncio.run(_serve(sock, args.max_seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
