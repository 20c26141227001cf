"""Tokenizers trained on a dataset's training split, saved as Hugging Face tokenizer folders.

    bpe(data) { vocab_size }   byte-level BPE (256 byte tokens + merges + <|endoftext|>)
    chars(data)                one token per character seen, plus <unk> and <|endoftext|>

The trainers are the `tokenizers` library's; merges can differ from rlhfc's own BPE trainer on
ties, so token ids are not interchangeable with a locally trained tokenizer.
"""

from __future__ import annotations

from pathlib import Path

EOT = "<|endoftext|>"


def _wrap(tokenizer, folder: Path, unk_token: str | None = None) -> None:
    """Save as a Transformers tokenizer folder; end-of-text also begins and pads sequences (as GPT-2's)."""
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token=EOT, eos_token=EOT, pad_token=EOT, unk_token=unk_token)
    fast.save_pretrained(str(folder))


def train_bpe(texts: list[str], vocab_size: int, folder: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    _wrap(tokenizer, folder)


def train_chars(texts: list[str], folder: Path) -> None:
    from tokenizers import Tokenizer, decoders, models

    chars = sorted({c for t in texts for c in t})
    vocab = {c: i for i, c in enumerate(["<unk>", EOT, *chars])}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tokenizer.decoder = decoders.Fuse()
    _wrap(tokenizer, folder, unk_token="<unk>")
