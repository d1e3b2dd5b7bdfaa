"""How ids are spelled: the one definition the OpenAPI document (through the
field rules) and the server's parsing both use. Plain regular expressions in
the common subset of ECMA-262 and Python syntax, unanchored."""

from __future__ import annotations

# A uuid in its canonical 8-4-4-4-12 spelling, either case (no braces, no urn:).
UUID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# An identifier's two parts (`ACM-42`): a workspace prefix in any case, and a number.
PREFIX_ANY_CASE = "[A-Za-z][A-Za-z0-9]{1,9}"
ISSUE_NUMBER = "[1-9][0-9]{0,9}"
IDENTIFIER = f"{PREFIX_ANY_CASE}-{ISSUE_NUMBER}"
