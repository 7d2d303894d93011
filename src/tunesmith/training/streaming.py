"""data.streaming: micro-batches from jsonl files read as a stream, never whole.

    stream = StreamingBatches(cfg, tok, stats, rejects=RUN/"rejects.jsonl")
    window = stream.window(state, size)        # as BatchStream: the next micro-batches

Records are read one line at a time (data/stream.py) into a shuffle buffer of
data.shuffle_buffer encoded samples; each draw takes a random one (a seeded choice per draw,
so the order depends only on train.seed, the epoch and the draw count) and the reader refills
the buffer. Packing happens on the fly: samples join the current row until the next one
would pass train.batch_tokens; that one (the carry) opens the next row. Unpacked, each
micro-batch takes train.batch_size samples.

Resume is exact: after every window the stream writes its place into TrainState.stream:
the reader's next position, the positions of the records in the buffer and of the carry,
the draw count and the data counts. A resumed run reads those few records again by seeking
to them, so memory and restart time never depend on how far into the file the run was.

What streaming does not do (each a clear ConfigError in `check_streaming`): derive the
number of steps from train.epochs (the sample count is known only after a full pass: set
train.max_steps), hold out data.val_split of a stream (give data.validation files), read
other file types than jsonl, or feed the preference recipe (its pairs are planned whole).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from tunesmith.config.schema import Config
from tunesmith.data.load import RecordError, to_conversation, write_reject
from tunesmith.data.stream import START, JsonlReader, Position
from tunesmith.data.validate import Invalid
from tunesmith.errors import ConfigError, DataError
from tunesmith.tokenize.collate import collate_packed, collate_padded
from tunesmith.tokenize.packing import Sample
from tunesmith.training.data import EncodeStats, encode_one
from tunesmith.training.state import TrainState

STREAMING_RECIPES = ("sft", "distill")


def check_streaming(cfg: Config) -> None:
    """What data.streaming cannot do, said before anything loads."""
    d = cfg.data
    if not d.streaming:
        return
    if cfg.recipe not in STREAMING_RECIPES:
        raise ConfigError(
            f"data.streaming: recipe {cfg.recipe} plans its batches from the whole data; "
            f"streaming is for {' and '.join(STREAMING_RECIPES)} (set data.streaming=false)"
        )
    if cfg.train.max_steps <= 0:
        raise ConfigError(
            "data.streaming: the number of samples is known only after a full pass, so "
            "train.epochs cannot set the length of the run; set train.max_steps (the stream "
            "starts over at the end of the data, so steps may span several epochs)"
        )
    if not d.validation and d.val_split > 0:
        raise ConfigError(
            "data.val_split: a stream cannot hold out a share of data.train without reading "
            "it whole; give data.validation files (loaded whole) or set data.val_split=0"
        )


class StreamingBatches:
    """Micro-batches of a jsonl stream; its place is TrainState.stream (module docstring)."""

    def __init__(
        self,
        cfg: Config,
        tok: PreTrainedTokenizerBase,
        stats: EncodeStats,
        *,
        rejects: Path | None = None,
    ) -> None:
        self.cfg, self.tok, self.stats, self.rejects = cfg, tok, stats, rejects
        self.reader = JsonlReader(cfg.data.train)
        self.buffer: list[tuple[Position, Sample]] = []
        self.carry: tuple[Position, Sample] | None = None
        self.epoch, self.draws, self.next = 0, 0, START
        self._records: Any = None  # the open read_from iterator
        self._restored = False
        self.max_held = 0  # most samples held at once (buffer + carry), for the memory bound

    # -- the place in the stream -------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "draws": self.draws,
            "next": self.next.to_list(),
            "buffer": [p.to_list() for p, _ in self.buffer],
            "carry": self.carry[0].to_list() if self.carry else None,
            "stats": self.stats.as_dict(),
        }

    def restore(self, saved: dict[str, Any] | None) -> None:
        """Continue from a checkpoint's TrainState.stream (None: from the start)."""
        self._restored = True
        if not saved:
            return
        self.epoch, self.draws = saved["epoch"], saved["draws"]
        self.next = Position.of(saved["next"])
        self.stats.__dict__.update(saved["stats"])
        self.buffer = [self._reread(Position.of(p)) for p in saved["buffer"]]
        self.carry = self._reread(Position.of(saved["carry"])) if saved["carry"] else None
        self._records = None

    def _reread(self, pos: Position) -> tuple[Position, Sample]:
        sample = self._encode(self.reader.read_at(pos), EncodeStats())
        if sample is None:
            raise DataError(
                "a record the checkpoint holds no longer encodes to a sample (data or "
                "data settings changed since the checkpoint?)",
                file=str(self.reader.files[pos.file]),
                line=pos.line,
            )
        return pos, sample

    # -- reading and drawing -------------------------------------------------------------

    def _encode(self, record: Any, stats: EncodeStats) -> Sample | None:
        d = self.cfg.data
        try:
            _, conv = to_conversation(record, d.format, d.system_prompt, d.max_record_chars)
        except Invalid as invalid:
            if d.on_error == "raise":
                raise RecordError(record, invalid) from None
            stats.records += 1
            stats.rejected += 1
            if self.rejects is not None and self.epoch == 0:  # once, not on every pass
                with self.rejects.open("a", encoding="utf-8") as out:
                    write_reject(out, record, invalid)
            return None
        return encode_one(conv, self.tok, d, stats)

    def _fill(self) -> None:
        size = self.cfg.data.shuffle_buffer
        if self._records is None:
            self._records = self.reader.read_from(self.next)
        while len(self.buffer) < size:
            item = next(self._records, None)
            if item is None:
                return
            pos, record, self.next = item
            sample = self._encode(record, self.stats)
            if sample is not None:
                self.buffer.append((pos, sample))
                self.max_held = max(self.max_held, len(self.buffer) + (self.carry is not None))

    def _draw(self) -> tuple[Position, Sample]:
        if not self._restored:
            self.restore(None)
        self._fill()
        if not self.buffer:  # the end of the data: the next epoch reads it again
            if not self.stats.kept:
                raise ConfigError(
                    f"data.train: no usable training samples in {', '.join(self.cfg.data.train)}"
                    f" (streamed: {self.stats.records} records, {self.stats.rejected} rejected, "
                    f"{self.stats.dropped_too_long} too long, {self.stats.dropped_no_target} "
                    "without trained tokens)"
                )
            self.epoch, self.next, self._records = self.epoch + 1, START, None
            self._fill()
        seed = f"{self.cfg.train.seed}:{self.epoch}:{self.draws}"
        i = random.Random(seed).randrange(len(self.buffer))
        self.draws += 1
        self.buffer[i], self.buffer[-1] = self.buffer[-1], self.buffer[i]
        return self.buffer.pop()

    def _micro_batch(self) -> list[Sample]:
        t = self.cfg.train
        if not self.cfg.data.packing:
            return [self._draw()[1] for _ in range(t.batch_size)]
        row: list[Sample] = []
        tokens = 0
        while tokens < t.batch_tokens:
            item = self.carry or self._draw()
            self.carry = None
            n = len(item[1].input_ids)
            if row and tokens + n > t.batch_tokens:
                self.carry = item  # opens the next row
                break
            row.append(item[1])
            tokens += n
        return row

    # -- the BatchStream interface -------------------------------------------------------

    def next_batch(self, state: TrainState) -> dict[str, torch.Tensor]:
        group = self._micro_batch()
        if state.epoch != self.epoch:
            state.epoch, state.batch_in_epoch = self.epoch, 0
        state.batch_in_epoch += 1
        if self.cfg.data.packing:
            return collate_packed(group)
        return collate_padded(group, self.tok.pad_token_id)

    def window(self, state: TrainState, size: int) -> list[dict[str, torch.Tensor]]:
        """The next `size` micro-batches; then the stream's place goes into `state`."""
        if not self._restored:
            self.restore(state.stream)
        batches = [self.next_batch(state) for _ in range(size)]
        state.stream = self.state()
        return batches

    def total_steps(self, window_size: int) -> int:
        return self.cfg.train.max_steps
