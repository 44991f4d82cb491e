"""The internal row ids of the AWS notes (B-RDS-1, C-APIGW-1, A-29): they belong in code comments,
never in a text a user reads."""
from __future__ import annotations

import re

ROW_ID = re.compile(r"\b(?:[A-D]-[A-Z0-9]+-\d+|A-\d+)\b")
