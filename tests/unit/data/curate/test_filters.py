"""Quality filters (each reason, exact) and PII scrubbing (each kind, exact counts)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tunesmith.data.curate.base import Drop
from tunesmith.data.curate.items import Item
from tunesmith.data.curate.options import PII_KINDS, PiiOptions, QualityOptions
from tunesmith.data.curate.pii import Pii, luhn_ok, scrub
from tunesmith.data.curate.quality import Quality, gopher_reason
from tunesmith.records import Conversation, Message

WORDS = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
    "quebec",
    "romeo",
    "sierra",
    "tango",
    "uniform",
    "victor",
    "whiskey",
    "xray",
    "yankee",
    "zulu",
]


def chat(user: str, answer: str) -> Item:
    conv = Conversation([Message("user", user), Message("assistant", answer)], source="f.jsonl:1")
    return Item(conv, 1)


def prose(n: int, start: int = 0) -> str:
    """n distinct-ish words with no repeated 2-grams."""
    return " ".join(f"{WORDS[(start + i) % 26]}{i // 26}" for i in range(n))


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("\n".join(["the same line again and again"] * 6 + [prose(40)]), "dup_line_frac"),
        (
            prose(30) + "\n\n" + "\n\n".join(["same paragraph here"] * 3) + "\n\n" + prose(30, 5),
            "dup_para_frac",
        ),
        (prose(40) + " " + " ".join(["buy now"] * 12), "top_2_gram"),
        (prose(40) + " " + prose(30, 13) + " " + prose(30, 13), "dup_5_gram"),
        (" ".join(f"{w} #{w}tag" for w in prose(30).split()), "symbol_ratio"),
        (prose(20) + " " + " ".join(str(1000 + i) for i in range(40)), "alpha_words"),
        (prose(60), None),
    ],
)
def test_gopher_rules_name_the_first_rule_broken(answer, reason):
    assert gopher_reason("What is it?\n\n" + answer, QualityOptions()) == reason


def test_gopher_rules_skip_texts_under_gopher_min_words():
    text = "buy now buy now buy now"
    assert gopher_reason(text, QualityOptions()) is None
    assert gopher_reason(text, QualityOptions(gopher_min_words=3)) == "top_2_gram"


@pytest.mark.parametrize(
    ("item", "options", "reason", "message"),
    [
        (
            chat("hi", "..."),
            QualityOptions(),
            "empty_answer",
            "assistant answer (turn 1) has fewer than 1 letters or digits: '...'",
        ),
        (
            chat("hi", "ok"),
            QualityOptions(min_chars=10),
            "too_short",
            "6 characters (min_chars 10)",
        ),
        (
            chat("hi", "x" * 50),
            QualityOptions(max_chars=40),
            "too_long",
            "54 characters (max_chars 40)",
        ),
        (
            chat("hi", "ok"),
            QualityOptions(min_tokens=20),
            "too_few_tokens",
            "6 tokens (min_tokens 20)",
        ),
        (
            chat("hi", "ok " * 10),
            QualityOptions(max_tokens=12),
            "too_many_tokens",
            "25 tokens (max_tokens 12)",
        ),
    ],
)
def test_quality_drops_with_reason_and_message(item, options, reason, message):
    assert Quality(options, Path(".")).apply(item, None) == Drop(reason, message)


def test_quality_keeps_good_records_unchanged():
    item = chat("What is 2 + 2?", "4")
    assert Quality(QualityOptions(), Path(".")).apply(item, None) is item


ALL = list(PII_KINDS)


@pytest.mark.parametrize(
    ("text", "expected", "found"),
    [
        ("mail bob.smith+x@mail.example.com now", "mail <EMAIL> now", {"email": 1}),
        (
            "call +1 (555) 123-4567 or 555.123.4567 or +44 20 7946 0958 or 1-800-555-1234",
            "call <PHONE> or <PHONE> or <PHONE> or <PHONE>",
            {"phone": 4},
        ),
        (
            "sum 100 200 300, 555 123 4567, 555-123.4567, 2020-2021 and 10.15",
            "sum 100 200 300, 555 123 4567, 555-123.4567, 2020-2021 and 10.15",
            {},
        ),
        (
            "hosts 192.168.0.1 and 2001:db8::8a2e:370:7334",
            "hosts <IP_ADDRESS> and <IP_ADDRESS>",
            {"ip_address": 2},
        ),
        (
            "card 4111 1111 1111 1111 and 4111-1111-1111-1112",
            "card <CREDIT_CARD> and 4111-1111-1111-1112",
            {"credit_card": 1},
        ),
        (
            "version 1.2.3, 2024-01-15, std::map, 12:30:45, ::1, order 1234567890123, 999.1.1.1",
            "version 1.2.3, 2024-01-15, std::map, 12:30:45, ::1, order 1234567890123, 999.1.1.1",
            {},
        ),
    ],
)
def test_scrub_replaces_each_kind_and_leaves_look_alikes(text, expected, found):
    counts: Counter[str] = Counter()
    assert scrub(text, ALL, counts) == expected
    assert dict(counts) == found


def test_luhn():
    assert luhn_ok("4111111111111111") and luhn_ok("79927398713")
    assert not luhn_ok("4111111111111112")


def test_pii_step_scrubs_turns_and_reasoning_and_counts_per_kind():
    conv = Conversation(
        [Message("user", "I am ann@x.org"), Message("assistant", "Hi ann@x.org", "ip 10.0.0.1")],
        source="f.jsonl:3",
    )
    step = Pii(PiiOptions(), Path("."))
    out = step.apply(Item(conv, 3, {"label": "a"}), None)
    assert [m.content for m in out.conv.messages] == ["I am <EMAIL>", "Hi <EMAIL>"]
    assert out.conv.messages[1].reasoning == "ip <IP_ADDRESS>" and out.extras == {"label": "a"}
    assert conv.messages[0].content == "I am ann@x.org"  # the input item is not changed
    assert step.summary() == {
        "records_scrubbed": 1,
        "found": {"email": 2, "phone": 0, "ip_address": 1, "credit_card": 0},
    }


def test_pii_drop_action_and_kinds_filter():
    item = chat("mail ann@x.org from 10.0.0.1", "ok")
    dropper = Pii(PiiOptions(action="drop"), Path("."))
    assert dropper.apply(item, None) == Drop("pii", "contains PII: 1 email, 1 ip_address")
    only_ip = Pii(PiiOptions(kinds=["ip_address"]), Path("."))
    assert only_ip.apply(item, None).conv.messages[0].content == "mail ann@x.org from <IP_ADDRESS>"
