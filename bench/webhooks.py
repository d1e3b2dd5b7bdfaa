"""The webhooks benchmark (issue 20):

    .venv/bin/python -m bench.webhooks                          # the full rows
    .venv/bin/python -m bench.webhooks --seconds 2 --events 200  # small

On a fresh PostgreSQL database it starts one `serve` replica (with
ISSUES_WEBHOOK_ALLOW_PRIVATE=1, so it may deliver on loopback) and a
receiver in a process of its own (answers 200 at once, HTTP/1.1 keep-alive;
a lean asyncio one, since it stands for a receiver on another host: see
`_receive`), and measures:

1. CreateIssue writes/s (8 in flight, closed loop, gRPC) in a workspace with
   no webhook, then in one with one active webhook (the same receiver): what a
   writer pays for a webhook (its delivery row, and the deliveries going out
   meanwhile), with the CPU per write of `serve`, of its other processes (the
   dispatcher's, on PostgreSQL), of the receiver, and of the whole PostgreSQL
   cluster (others' work on a shared host counts there too);
2. for the phase with a webhook: how many deliveries arrived during the
   writes, then the catch-up: deliveries/s after the writes ended until the
   last one, and that last one's lag behind the end of the writes;
3. deliveries/s to that one receiver: `--events` issues written as fast as
   they go, then the time from the first write to the receiver's last
   delivery, and the lag from the last write's answer to the last delivery.

Prints a Markdown table; every process it starts is stopped and the database
dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import threading
import time
import uuid
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "gen")]

import grpc  # noqa: E402

from bench import seed  # noqa: E402
from bench.events import Replica, _writes  # noqa: E402
from bench.run import _cpu_seconds, _postgres_cpu, _postgres_cpu_since, free_port, process_tree  # noqa: E402
from issues.v1 import issue_service_pb2 as pb, issue_service_pb2_grpc, webhook_pb2  # noqa: E402


def _receive(port: int, count: Any, last: Any) -> None:
    """The receiver (a child process): counts distinct webhook-ids, notes when the last arrived.

    It stands for a receiver on another host, so it should cost this host as
    little as an honest one can: an asyncio protocol that reads each request
    (headers, then Content-Length bytes of body), answers HTTP/1.1 200 at once
    and keeps the connection alive. (http.server's threads cost ~300 µs of CPU
    a delivery here, about a third of what a write costs PostgreSQL.)"""
    import asyncio

    seen: set[bytes] = set()
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"

    class Receiver(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.transport = transport
            self.buffer = b""

        def data_received(self, data: bytes) -> None:
            self.buffer += data
            answered = 0
            while True:
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    break
                length, hook_id = 0, b""
                for line in self.buffer[:end].split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"webhook-id":
                        hook_id = value.strip()
                if len(self.buffer) < end + 4 + length:
                    break  # the body is still coming
                self.buffer = self.buffer[end + 4 + length :]
                seen.add(hook_id)
                answered += 1
            if answered:
                count.value = len(seen)
                last.value = time.monotonic()
                self.transport.write(answer * answered)

    async def serve() -> None:
        server = await asyncio.get_running_loop().create_server(Receiver, "127.0.0.1", port)
        await server.serve_forever()

    asyncio.run(serve())


def _create_burst(target: str, token: str, n: int, concurrency: int = 8) -> tuple[float, float]:
    """n CreateIssue calls from `concurrency` threads; (first call's start, last answer), monotonic."""
    left = iter(range(n))
    lock = threading.Lock()
    started = time.monotonic()
    ended = [started]

    def writer() -> None:
        with grpc.insecure_channel(target) as channel:
            create = issue_service_pb2_grpc.IssueServiceStub(channel).CreateIssue
            while True:
                with lock:
                    if next(left, None) is None:
                        return
                create(
                    pb.CreateIssueRequest(title=f"burst-{uuid.uuid4().hex[:8]}"),
                    metadata=(("authorization", f"Bearer {token}"),),
                    timeout=30,
                )
                with lock:
                    ended[0] = max(ended[0], time.monotonic())

    threads = [threading.Thread(target=writer) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return started, ended[0]


def main(argv: list[str] | None = None) -> int:
    import multiprocessing

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--admin-url", default=seed.ADMIN_URL)
    p.add_argument("--seconds", type=float, default=8.0, help="length of each write phase")
    p.add_argument("--events", type=int, default=2000, help="issues written for the deliveries/s row")
    p.add_argument("--json", type=pathlib.Path, help="also write the results here")
    args = p.parse_args(argv)

    workdir = pathlib.Path(os.environ.get("TMPDIR", "/tmp")) / f"issues-bench-webhooks-{os.getpid()}"
    workdir.mkdir(parents=True, exist_ok=True)
    name, url = seed.create_database(args.admin_url)
    os.environ["ISSUES_WEBHOOK_ALLOW_PRIVATE"] = "1"  # the replica inherits it: the receiver is on loopback
    mp = multiprocessing.get_context("spawn")
    count, last = mp.Value("i", 0), mp.Value("d", 0.0)
    receiver_port = free_port()
    receiver = mp.Process(target=_receive, args=(receiver_port, count, last), daemon=True)
    receiver.start()
    replica: Replica | None = None
    results: dict[str, Any] = {}
    try:
        replica = Replica(url, workdir, http=False)
        from service.app import tokens
        from service.storage import database

        db = database.open_database(url, pool_size=1)
        database.bind(db)
        plain = tokens.create_token(
            f"bench-plain-{uuid.uuid4().hex[:6]}", "bench@example.com", "admin", create_workspace=True
        )
        hooked = tokens.create_token(
            f"bench-hooked-{uuid.uuid4().hex[:6]}", "bench@example.com", "admin", create_workspace=True
        )
        db.close_all()
        with grpc.insecure_channel(replica.target) as channel:
            issue_service_pb2_grpc.IssueServiceStub(channel).CreateWebhook(
                webhook_pb2.CreateWebhookRequest(url=f"http://127.0.0.1:{receiver_port}/hook"),
                metadata=(("authorization", f"Bearer {hooked}"),),
                timeout=30,
            )

        _writes(replica.target, plain, 1.0)  # warm up
        # serve and, on PostgreSQL, its dispatcher process; the receiver last
        tree = (*process_tree(replica.process.pid), receiver.pid)
        results["serve_processes"] = len(tree) - 1
        results["no_webhook"] = _write_phase(replica.target, plain, args.seconds, tree, count, last, False)
        results["one_webhook"] = _write_phase(replica.target, hooked, args.seconds, tree, count, last, True)
        results["writes_per_s_no_webhook"] = results["no_webhook"]["writes_per_s"]
        results["writes_per_s_one_webhook"] = results["one_webhook"]["writes_per_s"]

        before = count.value
        first, last_ack = _create_burst(replica.target, hooked, args.events)
        deadline = time.monotonic() + 300
        while count.value < before + args.events and time.monotonic() < deadline:
            time.sleep(0.05)
        delivered = count.value - before
        results["burst_events"] = args.events
        results["burst_delivered"] = delivered
        results["deliveries_per_s"] = delivered / max(1e-9, last.value - first)
        results["last_delivery_lag_s"] = max(0.0, last.value - last_ack)
    finally:
        if replica is not None:
            replica.stop()
        receiver.kill()
        seed.drop_database(name, args.admin_url)

    _print_table(results, args.events)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def _write_phase(
    target: str, token: str, seconds: float, tree: tuple[int, ...], count: Any, last: Any, hooked: bool
) -> dict[str, float]:
    """Writes for `seconds`, then (for a workspace with a webhook) until the
    receiver has every delivery: writes/s, CPU per write, deliveries during the
    writes and after them (the catch-up), and the lag of the last delivery."""
    acked: dict[str, float] = {}
    delivered_before = count.value
    cpu = [_cpu_seconds(pid) for pid in tree]
    pg = _postgres_cpu()
    rate = _writes(target, token, seconds, acked=acked)
    ended = time.monotonic()
    cpu = [_cpu_seconds(pid) - c for pid, c in zip(tree, cpu)]
    pg_used = _postgres_cpu_since(pg)
    during = count.value - delivered_before
    writes = len(acked)
    phase: dict[str, float] = {
        "writes": writes,
        "writes_per_s": rate,
        "serve_cpu_us_per_write": cpu[0] / writes * 1e6,
        "other_serve_processes_cpu_us_per_write": sum(cpu[1:-1]) / writes * 1e6,  # the dispatcher process
        "receiver_cpu_us_per_write": cpu[-1] / writes * 1e6,
        "postgres_cpu_us_per_write": pg_used / writes * 1e6,  # every backend of the cluster: other users count too
        "delivered_during_writes": during,
    }
    deadline = time.monotonic() + 300
    while (
        hooked and time.monotonic() < deadline and (count.value - delivered_before < writes or _still_arriving(count))
    ):
        time.sleep(0.05)
    after = count.value - delivered_before - during
    if after > 0:
        phase["delivered_after_writes"] = after
        phase["catch_up_deliveries_per_s"] = after / max(1e-9, last.value - ended)
        phase["last_delivery_lag_s"] = max(0.0, last.value - ended)
    return phase


def _print_table(results: dict[str, Any], events: int) -> None:
    plain, hooked = results["no_webhook"], results["one_webhook"]
    ratio = hooked["writes_per_s"] / plain["writes_per_s"]
    print("| row | no webhook | one active webhook |\n| --- | ---: | ---: |")
    print(f"| CreateIssue writes/s | {plain['writes_per_s']:.0f} | {hooked['writes_per_s']:.0f} ({ratio:.2f}x) |")
    for key, label in (
        ("serve_cpu_us_per_write", "serve process CPU µs/write"),
        ("other_serve_processes_cpu_us_per_write", "its other processes (dispatcher) CPU µs/write"),
        ("receiver_cpu_us_per_write", "the receiver's CPU µs/write"),
        ("postgres_cpu_us_per_write", "PostgreSQL CPU µs/write (whole cluster)"),
    ):
        print(f"| {label} | {plain[key]:.0f} | {hooked[key]:.0f} |")
    print(f"| deliveries during the writes | | {hooked['delivered_during_writes']} of {hooked['writes']} |")
    if "catch_up_deliveries_per_s" in hooked:
        print(
            f"| deliveries/s after the writes (catch-up), last delivery's lag | | "
            f"{hooked['catch_up_deliveries_per_s']:.0f}/s, {hooked['last_delivery_lag_s'] * 1000:.0f} ms |"
        )
    print(
        f"| burst of {events}: deliveries/s to one receiver ({results['burst_delivered']} of {events}) | | "
        f"{results['deliveries_per_s']:.0f} |"
    )
    print(f"| burst: last delivery after the last write's answer | | {results['last_delivery_lag_s'] * 1000:.0f} ms |")


def _still_arriving(count: Any) -> bool:
    """Whether the deliveries of the write phase are still arriving (the count moved in the last 0.5 s)."""
    seen = count.value
    time.sleep(0.5)
    return count.value != seen


if __name__ == "__main__":
    sys.exit(main())
