"""The gRPC face of the service: the call pipeline, request parsing, message
building, and one servicer per resource. Never touches the database: it
calls the use cases in `service.app` and renders what they return."""
