"""The built-in model server: a Hugging Face causal LM (a full model, or a LoRA adapter on its
base) running ``generate`` with ``transformers``, on a GPU when the replica has one.

Any other model plugs in the same way: a class with ``__init__(uri, *, base_uri="", **config)``,
``generate(request) -> dict`` and ``stream(request) -> Iterator[dict]`` (see
:mod:`paddock.serving.model`), and optionally ``check_health()``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class CausalLM:
    """``uri``: a directory in the Hugging Face layout (``config.json`` and weights), or one
    with ``adapter_config.json`` (a LoRA adapter, merged into ``base_uri`` at load)."""

    def __init__(self, uri: str, *, base_uri: str = "", max_new_tokens_limit: int = 1024, **_: Any) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        path = Path(uri.removeprefix("file://"))
        if not path.is_dir():
            raise FileNotFoundError(f"no model at {uri}: not a directory this replica can read")
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
        adapter = (path / "adapter_config.json").is_file()
        weights = Path(base_uri.removeprefix("file://")) if adapter else path
        if adapter and not base_uri:
            raise ValueError(f"{uri} is a LoRA adapter and its base model is unknown")
        tokenizer_dir = path if (path / "tokenizer_config.json").is_file() else weights
        self.tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
        model = AutoModelForCausalLM.from_pretrained(str(weights), dtype=dtype)
        if adapter:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(path)).merge_and_unload()  # type: ignore[arg-type]
        self.model = model.to(self.device).eval()  # type: ignore[arg-type]
        self.limit = int(max_new_tokens_limit)
        self._lock = threading.Lock()  # one generate at a time per replica: they share the model

    def _prompt(self, request: dict[str, Any]) -> str:
        if request["kind"] != "chat":
            return str(request["prompt"])
        messages = request["messages"]
        if getattr(self.tokenizer, "chat_template", None):
            return str(self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
        return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant: "

    def _inputs(self, request: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        import torch

        encoded = self.tokenizer(self._prompt(request), return_tensors="pt")
        if encoded["input_ids"].shape[1] == 0:  # an empty prompt: start from the BOS token
            bos = self.tokenizer.bos_token_id or 0
            encoded = {"input_ids": torch.tensor([[bos]]), "attention_mask": torch.tensor([[1]])}
        encoded = {name: tensor.to(self.device) for name, tensor in encoded.items()}
        sample = float(request.get("temperature", 1.0)) > 0
        options: dict[str, Any] = {
            "max_new_tokens": min(int(request["max_tokens"]), self.limit),
            "do_sample": sample,
            "pad_token_id": self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
        }
        if sample:
            options.update(temperature=float(request["temperature"]), top_p=float(request.get("top_p", 1.0)))
        return encoded, options

    def generate(self, request: dict[str, Any]) -> dict[str, Any]:
        import torch

        encoded, options = self._inputs(request)
        prompt_tokens = int(encoded["input_ids"].shape[1])
        with self._lock, torch.inference_mode():
            output = self.model.generate(**encoded, **options)
        new = output[0][prompt_tokens:]
        text = str(self.tokenizer.decode(new, skip_special_tokens=True))
        text, stopped = _cut_at_stop(text, request.get("stop") or ())
        finish = "stop" if stopped or len(new) < options["max_new_tokens"] else "length"
        return {"text": text, "prompt_tokens": prompt_tokens, "completion_tokens": len(new), "finish_reason": finish}

    def stream(self, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Pieces of text as they are generated, then a last item with the usage."""
        import torch
        from transformers import TextIteratorStreamer

        encoded, options = self._inputs(request)
        prompt_tokens = int(encoded["input_ids"].shape[1])
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600)
        counted: dict[str, int] = {}

        def run() -> None:
            with self._lock, torch.inference_mode():
                output = self.model.generate(**encoded, **options, streamer=streamer)
            counted["tokens"] = int(output.shape[1]) - prompt_tokens

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        sent, stopped, stops = "", False, request.get("stop") or ()
        for piece in streamer:
            if stopped or not piece:
                continue
            candidate, stopped = _cut_at_stop(sent + piece, stops)
            if candidate[len(sent) :]:
                yield {"text": candidate[len(sent) :]}
            sent = candidate
        worker.join()
        tokens = counted.get("tokens", 0)
        finish = "stop" if stopped or tokens < options["max_new_tokens"] else "length"
        yield {"done": True, "prompt_tokens": prompt_tokens, "completion_tokens": tokens, "finish_reason": finish}

    def check_health(self) -> None:
        if self.model is None:
            raise RuntimeError("the model is not loaded")


def _cut_at_stop(text: str, stops: Any) -> tuple[str, bool]:
    cut = min((text.find(stop) for stop in stops if stop and stop in text), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)
