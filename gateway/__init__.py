"""The HTTP/JSON gateway of issues.v1.IssueService, derived from its annotations.

    routing     the route table from google.api.http rules (literal beats variable)
    codec       the contract's JSON <-> protobuf messages, via descriptors
                (parsing: body bytes -> JSON; reading; writing is common.jsonout)
    errors      gRPC status -> HTTP status and the error envelope
    transcoder  one Starlette route that calls the service for every binding
    transport   how calls reach the service: a gRPC channel, or (given by
                `serve`) the server's own handlers in-process
    openapi     the OpenAPI 3.1 document from the same descriptors
                (openapi_rules: field rules as JSON Schema; openapi_responses: statuses)
    accesslog   one log line per request (none for probes that succeed)
    cors        CORS for an allow-list of origins, off by default
    limits      header size bounds (431)
    app         build_app(grpc_target, transport=None) -> Starlette
    server      start_in_thread(http_listen, grpc_target) -> GatewayHandle

Per request: `Authorization` (which must be `Bearer <token>`, else 401) is
forwarded as gRPC metadata; the deadline is
10 s, or the caller's `grpc-timeout` header (`500m`, `5S`; at most 300 s);
bodies must be JSON (`application/json` or `+json`, else 415) and at most
1 MiB (`--max-body-bytes`, else 413, checked before the body is read whole);
a PATCH body's keys are its update mask, and `null` clears a field. HEAD is
GET without the body; OPTIONS answers 204 with `Allow`.
"""
