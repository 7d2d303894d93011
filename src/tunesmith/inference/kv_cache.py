"""Slot-based KV cache: one slot per running sequence, each with its own length and positions.

Storage per layer is `[num_slots, kv_heads, capacity, head_dim]` for keys and values (their
head dims may differ: DeepSeek-V3's MLA caches its compressed latent and rope key, two
single-head tensors of different widths). Capacity grows by doubling up to `max_len`, so a
large context limit costs memory only when a sequence gets long.

One forward pass feeds a flat batch of T tokens as T rows of length 1 (`[T, 1]` input ids),
from any number of sequences, each with a chunk of one or more tokens. The `StepLayout`
says which slot and position each token row belongs to. `update()` — called by every
attention layer of a Hugging Face model, as for any `transformers` cache — writes the new
keys/values into their slots and returns the cached keys/values of the step's sequences,
gathered into `[num_seqs, kv_heads, max_kv_len, head_dim]` (positions past a sequence's own
length are stale and must be masked: the attention in `inference.attention` does that).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class StepLayout:
    """Where the token rows of one forward pass belong (sequence i owns rows
    `query_starts[i] : query_starts[i] + query_lens[i]`)."""

    slots: torch.Tensor
    """[num_seqs] the slot of each sequence"""
    query_starts: list[int]
    query_lens: list[int]
    kv_lens: list[int]
    """cached length of each sequence once this step's tokens are written"""
    token_slots: torch.Tensor
    """[T] slot of each token row"""
    token_positions: torch.Tensor
    """[T] position of each token row within its sequence"""
    num_single: int = 0
    """leading sequences that feed one token each (decoders: the scheduler puts them first);
    their token rows are rows 0 .. num_single - 1"""
    single_mask: torch.Tensor | None = None
    """[num_single, their longest kv_len] True where a key is one of the sequence's own"""
    slot_range: tuple[int, int] | None = None
    """(a, b) when the sequences' slots are exactly a, a + 1, ..., b - 1 in this order"""

    @classmethod
    def build(
        cls,
        slots: list[int],
        starts: list[int],
        lens: list[int],
        device: torch.device | str = "cpu",
    ) -> StepLayout:
        """`starts[i]`: tokens of sequence i already cached; `lens[i]`: new tokens this step.
        The index tensors live on `device` (the model's)."""
        token_slots = [s for s, n in zip(slots, lens, strict=True) for _ in range(n)]
        positions = [p for b, n in zip(starts, lens, strict=True) for p in range(b, b + n)]
        offsets = [0]
        for n in lens[:-1]:
            offsets.append(offsets[-1] + n)
        kv_lens = [b + n for b, n in zip(starts, lens, strict=True)]
        num_single = next((i for i, n in enumerate(lens) if n != 1), len(lens))
        single_mask = None
        if num_single:
            single = torch.tensor(kv_lens[:num_single], device=device)
            longest = max(kv_lens[:num_single])
            single_mask = torch.arange(longest, device=device)[None, :] < single[:, None]
        return cls(
            slots=torch.tensor(slots, dtype=torch.long, device=device),
            query_starts=offsets,
            query_lens=list(lens),
            kv_lens=kv_lens,
            token_slots=torch.tensor(token_slots, dtype=torch.long, device=device),
            token_positions=torch.tensor(positions, dtype=torch.long, device=device),
            num_single=num_single,
            single_mask=single_mask,
            slot_range=(slots[0], slots[-1] + 1)
            if slots and slots == list(range(slots[0], slots[0] + len(slots)))
            else None,
        )

    @property
    def num_tokens(self) -> int:
        return int(self.token_slots.numel())


class SlotKVCache:
    """Keys and values of up to `num_slots` sequences of up to `max_len` tokens each."""

    def __init__(self, num_layers: int, num_slots: int, max_len: int, initial_len: int = 256):
        self.num_layers, self.num_slots, self.max_len = num_layers, num_slots, max_len
        self.capacity = min(initial_len, max_len)
        self.keys: list[torch.Tensor | None] = [None] * num_layers
        self.values: list[torch.Tensor | None] = [None] * num_layers
        self._free = list(range(num_slots - 1, -1, -1))
        self.layout: StepLayout | None = None

    # -- slots -------------------------------------------------------------------------------

    def allocate(self) -> int | None:
        """A free slot (lowest number first), or None when all are taken."""
        return self._free.pop() if self._free else None

    def free(self, slot: int) -> None:
        if slot in self._free or not 0 <= slot < self.num_slots:
            raise ValueError(f"slot {slot} is not allocated")
        self._free.append(slot)
        self._free.sort(reverse=True)

    @property
    def num_free(self) -> int:
        return len(self._free)

    @property
    def usage(self) -> float:
        """Fraction of slots in use."""
        return 1.0 - len(self._free) / self.num_slots

    # -- the transformers cache interface ------------------------------------------------------

    def update(
        self,
        key_states: torch.Tensor,
        value_states: torch.Tensor,
        layer_idx: int,
        cache_kwargs: dict | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Write this step's `[T, heads, 1, dim]` keys/values; return the step's sequences'."""
        layout = self.layout
        if layout is None:
            raise RuntimeError("SlotKVCache.update() outside an engine step (no layout set)")
        keys = self._storage(self.keys, layer_idx, key_states)
        values = self._storage(self.values, layer_idx, value_states)
        rows, pos = layout.token_slots, layout.token_positions
        keys[rows, :, pos] = key_states[:, :, 0].to(keys.dtype)
        values[rows, :, pos] = value_states[:, :, 0].to(values.dtype)
        length = max(layout.kv_lens)
        if layout.slot_range is not None:  # consecutive slots in order: a view, no copy
            a, b = layout.slot_range
            return keys[a:b, :, :length], values[a:b, :, :length]
        return (
            keys[:, :, :length].index_select(0, layout.slots),
            values[:, :, :length].index_select(0, layout.slots),
        )

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return 0 if self.layout is None else max(self.layout.kv_lens)

    def reserve(self, length: int) -> None:
        """Grow every layer's capacity to hold `length` tokens per slot."""
        if length > self.max_len:
            raise ValueError(f"sequence of {length} tokens exceeds the cache's {self.max_len}")
        if length <= self.capacity:
            return
        new = self.capacity
        while new < length:
            new *= 2
        new = min(new, self.max_len)
        for store in (self.keys, self.values):
            for i, t in enumerate(store):
                if t is not None:
                    grown = t.new_zeros(*t.shape[:2], new, t.shape[3])
                    grown[:, :, : t.shape[2]] = t
                    store[i] = grown
        self.capacity = new

    def _storage(
        self, store: list[torch.Tensor | None], layer_idx: int, like: torch.Tensor
    ) -> torch.Tensor:
        t = store[layer_idx]
        if t is None:
            shape = (self.num_slots, like.shape[1], self.capacity, like.shape[3])
            t = store[layer_idx] = like.new_zeros(shape)
        return t
