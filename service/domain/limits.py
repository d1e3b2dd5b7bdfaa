"""The sizes the contract allows (SPEC sections 4 and 6)."""

TITLE_MAX = 500
COMMENT_MAX = 10_000
TEXT_MAX = 10_000
# Emails, owners, job run ids.
SHORT_MAX = 320
TAG_MAX = 100
TAGS_MAX = 100
BLOCKS_MAX = 1_000
ISSUE_ATTACHMENTS_MAX = 100
COMMENT_ATTACHMENTS_MAX = 10
SESSIONS_MAX = 100
FILE_NAME_MAX = 255

PAGE_MAX = 1_000
ISSUES_PAGE_DEFAULT = 100
COMMENTS_PAGE_DEFAULT = 50
HISTORY_PAGE_DEFAULT = 100

# Issues one bulk update may name.
BULK_IDS_MAX = 100
# How long a create's request_id (Idempotency-Key) is remembered, in seconds.
REQUEST_ID_SECONDS = 24 * 3600

METRICS_DAYS_DEFAULT = 30
METRICS_DAYS_MAX = 366

# How deeply a description block may nest objects and arrays (the block
# itself is level 1). Protobuf parsers stop at 100 message levels and every
# JSON level costs two or three of them; a list response adds its own, so
# this stays well below the parsers' limit and anything stored can be read
# back in any response that contains it.
BLOCK_DEPTH_MAX = 16
