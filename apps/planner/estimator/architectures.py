"""Transformer shapes and the parameter counts that follow from them.

Plain data and arithmetic, no Django. The known table holds public architectures as their
published configs give them (Hugging Face ``config.json`` or the paper's table); each one's
parameter count is checked in the tests against the figure its authors state.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal

Mlp = Literal["gelu", "swiglu"]
Norm = Literal["rmsnorm", "layernorm"]
MLP_KINDS: Final = ("gelu", "swiglu")
LINEAR_MODULES: Final = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class Architecture:
    """A decoder (or encoder) stack, sized the way Hugging Face configs size it."""

    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int
    tied_embeddings: bool = False
    mlp: Mlp = "swiglu"
    experts: int = 1
    experts_per_token: int = 1
    norm: Norm = "rmsnorm"
    bias: bool = False
    max_positions: int = 0  # learned absolute position embeddings; 0 = rotary
    type_vocab: int = 0  # BERT's token-type embeddings
    embedding_norm: bool = False
    final_norm: bool = True
    pooler: bool = False
    lm_head: bool = True

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def q_dim(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    @property
    def moe(self) -> bool:
        return self.experts > 1

    @property
    def norm_params(self) -> int:
        return self.hidden * (2 if self.norm == "layernorm" else 1)

    @property
    def attention_params(self) -> int:
        h = self.hidden
        weights = h * self.q_dim + 2 * h * self.kv_dim + self.q_dim * h
        return weights + ((self.q_dim + 2 * self.kv_dim + h) if self.bias else 0)

    @property
    def expert_params(self) -> int:
        """One MLP (one expert of an MoE layer)."""
        h, i = self.hidden, self.intermediate
        if self.mlp == "swiglu":
            return 3 * h * i + ((2 * i + h) if self.bias else 0)
        return 2 * h * i + ((i + h) if self.bias else 0)

    @property
    def router_params(self) -> int:
        return self.hidden * self.experts if self.moe else 0

    @property
    def layer_params(self) -> int:
        return self.attention_params + self.experts * self.expert_params + self.router_params + 2 * self.norm_params

    @property
    def active_layer_params(self) -> int:
        return (
            self.attention_params
            + self.experts_per_token * self.expert_params
            + self.router_params
            + 2 * self.norm_params
        )

    @property
    def embedding_params(self) -> int:
        h = self.hidden
        count = (self.vocab + self.max_positions + self.type_vocab) * h
        return count + (self.norm_params if self.embedding_norm else 0)

    @property
    def head_params(self) -> int:
        """Final norm, pooler and (untied) output projection."""
        count = self.norm_params if self.final_norm else 0
        if self.pooler:
            count += self.hidden * self.hidden + self.hidden
        if self.lm_head and not self.tied_embeddings:
            count += self.vocab * self.hidden
        return count

    @property
    def params(self) -> int:
        return self.embedding_params + self.layers * self.layer_params + self.head_params

    @property
    def active_params(self) -> int:
        """Parameters one token passes through (differs from ``params`` only for MoE)."""
        return self.embedding_params + self.layers * self.active_layer_params + self.head_params

    @property
    def matmul_params(self) -> int:
        """Parameters in linear layers (what autocast copies to bf16), including the LM head."""
        h = self.hidden
        per_layer = h * self.q_dim + 2 * h * self.kv_dim + self.q_dim * h
        per_layer += self.experts * (3 if self.mlp == "swiglu" else 2) * h * self.intermediate
        per_layer += self.router_params
        head = self.vocab * h if self.lm_head else 0
        return self.layers * per_layer + head + (h * h if self.pooler else 0)

    @property
    def largest_layer_params(self) -> int:
        """The biggest single weight matrix (DeepSpeed's and Accelerate's "largest layer")."""
        h = self.hidden
        return max(self.vocab * h, h * self.intermediate, h * self.q_dim)

    def module_in_features(self, module: str) -> int:
        return {"o_proj": self.q_dim, "down_proj": self.intermediate}.get(module, self.hidden)

    def module_out_features(self, module: str) -> int:
        return {
            "q_proj": self.q_dim,
            "k_proj": self.kv_dim,
            "v_proj": self.kv_dim,
            "o_proj": self.hidden,
            "gate_proj": self.intermediate,
            "up_proj": self.intermediate,
            "down_proj": self.hidden,
        }[module]

    def has_module(self, module: str) -> bool:
        return module != "gate_proj" or self.mlp == "swiglu"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def llama(hidden: int, layers: int, heads: int, kv_heads: int, intermediate: int, vocab: int) -> Architecture:
    return Architecture(hidden, layers, heads, kv_heads, intermediate, vocab)


def _gpt(hidden: int, layers: int, heads: int, vocab: int, positions: int) -> Architecture:
    return Architecture(
        hidden,
        layers,
        heads,
        heads,
        4 * hidden,
        vocab,
        tied_embeddings=True,
        mlp="gelu",
        norm="layernorm",
        bias=True,
        max_positions=positions,
    )


def _bert(vocab: int) -> Architecture:
    return Architecture(
        768,
        12,
        12,
        12,
        3072,
        vocab,
        tied_embeddings=True,
        mlp="gelu",
        norm="layernorm",
        bias=True,
        max_positions=512,
        type_vocab=2,
        embedding_norm=True,
        final_norm=False,
        pooler=True,
        lm_head=False,
    )


@dataclass(frozen=True)
class KnownModel:
    name: str
    architecture: Architecture
    source: str
    stated_params: float  # what the authors call it, for the tests


KNOWN_MODELS: Final[dict[str, KnownModel]] = {
    model.name: model
    for model in (
        KnownModel(
            "llama-2-7b",
            llama(4096, 32, 32, 32, 11008, 32000),
            "https://huggingface.co/meta-llama/Llama-2-7b-hf/blob/main/config.json",
            6.74e9,
        ),
        KnownModel(
            "llama-2-13b",
            llama(5120, 40, 40, 40, 13824, 32000),
            "https://huggingface.co/meta-llama/Llama-2-13b-hf/blob/main/config.json",
            13.0e9,
        ),
        KnownModel(
            "llama-2-70b",
            llama(8192, 80, 64, 8, 28672, 32000),
            "https://huggingface.co/meta-llama/Llama-2-70b-hf/blob/main/config.json",
            69.0e9,
        ),
        KnownModel(
            "llama-3-8b",
            llama(4096, 32, 32, 8, 14336, 128256),
            "https://arxiv.org/abs/2407.21783 (Table 3); Meta-Llama-3-8B config.json",
            8.03e9,
        ),
        KnownModel(
            "llama-3-70b",
            llama(8192, 80, 64, 8, 28672, 128256),
            "https://arxiv.org/abs/2407.21783 (Table 3); Meta-Llama-3-70B config.json",
            70.6e9,
        ),
        KnownModel(
            "llama-3.1-405b",
            llama(16384, 126, 128, 8, 53248, 128256),
            "https://arxiv.org/abs/2407.21783 (Table 3); Llama-3.1-405B config.json",
            405.9e9,
        ),
        KnownModel(
            "mistral-7b",
            llama(4096, 32, 32, 8, 14336, 32000),
            "https://huggingface.co/mistralai/Mistral-7B-v0.1/blob/main/config.json",
            7.24e9,
        ),
        KnownModel(
            "mixtral-8x7b",
            Architecture(4096, 32, 32, 8, 14336, 32000, experts=8, experts_per_token=2),
            "https://huggingface.co/mistralai/Mixtral-8x7B-v0.1/blob/main/config.json",
            46.7e9,
        ),
        KnownModel(
            "gpt-3-175b",
            _gpt(12288, 96, 96, 50257, 2048),
            "https://arxiv.org/abs/2005.14165 (Table 2.1)",
            175.0e9,
        ),
        KnownModel(
            "opt-13b",
            # OPT's learned positions carry an offset of 2 (2048 + 2 rows).
            _gpt(5120, 40, 40, 50272, 2050),
            "https://huggingface.co/facebook/opt-13b/blob/main/config.json",
            12.85e9,
        ),
        KnownModel(
            "bert-base-cased",
            _bert(28996),
            "https://huggingface.co/google-bert/bert-base-cased/blob/main/config.json",
            108.3e6,
        ),
        KnownModel(
            "bert-base-uncased",
            _bert(30522),
            "https://huggingface.co/google-bert/bert-base-uncased/blob/main/config.json",
            109.5e6,
        ),
    )
}

ALIASES: Final[dict[str, str]] = {
    "llama-3.1-8b": "llama-3-8b",
    "llama-3.1-70b": "llama-3-70b",
    "gpt-3": "gpt-3-175b",
    "gpt3-175b": "gpt-3-175b",
    "bert-base": "bert-base-cased",
    "mistral-7b-v0.1": "mistral-7b",
}


def normalise_name(name: str) -> str:
    key = name.strip().lower().replace("_", "-").replace(" ", "-")
    if "/" in key:  # "meta-llama/Llama-2-7b-hf" → "llama-2-7b-hf"
        key = key.rsplit("/", 1)[1]
    for suffix in ("-hf", "-v0.1"):
        if key.endswith(suffix) and key[: -len(suffix)] in KNOWN_MODELS:
            key = key[: -len(suffix)]
    if key.startswith("meta-llama-3"):
        key = key[len("meta-") :]
    return ALIASES.get(key, key)


def known_model(name: str) -> KnownModel | None:
    return KNOWN_MODELS.get(normalise_name(name))


def assumed_architecture(params: float) -> Architecture:
    """A Llama-style shape with about ``params`` parameters, for when only the count is known.

    Llama-2 7B / 13B keep hidden ≈ 128 × layers; with 12·L·h² of layer weights that gives
    L ≈ (N / 196,608)^(1/3). Heads of 128, SwiGLU width 8/3·h rounded to 256, vocab 32,000.
    """
    layers = max(2, round((params / (12 * 128 * 128)) ** (1 / 3)))
    hidden = max(128, 128 * round(math.sqrt(max(params - 2 * 32000 * 128 * layers, 1) / (12 * layers)) / 128))
    intermediate = 256 * math.ceil(8 * hidden / 3 / 256)
    heads = max(1, hidden // 128)
    return Architecture(hidden, layers, heads, heads, intermediate, 32000)
