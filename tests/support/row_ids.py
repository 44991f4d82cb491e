"""The internal row ids of the AWS notes (B-RDS-1, C-APIGW-1, A-29): they belong in code comments,
never in a text a user reads."""
from __future__ import annotations

import re

# [0-9A-Z], not [A-Z0-9]: written the other way the pattern's own text ("A-Z0-9") would match it.
ROW_ID = re.compile(r"\b(?:[A-D]-[0-9A-Z]+-\d+|A-\d+)\b")
