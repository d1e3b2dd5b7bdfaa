"""Use cases: one function per command, each run in a unit of work.

The gRPC servicers (`service.api`) call these with parsed values and render
what they return; the functions reach storage only through the repositories
their unit of work hands out, bound to the caller's workspace.
"""
