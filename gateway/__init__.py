"""The HTTP/JSON gateway of issues.v1.IssueService, derived from its annotations.

    routing     the route table from google.api.http rules
    codec       the contract's JSON <-> protobuf messages, via descriptors
    errors      gRPC status -> HTTP status and the error envelope
    transcoder  one Starlette route that calls the service for every binding
    openapi     the OpenAPI 3.1 document from the same descriptors
    app         build_app(grpc_target) -> Starlette
    server      start_in_thread(http_listen, grpc_target) -> GatewayHandle
"""
