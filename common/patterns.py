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
# An RFC 3339 timestamp as the list filters take it: `T` and `Z` upper case,
# up to nine decimals, an offset instead of `Z`, years 0001 to 9999 (year 0
# is no year Python or the databases have; spelled without look-ahead, which
# not every schema-driven generator reads).
_YEAR = "(?:[0-9]{3}[1-9]|[0-9]{2}[1-9][0-9]|[0-9][1-9][0-9]{2}|[1-9][0-9]{3})"
DATE_TIME = (
    _YEAR + "-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(?:\.[0-9]{1,9})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)
