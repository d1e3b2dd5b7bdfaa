"""issuectl: the command-line client of IssueService, over gRPC.

    config   server and token: flags, then ISSUES_SERVER/ISSUES_TOKEN, then the login file
    client   the gRPC channel, and every failure as one line naming the field
    main     the Click commands (login, list, view, create, edit, comment, delete, metrics)
    views    tables, issue pages and chart bars
    output   terminal vs pipe: colour, fitted tables, relative times, JSON
    upload   attachments: register, stream the bytes to the signed URL

It imports the generated stubs and `common`, never `service` or `gateway`
(.importlinter), so it installs and runs without the server's dependencies
being loaded. `--json` prints the HTTP contract's JSON through
common.jsonout, the gateway's own writer.
"""
