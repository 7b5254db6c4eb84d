"""A tiny Llama and a small dataset made on this machine, nothing downloaded: for tests, demos
(``make run``) and benchmarks of the LoRA recipe.

The tokenizer has one token per printable ASCII character (plus newline and four specials),
so it needs no training and never changes.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<unk>"]
CHARACTERS = [chr(code) for code in range(32, 127)] + ["\n"]


def make_tokenizer(path: str | Path) -> int:
    """Write a character-level fast tokenizer to ``path``; returns its vocabulary size."""
    from tokenizers import Tokenizer, decoders, models
    from transformers import PreTrainedTokenizerFast

    vocab = {token: index for index, token in enumerate(SPECIAL_TOKENS + CHARACTERS)}
    # BPE without merges: every character is its own token, spaces and newlines included.
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    backend.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>"
    )
    tokenizer.save_pretrained(str(path))
    return len(vocab)


def make_tiny_llama(
    path: str | Path,
    vocab_size: int | None = None,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    seed: int = 0,
) -> Path:
    """Write a randomly initialised ``LlamaForCausalLM`` (safetensors) and its tokenizer to ``path``,
    in the Hugging Face layout the LoRA recipe loads. The same ``seed`` gives the same weights."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()

    target = Path(path)
    target.mkdir(parents=True, exist_ok=True)
    tokens = make_tokenizer(target)
    config = LlamaConfig(
        vocab_size=max(vocab_size or tokens, tokens),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=1024,
        pad_token_id=SPECIAL_TOKENS.index("<pad>"),
        bos_token_id=SPECIAL_TOKENS.index("<s>"),
        eos_token_id=SPECIAL_TOKENS.index("</s>"),
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(str(target))
    return target


_SUBJECTS = ["the cat", "a robot", "my team", "the cluster", "an engineer", "the model"]
_VERBS = ["trains", "watches", "schedules", "fixes", "reads", "writes"]
_OBJECTS = ["a report", "the logs", "ten jobs", "a checkpoint", "the queue", "some tests"]


def make_dataset(path: str | Path, lines: int = 64, seed: int = 0) -> Path:
    """Write ``lines`` JSONL records: mostly ``{"text"}``, every fourth ``{"prompt", "completion"}``."""
    rng = random.Random(seed)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8") as out:
        for index in range(lines):
            subject, verb, thing = rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS)
            if index % 4 == 3:
                record = {"prompt": f"What does {subject} do? ", "completion": f"{subject} {verb} {thing}."}
            else:
                record = {"text": f"{subject} {verb} {thing} at {rng.randint(1, 12)} o'clock."}
            out.write(json.dumps(record) + "\n")
    return target
