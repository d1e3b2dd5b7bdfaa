"""Use cases: one function per command, each run in a unit of work by the
Runner it is given (runner.py, built once at startup by the runtime).

The gRPC servicers (`service.api`) call these with the runner, the caller
and parsed values, and render what they return; the commands reach storage
through the repositories their unit of work is given, bound to the caller's
workspace (tests/unit gives them in-memory ones).
"""
