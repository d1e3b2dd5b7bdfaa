"""Serving: the gRPC server's assembly, health, and the `serve` command's
process (with the HTTP gateway in-process). The only part of `service` that
may import `gateway`."""
