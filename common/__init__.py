"""What the server, the HTTP gateway and the CLI all need, and nothing else.

`common` imports only the generated `issues.v1` code and grpc/protobuf
libraries, never `service`, `gateway` or `cli`, so each of those can be
deployed and imported alone (import-linter enforces it in CI):

- `descriptors`: the IssueService descriptor and the method and field
  options the contract declares (roles, success codes, required fields);
- `enums`: the JSON names of proto enum values (`STATUS_IN_PROGRESS` ->
  `in_progress`);
- `errors`: field violations, the gRPC code -> HTTP status table, the JSON
  error envelope and the `google.rpc.Status` packing of violations;
- `jsonout`: messages as the HTTP contract's JSON (the gateway's responses,
  the CLI's `--json`);
- `logs`: one JSON object per log line;
- `defaults`: listen addresses and the environment variables that set them.
"""
