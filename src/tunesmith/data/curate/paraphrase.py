"""Paraphrase and back-translation through any OpenAI-compatible chat completions endpoint.

A seeded `fraction` of records gets one rewritten copy (origin `paraphrase` or
`back_translation`): each turn whose role is in `roles` is sent to `{endpoint}/chat/completions`
(a tunesmith server or any other), once to paraphrase, or twice (to `pivot`, then back to
`language`) to back-translate. Requests run `concurrency` at a time with plain HTTP (urllib);
a request failing `retries + 1` times stops the run with an error naming the endpoint.
"""

from __future__ import annotations

import json
import os
import random
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tunesmith.data.curate.base import Records, Result, Step
from tunesmith.data.curate.items import Item, clone
from tunesmith.data.curate.options import ParaphraseOptions
from tunesmith.errors import TunesmithError

PARAPHRASE = (
    "Rewrite the user's text in different words. Keep its meaning, its language, and any code, "
    "names and numbers exactly. Reply with the rewritten text only."
)
TRANSLATE = "Translate the user's text into {language}. Reply with the translation only."


class Client:
    """POSTs chat completions to an OpenAI-compatible endpoint; returns the message text."""

    def __init__(self, o: ParaphraseOptions) -> None:
        self.o = o
        self.url = o.endpoint.rstrip("/") + "/chat/completions"
        self.headers = {"Content-Type": "application/json"}
        if o.api_key_env:
            key = os.environ.get(o.api_key_env)
            if not key:
                raise TunesmithError(
                    f"steps.augment_paraphrase.api_key_env: environment variable "
                    f"'{o.api_key_env}' is not set (expected the API key)"
                )
            self.headers["Authorization"] = f"Bearer {key}"

    def complete(self, system: str, text: str) -> str:
        body = {
            "model": self.o.model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": text}],
            "temperature": self.o.temperature,
            "max_tokens": self.o.max_tokens,
        }
        data = json.dumps(body).encode()
        problem = ""
        for attempt in range(self.o.retries + 1):
            if attempt:
                time.sleep(min(2.0, 0.2 * 2**attempt))
            request = urllib.request.Request(self.url, data=data, headers=self.headers)
            try:
                with urllib.request.urlopen(request, timeout=self.o.timeout) as response:
                    reply = json.loads(response.read())
                content = reply["choices"][0]["message"]["content"]
                if isinstance(content, str) and content.strip():
                    return content.strip()
                problem = "the reply has no message content"
            except urllib.error.HTTPError as e:
                problem = f"HTTP {e.code} {e.reason}"
            except (urllib.error.URLError, TimeoutError, OSError) as e:
                problem = str(getattr(e, "reason", e))
            except (ValueError, KeyError, IndexError, TypeError):
                problem = "the reply is not an OpenAI chat completion (choices[0].message.content)"
        raise TunesmithError(
            f"steps.augment_paraphrase: request to {self.url} failed "
            f"{self.o.retries + 1} time(s): {problem}"
        )

    def rewrite(self, text: str) -> str:
        if self.o.mode == "paraphrase":
            return self.complete(PARAPHRASE, text)
        there = self.complete(TRANSLATE.format(language=self.o.pivot), text)
        return self.complete(TRANSLATE.format(language=self.o.language), there)


class Paraphrase(Step):
    name = "augment_paraphrase"
    global_pass = True

    def __init__(self, options: ParaphraseOptions, work: Path) -> None:
        self.o = options
        self.client = Client(options)
        self.origin = "paraphrase" if options.mode == "paraphrase" else "back_translation"
        self.chosen: list[int] = []
        self.rewritten: dict[int, Item] = {}

    def observe(self, item: Item, index: int) -> None:
        rng = random.Random(f"{self.o.seed}:{item.root}:{item.origin}")
        if rng.random() < self.o.fraction:
            self.chosen.append(index)

    def _copy(self, item: Item) -> Item:
        copy = clone(item, self.origin)
        if copy.conv.is_text and "text" in self.o.roles:
            copy.conv.text = self.client.rewrite(copy.conv.text or "")
        for m in copy.conv.messages:
            if m.role in self.o.roles:
                m.content = self.client.rewrite(m.content)
        return copy

    def finish(self, records: Records) -> None:
        items = dict(records.pick(self.chosen))
        with ThreadPoolExecutor(self.o.concurrency) as pool:
            copies = list(pool.map(self._copy, [items[i] for i in self.chosen]))
        self.rewritten = dict(zip(self.chosen, copies, strict=True))

    def apply(self, item: Item, index: int | None) -> Result:
        copy = self.rewritten.pop(index, None) if index is not None else None
        return item if copy is None else [item, copy]

    def summary(self) -> dict[str, Any]:
        return {"mode": self.o.mode, "records_made": len(self.chosen), "endpoint": self.o.endpoint}
