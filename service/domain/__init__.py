"""The tracker's rules in plain Python: no database, no transport.

- `workflow`: statuses, priorities, their defaults and categories, and what a
  status change does to `resolved_at`;
- `limits`: the sizes the contract allows;
- `roles`: token roles and what each may do (`may_change_comment`);
- `errors`: the one exception hierarchy every layer raises;
- `identifiers`: parsing the ids callers send.
"""
