"""issuectl: the command-line client of IssueService, over gRPC.

    config            server and token: flags, then ISSUES_SERVER/ISSUES_TOKEN, then the login file
    client            the gRPC channel, and every failure as one line naming the field
    context           the options every command shares (--server, --token, --tls, --json [FIELDS]), printing
    main              the group: login, metrics, completion, --version; registers the modules below
    issue_list        list, search (pages, "showing N of M")
    issue_commands    view, create, delete (confirmed), history
    issue_edits       edit (set and clear), close, reopen
    comment_commands  comment add|edit|delete, react
    text_input        a comment's text: argument, `-`, --body-file or $EDITOR
    watch             events as they happen, resumed after a dropped connection
    pages             every page of a list
    views             tables, issue pages and chart bars
    output            terminal vs pipe: colour, fitted tables, relative times, JSON
    upload            attachments: register, stream the bytes to the signed URL

It imports the generated stubs and `common`, never `service` or `gateway`
(.importlinter), so it installs and runs without the server's dependencies
being loaded. `--json` prints the HTTP contract's JSON through
common.jsonout, the gateway's own writer.
"""
