"""What kind of line a phone number is (phonenumbers' types, as ringback names them).

Its own module, free of the phonenumbers library, so the operator configuration (which names
kinds to refuse) loads without it.
"""

from __future__ import annotations

from enum import StrEnum


class NumberKind(StrEnum):
    MOBILE = "mobile"
    FIXED_LINE = "fixed_line"
    FIXED_OR_MOBILE = "fixed_or_mobile"
    VOIP = "voip"
    TOLL_FREE = "toll_free"
    PREMIUM_RATE = "premium_rate"
    SHARED_COST = "shared_cost"
    PERSONAL = "personal"
    PAGER = "pager"
    UAN = "uan"
    VOICEMAIL = "voicemail"
    UNKNOWN = "unknown"
