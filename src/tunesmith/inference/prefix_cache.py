"""Prefix caching: keys/values of prompt blocks kept after their request, reused by later
requests whose prompts start with the same tokens (a system prompt, the `n` samples of one
prompt, the group of an RL prompt).

A block is `block_size` prompt tokens. Its key is a hash chained over the blocks before it
and the adapter (vLLM's block hash: `hash((parent, tokens))`), so a block matches only
when the whole prefix up to it, and the weights, match. When a request is admitted,
`load` copies the longest run of cached blocks of its prompt into its slot and marks those
tokens computed: prefill starts after them (at least the last prompt token is always
computed, since its logits pick the first output token). After each step `store` copies
the request's newly completed prompt blocks out of its slot. Blocks are evicted least
recently used beyond `max_blocks`.

Memory: the blocks live beside the slot cache (a copy, not shared pages: the slot cache
holds each sequence contiguously), so the saving is prefill compute and time to first
token, not KV memory. Requests asking for prompt logprobs neither load nor skip: every
prompt row must reach the LM head.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch

from tunesmith.inference.kv_cache import SlotKVCache
from tunesmith.inference.request import Request


@dataclass
class PrefixCacheStats:
    queried_tokens: int = 0
    """prompt tokens of admitted requests that could have hit (full blocks but the last token)"""
    hit_tokens: int = 0
    """of those, tokens loaded from the cache instead of computed"""
    evicted_blocks: int = 0

    @property
    def hit_rate(self) -> float:
        return self.hit_tokens / self.queried_tokens if self.queried_tokens else 0.0


class PrefixCache:
    """Cached prompt blocks over a `SlotKVCache` (see module doc)."""

    def __init__(self, cache: SlotKVCache, block_size: int = 16, max_blocks: int = 4096):
        if block_size < 1 or max_blocks < 1:
            raise ValueError("prefix cache block_size and max_blocks must be >= 1")
        self.cache, self.block_size, self.max_blocks = cache, block_size, max_blocks
        self.blocks: OrderedDict[int, list[tuple[torch.Tensor, torch.Tensor]]] = OrderedDict()
        self.stats = PrefixCacheStats()
        self._stored: dict[str, int] = {}  # request id -> its blocks already stored

    def hashes(self, req: Request, limit: int) -> list[int]:
        """Chained hashes of the full blocks within the first `limit` prompt tokens."""
        out, parent = [], hash(("tunesmith-prefix", req.adapter))
        b = self.block_size
        for start in range(0, limit - b + 1, b):
            parent = hash((parent, tuple(req.prompt_token_ids[start : start + b])))
            out.append(parent)
        return out

    @torch.inference_mode()
    def load(self, req: Request) -> int:
        """Copy the cached blocks of `req`'s prompt into its slot; returns the tokens loaded."""
        if req.params.prompt_logprobs is not None or req.slot is None:
            return 0
        usable = len(req.prompt_token_ids) - 1
        hashes = self.hashes(req, usable)
        self.stats.queried_tokens += len(hashes) * self.block_size
        hit = 0
        for h in hashes:
            if h not in self.blocks:
                break
            hit += 1
        if not hit:
            return 0
        n = hit * self.block_size
        self.cache.reserve(n)
        for i, h in enumerate(hashes[:hit]):
            self.blocks.move_to_end(h)
            a = i * self.block_size
            for layer, (k, v) in enumerate(self.blocks[h]):
                self.cache.keys[layer][req.slot, :, a : a + self.block_size] = k
                self.cache.values[layer][req.slot, :, a : a + self.block_size] = v
        self.stats.hit_tokens += n
        self._stored[req.request_id] = hit
        return n

    @torch.inference_mode()
    def store(self, req: Request) -> None:
        """Copy `req`'s prompt blocks completed so far (and not yet stored) out of its slot."""
        if req.slot is None or req.params.prompt_logprobs is not None:
            return
        done = min(req.num_computed, len(req.prompt_token_ids))
        hashes = self.hashes(req, done)
        first = self._stored.get(req.request_id, 0)
        if first >= len(hashes):
            return
        for i in range(first, len(hashes)):
            h = hashes[i]
            if h in self.blocks:
                self.blocks.move_to_end(h)
                continue
            a = i * self.block_size
            self.blocks[h] = [
                (k[req.slot, :, a : a + self.block_size].clone(),
                 v[req.slot, :, a : a + self.block_size].clone())
                for k, v in zip(self.cache.keys, self.cache.values, strict=True)
            ]  # fmt: skip
        self._stored[req.request_id] = len(hashes)
        while len(self.blocks) > self.max_blocks:
            self.blocks.popitem(last=False)
            self.stats.evicted_blocks += 1

    def forget(self, req: Request) -> None:
        """`req` ended: drop its bookkeeping (its stored blocks stay cached)."""
        self._stored.pop(req.request_id, None)
