"""PII scrubbing: e-mail addresses, phone numbers, IPv4 / IPv6 addresses, card numbers.

Each finding is replaced by a tag (`<EMAIL>`, `<PHONE>`, `<IP_ADDRESS>`, `<CREDIT_CARD>`) in every
turn and in reasoning, and counted per kind; with `action: drop` a record with any finding is
dropped instead (reason `pii`). What counts:

- email: `local@domain.tld` (RFC 5322's common subset);
- credit_card: 13-19 digits, optionally in groups split by single spaces or dashes, that pass the
  Luhn check (checked before phone numbers, which could match card-number groups);
- phone: `+` and a country code, then groups of digits (`+44 20 7946 0958`, `+1 555 123 4567`);
  or an area code in parentheses (`(555) 123-4567`); or three groups split by the same dot or
  dash (`555.123.4567`, `1-800-555-1234`). Digits split only by spaces (`100 200 300`) are not
  phone numbers: lists of numbers are common in training data;
- ip_address: dotted-quad IPv4 with octets <= 255; IPv6 that `ipaddress.IPv6Address` accepts,
  with at least two groups and at least one digit (so `std::map` stays).
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tunesmith.data.curate.base import Drop, Result, Step
from tunesmith.data.curate.items import Item, clone
from tunesmith.data.curate.options import PiiOptions
from tunesmith.records import Conversation, Message

TAGS = {
    "email": "<EMAIL>",
    "phone": "<PHONE>",
    "ip_address": "<IP_ADDRESS>",
    "credit_card": "<CREDIT_CARD>",
}
EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
PHONE = re.compile(
    r"(?<![\w+-])(?:"
    r"\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?|\d{1,4}[ .-])\d{3,4}[ .-]?\d{3,4}"  # +44 20 7946 0958
    r"|\(\d{2,4}\)[ .-]?\d{3,4}[ .-]\d{3,4}"  # (555) 123-4567
    r"|(?:1[.-])?\d{2,4}(?P<sep>[.-])\d{3,4}(?P=sep)\d{3,4}"  # 555-123-4567, 1-800-555-1234
    r")(?![\w-])"
)
IPV4 = re.compile(
    r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}"
    r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\w.]|\.\d)"
)
IPV6_CANDIDATE = re.compile(r"(?<![\w:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])")


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _is_card(match: re.Match) -> bool:
    digits = re.sub(r"[ -]", "", match.group())
    return 13 <= len(digits) <= 19 and luhn_ok(digits)


def _is_ipv6(match: re.Match) -> bool:
    text = match.group()
    if not any(c.isdigit() for c in text) or sum(1 for g in text.split(":") if g) < 2:
        return False
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


DIGIT = re.compile(r"\d")
FINDERS: list[tuple[str, re.Pattern, Callable[[re.Match], bool] | None, Callable[[str], bool]]] = [
    # kind, pattern, check of a match, cheap test whether the pattern can match at all
    ("email", EMAIL, None, lambda t: "@" in t),
    ("credit_card", CARD, _is_card, lambda t: DIGIT.search(t) is not None),
    ("ip_address", IPV4, None, lambda t: "." in t and DIGIT.search(t) is not None),
    ("ip_address", IPV6_CANDIDATE, _is_ipv6, lambda t: t.count(":") >= 2),
    ("phone", PHONE, None, lambda t: DIGIT.search(t) is not None),
]


def scrub(text: str, kinds: list[str], found: Counter) -> str:
    """`text` with each finding of `kinds` replaced by its tag; counts added to `found`."""
    for kind, pattern, accept, possible in FINDERS:
        if kind not in kinds or not possible(text):
            continue

        def replace(m: re.Match, kind: str = kind, accept: Any = accept) -> str:
            if accept is not None and not accept(m):
                return m.group()
            found[kind] += 1
            return TAGS[kind]

        text = pattern.sub(replace, text)
    return text


class Pii(Step):
    name = "pii"

    def __init__(self, options: PiiOptions, work: Path) -> None:
        self.o = options
        self.found: Counter[str] = Counter()
        self.records_changed = 0

    def apply(self, item: Item, index: int | None) -> Result:
        found: Counter[str] = Counter()
        conv = item.conv
        if conv.is_text:
            new = Conversation(text=scrub(conv.text or "", self.o.kinds, found), source=conv.source)
        else:
            new = Conversation(
                messages=[
                    Message(
                        m.role,
                        scrub(m.content, self.o.kinds, found),
                        None if m.reasoning is None else scrub(m.reasoning, self.o.kinds, found),
                    )
                    for m in conv.messages
                ],
                source=conv.source,
                meta=dict(conv.meta),
            )
        if not found:
            return item
        if self.o.action == "drop":
            what = ", ".join(f"{n} {kind}" for kind, n in sorted(found.items()))
            return Drop("pii", f"contains PII: {what}")
        self.found.update(found)
        self.records_changed += 1
        return clone(item, item.origin, new)

    def summary(self) -> dict[str, Any]:
        return {
            "records_scrubbed": self.records_changed,
            "found": {k: self.found.get(k, 0) for k in self.o.kinds},
        }
