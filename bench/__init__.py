"""Benchmark of the issues service against a bare grpcio echo ceiling (see README.md)."""
