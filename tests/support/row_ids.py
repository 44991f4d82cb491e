"""The internal row ids of docs/aws-behaviours.md (B-RDS-1, C-APIGW-1, A-29): they belong in code
comments, never in a text a user reads."""
from __future__ import annotations

import re

# Digits first in the class: with the letters first, the pattern's own text would read as a row id.
ROW_ID = re.compile(r"\b(?:[A-D]-[0-9A-Z]+-\d+|A-\d+)\b")
