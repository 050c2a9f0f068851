"""Word-level language-modelling corpora: Penn Treebank and WikiText-2.

A corpus directory holds three splits, one sentence per line, rare words already
replaced by ``<unk>``. Each line ends with an ``<eos>`` token. The vocabulary is built
from the training split in order of first appearance (so ids are reproducible), and
words of the other splits that are missing from it map to ``<unk>``.

Example (needs the corpus on disk)::

    >>> from egru.lm.data import load_corpus
    >>> corpus = load_corpus("../shared/data/ptb")      # doctest: +SKIP
    >>> len(corpus.vocabulary), corpus.train.shape       # doctest: +SKIP
    (10000, torch.Size([929589]))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Union

import torch

__all__ = ["Vocabulary", "Corpus", "CorpusError", "load_corpus", "batchify", "CORPUS_FILES"]


class CorpusError(ValueError):
    """A corpus file or directory that cannot be used (empty file, not UTF-8 text, unknown corpus kind)."""

EOS = "<eos>"
UNK = "<unk>"

CORPUS_FILES = {
    "ptb": {"train": "ptb.train.txt", "valid": "ptb.valid.txt", "test": "ptb.test.txt"},
    "wikitext-2": {"train": "wiki.train.tokens", "valid": "wiki.valid.tokens", "test": "wiki.test.tokens"},
}


class Vocabulary:
    """Bidirectional word <-> id map; ids in order of first appearance."""

    def __init__(self, words: Optional[List[str]] = None):
        self.words: List[str] = []
        self.ids: Dict[str, int] = {}
        for word in words or []:
            self.add(word)

    def add(self, word: str) -> int:
        if word not in self.ids:
            self.ids[word] = len(self.words)
            self.words.append(word)
        return self.ids[word]

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, words: List[str]) -> List[int]:
        unk = self.ids.get(UNK)
        if unk is None:
            missing = [w for w in words if w not in self.ids]
            if missing:
                raise KeyError(f"{len(missing)} word(s) not in the vocabulary and no {UNK} token, e.g. {missing[0]!r}")
            return [self.ids[w] for w in words]
        return [self.ids.get(w, unk) for w in words]

    def decode(self, ids) -> List[str]:
        return [self.words[int(i)] for i in ids]


@dataclass
class Corpus:
    """Token ids (1-D int64 tensors) of the three splits and their vocabulary."""

    name: str
    vocabulary: Vocabulary
    train: torch.Tensor
    valid: torch.Tensor
    test: torch.Tensor


def _read_words(path: Path) -> List[str]:
    if not path.is_file():
        raise FileNotFoundError(f"corpus file not found: {path}")
    words: List[str] = []
    # bytes, decoded line by line: an undecodable byte is reported with its file and line
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise CorpusError(f"{path}: line {number}: not valid UTF-8 (byte 0x{raw[exc.start]:02x} at "
                                  f"column {len(raw[:exc.start].decode('utf-8', 'replace')) + 1}): {exc.reason}"
                                  ) from None
            # text mode's universal newlines: a lone "\r" ends a line too
            for part in line.replace("\r\n", "\n").split("\r"):
                tokens = part.split()
                if tokens:
                    words.extend(tokens)
                    words.append(EOS)
    if not words:
        raise CorpusError(f"corpus file is empty (no tokens): {path}")
    return words


def _corpus_kind(directory: Path) -> str:
    for kind, files in CORPUS_FILES.items():
        if (directory / files["train"]).exists():
            return kind
    expected = " or ".join(f"{files['train']}" for files in CORPUS_FILES.values())
    raise FileNotFoundError(f"no corpus in {directory}: expected {expected}")


def load_corpus(directory: Union[str, Path], kind: Optional[str] = None) -> Corpus:
    """Load PTB (``ptb.*.txt``) or WikiText-2 (``wiki.*.tokens``) from ``directory``.

    ``kind`` ("ptb" or "wikitext-2") is detected from the file names when omitted.
    Missing directory/file -> FileNotFoundError, empty file or not UTF-8 text -> :class:`CorpusError`
    (a ValueError), each naming the path (and, for an undecodable byte, the line).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"corpus directory not found: {directory}")
    kind = kind or _corpus_kind(directory)
    if kind not in CORPUS_FILES:
        raise CorpusError(f"unknown corpus kind {kind!r}; known: {sorted(CORPUS_FILES)}")
    files = CORPUS_FILES[kind]
    train_words = _read_words(directory / files["train"])
    vocabulary = Vocabulary()
    for word in train_words:
        vocabulary.add(word)
    vocabulary.add(UNK)
    splits = {"train": train_words}
    for split in ("valid", "test"):
        splits[split] = _read_words(directory / files[split])
    tensors = {split: torch.tensor(vocabulary.encode(words), dtype=torch.long) for split, words in splits.items()}
    return Corpus(kind, vocabulary, tensors["train"], tensors["valid"], tensors["test"])


def batchify(tokens: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Cut a 1-D token stream into ``batch_size`` parallel streams: [T, B] (the tail that does not fit is dropped)."""
    if tokens.dim() != 1:
        raise ValueError(f"tokens must be 1-D, got shape {tuple(tokens.shape)}")
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    steps = tokens.numel() // batch_size
    if steps == 0:
        raise ValueError(f"{tokens.numel()} tokens are too few for batch size {batch_size}")
    return tokens[: steps * batch_size].view(batch_size, steps).t().contiguous()
