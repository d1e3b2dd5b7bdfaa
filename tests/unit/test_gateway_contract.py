"""The contract document's examples, as data the gateway tests share.

From seeds/002_8235afc3359864fc.txt, verbatim except that timestamps carry the
explicit `Z` SPEC section 4 asks for, and the issue has the additive
`updated_at` SPEC expects and the keys SPEC section 8 adds (identifiers,
resolved_at, sub-issues, references, etags; the comment its etag). The codec, OpenAPI and end-to-end tests all hold
the gateway to these.
"""

from __future__ import annotations

CREATE_ISSUE_REQUEST = {
    "title": "Power rail undervoltage at startup",
    "description": [],
    "status": "open",
    "priority": "high",
    "tags": ["power", "startup"],
}
ISSUE_RESPONSE = {
    "uuid": "b8c9d0e1-f2a3-4567-bcde-678901234567",
    "title": "Power rail undervoltage at startup",
    "description": [],
    "status": "open",
    "priority": "high",
    "tags": ["power", "startup"],
    "owner": "Unassigned",
    "resolution_summary": None,
    "created_by": "engineer@example.com",
    "created_at": "2026-04-13T10:30:00.000000Z",
    "sessions": [],
    "attachments": [],
    "session_attachments": [],
    "job_run_id": None,
    "updated_at": "2026-04-13T10:30:00.000000Z",
    "number": 42,
    "identifier": "ENG-42",
    "resolved_at": None,
    "parent_id": None,
    "sub_issues_count": 0,
    "refs": {},
    "etag": "5d41402abc4b2a76",
}
# Keys beyond the contract's table: SPEC section 4 allows additive keys.
ADDITIVE_ISSUE_KEYS = {
    "updated_at",
    "number",
    "identifier",
    "resolved_at",
    "parent_id",
    "sub_issues_count",
    "refs",
    "etag",
}
UPDATE_ISSUE_REQUEST = {"status": "in_progress", "owner": "engineer@example.com"}

CREATE_COMMENT_REQUEST = {"content": "Reproduced on bench. Voltage sag starts at C12. Isolating now."}
COMMENT_RESPONSE = {
    "uuid": "e1f2a3b4-c5d6-7890-efab-901234567890",
    "content": "Reproduced on bench. Voltage sag starts at C12. Isolating now.",
    "attachments": [],
    "created_by": "engineer@example.com",
    "created_at": "2026-04-13T10:32:00.000000Z",
    "updated_at": "2026-04-13T10:32:00.000000Z",
    "is_edited": False,
    "is_deleted": False,
    "reactions": [],
    "etag": "7d793037a0760186",
}
ADDITIVE_COMMENT_KEYS = {"etag"}
UPDATE_COMMENT_REQUEST = {"content": "Confirmed C12 is root cause. Ordering replacement."}

# The first chart; `labels` and `series` are our additive keys.
ACTIVE_ISSUES_CHART = {
    "chart_type": "pie_chart",
    "chart_data": {
        "title": "Active Issues",
        "data": [
            {"label": "high", "value": 5, "color": None},
            {"label": "medium", "value": 3, "color": None},
            {"label": "low", "value": 1, "color": None},
        ],
        "colors": None,
        "display_config": None,
    },
}
METRICS_RESPONSE = {"metrics": [ACTIVE_ISSUES_CHART]}

FILES_RESPONSE = [
    {
        "uuid": "a1b2c3d4-e5f6-7890-abcd-ef1234567890",
        "file_name": "troubleshooting_plan.md",
        "file_type": "troubleshooting_plan",
        "attachment_id": "f2a3b4c5-d6e7-8901-fabc-012345678901",
        "created_at": "2026-04-13T10:35:00.000000Z",
    }
]

# The contract's response tables: key -> JSON types (None where Nullable says Yes).
ISSUE_TYPES: dict[str, tuple[type, ...]] = {
    "uuid": (str,),
    "title": (str,),
    "description": (list,),
    "status": (str, type(None)),
    "priority": (str, type(None)),
    "tags": (list,),
    "owner": (str,),
    "resolution_summary": (str, type(None)),
    "created_by": (str,),
    "created_at": (str,),
    "sessions": (list,),
    "attachments": (list,),
    "session_attachments": (list,),
    "job_run_id": (str, type(None)),
}
COMMENT_TYPES: dict[str, tuple[type, ...]] = {
    "uuid": (str,),
    "content": (str,),
    "attachments": (list,),
    "created_by": (str,),
    "created_at": (str,),
    "updated_at": (str,),
    "is_edited": (bool,),
    "is_deleted": (bool,),
    "reactions": (list,),
}


def test_the_examples_fit_the_contracts_own_tables():
    assert set(ISSUE_RESPONSE) == set(ISSUE_TYPES) | ADDITIVE_ISSUE_KEYS
    assert all(isinstance(ISSUE_RESPONSE[k], t) for k, t in ISSUE_TYPES.items())
    assert set(COMMENT_RESPONSE) == set(COMMENT_TYPES) | ADDITIVE_COMMENT_KEYS
    assert all(isinstance(COMMENT_RESPONSE[k], t) for k, t in COMMENT_TYPES.items())
    assert set(CREATE_ISSUE_REQUEST) <= set(ISSUE_TYPES)
