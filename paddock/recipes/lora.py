"""LoRA fine-tuning of a causal language model: Paddock's built-in ``fine_tuning/lora`` template.

    python -m paddock.recipes.lora --config '{"base_model": "/models/tiny", "dataset": "data.jsonl", "steps": 100}'

Parameters (the job template's): ``base_model`` (a path or URI of a Hugging Face model directory),
``dataset`` (a path or URI of a JSONL file of ``{"text"}`` or ``{"prompt", "completion"}`` lines),
``rank`` (8), ``alpha`` (16), ``learning_rate`` (2e-4), ``steps`` (100), ``batch_size`` (4),
``seq_len`` (256), ``checkpoint_every`` (20), ``model_name`` (the registered model; default the
job's name), ``seed`` (0). Also, for running outside Paddock and for tests: ``report`` (true;
false switches every report off, the same loop otherwise), ``output_dir`` (keep each checkpoint
there too), ``resume_from`` (a checkpoint URI to resume from, instead of ``PADDOCK_RESUME_FROM``),
``stop_after`` (stop after this step, as a preemption would).

Each step reports ``loss``, ``learning_rate`` and ``tokens_per_second``. Every ``checkpoint_every``
steps and at the end it saves the adapter (PEFT's layout, loadable by ``PeftModel.from_pretrained``)
with the optimizer, scheduler, RNG state and step, so a retried attempt resumes where the last
checkpoint left off and ends at the same step with the same result. The data order is a function
of ``seed`` and the step alone. At the end the final checkpoint is registered as a model version.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import sys
import tempfile
import time
import urllib.parse
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paddock import job

DEFAULTS: dict[str, Any] = {
    "rank": 8,
    "alpha": 16,
    "learning_rate": 2e-4,
    "steps": 100,
    "batch_size": 4,
    "seq_len": 256,
    "checkpoint_every": 20,
    "model_name": None,
    "seed": 0,
    "report": True,
    "output_dir": None,
    "resume_from": None,
    "stop_after": None,
}
POSITIVE_INTS = ("rank", "steps", "batch_size", "seq_len", "checkpoint_every")
TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj"]
STATE_FILE = "trainer_state.pt"
IGNORE_INDEX = -100  # labels the loss skips: prompts and padding


class ConfigError(ValueError):
    """The recipe's parameters are wrong; the message says which."""


@dataclass
class Config:
    base_model: str
    dataset: str
    rank: int
    alpha: float
    learning_rate: float
    steps: int
    batch_size: int
    seq_len: int
    checkpoint_every: int
    model_name: str | None
    seed: int
    report: bool
    output_dir: str | None
    resume_from: str | None
    stop_after: int | None
    extra: dict[str, Any] = field(default_factory=dict)


def parse_config(raw: dict[str, Any]) -> Config:
    if not isinstance(raw, dict):
        raise ConfigError("the config is a JSON object")
    missing = [name for name in ("base_model", "dataset") if not raw.get(name)]
    if missing:
        raise ConfigError(f"missing parameter(s): {', '.join(missing)}")
    values = {**DEFAULTS, **raw}
    for name in (*POSITIVE_INTS, "seed"):
        value = values[name]
        if isinstance(value, bool) or not isinstance(value, int) or (name != "seed" and value < 1):
            raise ConfigError(f"{name} must be a{' positive' if name != 'seed' else 'n'} integer, got {value!r}")
    for name in ("alpha", "learning_rate"):
        value = values[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
            raise ConfigError(f"{name} must be a positive number, got {value!r}")
    stop_after = values["stop_after"]
    if stop_after is not None and (isinstance(stop_after, bool) or not isinstance(stop_after, int) or stop_after < 1):
        raise ConfigError(f"stop_after must be a positive integer, got {stop_after!r}")
    known = set(DEFAULTS) | {"base_model", "dataset"}
    return Config(
        base_model=str(values["base_model"]),
        dataset=str(values["dataset"]),
        rank=values["rank"],
        alpha=float(values["alpha"]),
        learning_rate=float(values["learning_rate"]),
        steps=values["steps"],
        batch_size=values["batch_size"],
        seq_len=values["seq_len"],
        checkpoint_every=values["checkpoint_every"],
        model_name=values["model_name"] or None,
        seed=values["seed"],
        report=bool(values["report"]),
        output_dir=values["output_dir"] or None,
        resume_from=values["resume_from"] or None,
        stop_after=stop_after,
        extra={k: v for k, v in raw.items() if k not in known},
    )


def _local_path(uri: str, scratch: Path, name: str) -> Path:
    """A path or ``file://`` URI as a local path; anything else is fetched through Paddock."""
    if "://" not in uri:
        return Path(uri)
    if uri.startswith("file://"):
        return Path(urllib.parse.unquote(urllib.parse.urlparse(uri).path))
    return Path(job.download_checkpoint(uri, scratch / name))


def _dataset_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    files = sorted(path.rglob("*.jsonl")) if path.is_dir() else []
    if not files:
        raise ConfigError(f"no JSONL dataset at {path}")
    return files


def load_examples(files: list[Path], tokenizer: Any) -> tuple[list[int], list[int]]:
    """All records as one token stream with their labels (a prompt's tokens are not learned)."""
    tokens: list[int] = []
    labels: list[int] = []
    eos = tokenizer.eos_token_id
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path.name} line {number} is not JSON: {exc.msg}") from None
            if isinstance(record, dict) and isinstance(record.get("text"), str):
                ids = tokenizer(record["text"], add_special_tokens=False)["input_ids"] + [eos]
                tokens += ids
                labels += ids
            elif isinstance(record, dict) and isinstance(record.get("prompt"), str) and "completion" in record:
                prompt = tokenizer(record["prompt"], add_special_tokens=False)["input_ids"]
                completion = tokenizer(str(record["completion"]), add_special_tokens=False)["input_ids"] + [eos]
                tokens += prompt + completion
                labels += [IGNORE_INDEX] * len(prompt) + completion
            else:
                raise ConfigError(f'{path.name} line {number}: expected {{"text"}} or {{"prompt", "completion"}}')
    if not tokens:
        raise ConfigError("the dataset holds no examples")
    return tokens, labels


def pack(tokens: list[int], labels: list[int], seq_len: int) -> list[tuple[list[int], list[int]]]:
    """The stream cut into blocks of ``seq_len`` (a short dataset is one shorter block)."""
    blocks = [(tokens[i : i + seq_len], labels[i : i + seq_len]) for i in range(0, len(tokens) - seq_len + 1, seq_len)]
    return blocks or [(tokens, labels)]


def batch_indices(step: int, batch_size: int, count: int, seed: int) -> list[int]:
    """The blocks of ``step`` (1-based): a fresh seeded shuffle each epoch, so the order depends
    on the seed and the step alone and a resumed run sees what an uninterrupted one would."""
    import torch

    indices = []
    for position in range((step - 1) * batch_size, step * batch_size):
        epoch, offset = divmod(position, count)
        generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        indices.append(int(torch.randperm(count, generator=generator)[offset]))
    return indices


def _schedule(steps: int) -> Any:
    warmup = max(1, steps // 10)

    def factor(index: int) -> float:  # index: optimizer steps taken so far
        if index < warmup:
            return (index + 1) / warmup
        return max(0.1, (steps - index) / max(1, steps - warmup))

    return factor


def _device() -> tuple[Any, Any]:
    import torch

    if torch.cuda.is_available():
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.device("cuda"), dtype
    return torch.device("cpu"), torch.float32


def _rng_state() -> dict[str, Any]:
    import torch

    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _restore_rng(state: dict[str, Any]) -> None:
    import torch

    torch.set_rng_state(state["torch"])
    if torch.cuda.is_available() and state.get("cuda"):
        torch.cuda.set_rng_state_all(state["cuda"])


@contextlib.contextmanager
def _quiet_peft() -> Iterator[None]:
    """peft asks transformers a question transformers 5 calls deprecated: nothing for the user to do."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


def _default_model_name() -> str:
    return os.environ.get("PADDOCK_JOB_NAME") or f"job-{os.environ.get('PADDOCK_JOB_ID', 'local')}"


def run(config: dict[str, Any], reporting: bool = True) -> dict[str, Any]:
    """Train; returns ``{"final_step", "loss", "step_seconds", "checkpoint_uri", "resumed_from_step",
    "model_version"}``. ``reporting=False`` (or ``report: false``) sends nothing to Paddock."""
    import torch
    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # bars are noise in a job's log: the step lines say it
    cfg = parse_config(config)
    reporting = reporting and cfg.report
    device, dtype = _device()
    scratch = Path(tempfile.mkdtemp(prefix="paddock-lora-"))
    try:
        base_dir = _local_path(cfg.base_model, scratch, "base")
        tokenizer = AutoTokenizer.from_pretrained(str(base_dir))
        files = _dataset_files(_local_path(cfg.dataset, scratch, "dataset"))
        blocks = pack(*load_examples(files, tokenizer), cfg.seq_len)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

        torch.manual_seed(cfg.seed)
        model: Any = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=dtype)
        alpha: Any = int(cfg.alpha) if cfg.alpha.is_integer() else cfg.alpha  # peft documents an int; a float works
        lora = LoraConfig(
            r=cfg.rank, lora_alpha=alpha, target_modules=TARGET_MODULES, lora_dropout=0.0, task_type="CAUSAL_LM"
        )
        with _quiet_peft():
            model = get_peft_model(model, lora)  # adapter weights in fp32 even on a bf16 base
        model.to(device)
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(trainable, lr=cfg.learning_rate, weight_decay=0.0)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(cfg.steps))

        start = 0
        loss_value = float("nan")
        resume_uri = cfg.resume_from or job.resume_from()
        if resume_uri:
            state_dir = _local_path(resume_uri, scratch, "resume")
            if not (state_dir / STATE_FILE).exists():
                raise ConfigError(f"{resume_uri} is not a checkpoint of this recipe: it has no {STATE_FILE}")
            state = torch.load(state_dir / STATE_FILE, map_location="cpu", weights_only=True)
            set_peft_model_state_dict(model, load_file(str(state_dir / "adapter_model.safetensors")))
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            _restore_rng(state["rng"])
            start = int(state["step"])
            loss_value = float(state.get("loss", loss_value))
            print(f"resumed from step {start} ({resume_uri})", flush=True)

        stop = min(cfg.steps, cfg.stop_after or cfg.steps)
        log_every = max(1, cfg.steps // 50)
        step_seconds: list[float] = []
        # Resumed from the final checkpoint (the last attempt died before registering it): register it now.
        checkpoint_uri: str | None = resume_uri if start >= cfg.steps else None
        model.train()
        print(
            f"LoRA r={cfg.rank} on {base_dir.name}: {len(blocks)} blocks of ≤{cfg.seq_len} tokens, "
            f"{sum(p.numel() for p in trainable):,} trainable parameters, {device.type} {str(dtype).split('.')[-1]}",
            flush=True,
        )
        for step in range(start + 1, stop + 1):
            began = time.perf_counter()
            chosen = [blocks[i] for i in batch_indices(step, cfg.batch_size, len(blocks), cfg.seed)]
            width = max(len(ids) for ids, _ in chosen)
            input_ids = torch.full((len(chosen), width), pad, dtype=torch.long)
            labels = torch.full((len(chosen), width), IGNORE_INDEX, dtype=torch.long)
            attention = torch.zeros((len(chosen), width), dtype=torch.long)
            for row, (ids, targets) in enumerate(chosen):
                input_ids[row, : len(ids)] = torch.tensor(ids)
                labels[row, : len(ids)] = torch.tensor(targets)
                attention[row, : len(ids)] = 1
            learning_rate = scheduler.get_last_lr()[0]
            output = model(
                input_ids=input_ids.to(device), attention_mask=attention.to(device), labels=labels.to(device)
            )
            output.loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            loss_value = float(output.loss.detach().float().item())  # waits for the GPU: the timing is honest
            seconds = time.perf_counter() - began
            step_seconds.append(seconds)
            tokens_per_second = int(attention.sum()) / seconds if seconds > 0 else 0.0
            if reporting:
                job.report_metrics(
                    step, loss=loss_value, learning_rate=learning_rate, tokens_per_second=tokens_per_second
                )
            if step % log_every == 0 or step in (start + 1, stop):
                print(f"step {step}/{cfg.steps} loss {loss_value:.4f} tokens/s {tokens_per_second:.0f}", flush=True)
            last = step == cfg.steps
            if step % cfg.checkpoint_every == 0 or step == stop:
                checkpoint_uri = _save(cfg, model, optimizer, scheduler, step, loss_value, scratch, last, reporting)

        version = None
        if reporting and stop == cfg.steps and checkpoint_uri:
            version = job.register_model_version(
                cfg.model_name or _default_model_name(), checkpoint_uri=checkpoint_uri, metrics={"loss": loss_value}
            )
        if reporting:
            job.flush(timeout=60)  # every step's metrics are in before the run says it is done
        print(f"done: step {stop}/{cfg.steps} loss {loss_value:.4f}", flush=True)
        return {
            "final_step": stop,
            "loss": loss_value,
            "step_seconds": step_seconds,
            "checkpoint_uri": checkpoint_uri,
            "resumed_from_step": start or None,
            "model_version": version,
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _save(
    cfg: Config,
    model: Any,
    optimizer: Any,
    scheduler: Any,
    step: int,
    loss: float,
    scratch: Path,
    final: bool,
    reporting: bool,
) -> str | None:
    """Write the checkpoint of ``step`` and hand it to Paddock (and ``output_dir``); returns its URI."""
    import torch

    directory = scratch / f"step-{step:08d}"
    with _quiet_peft():
        model.save_pretrained(str(directory))  # adapter_model.safetensors + adapter_config.json
    state = {
        "step": step,
        "loss": loss,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": _rng_state(),
    }
    torch.save(state, directory / STATE_FILE)
    (directory / "trainer_state.json").write_text(json.dumps({"step": step, "loss": loss, "final": final}) + "\n")
    uri: str | None = None
    if cfg.output_dir:
        kept = Path(cfg.output_dir) / directory.name
        if kept.exists():
            shutil.rmtree(kept)
        shutil.copytree(directory, kept)
        uri = kept.resolve().as_uri() + "/"
    if reporting:
        try:
            uri = job.save_checkpoint(directory, step, metrics={"loss": loss}, final=final) or uri
        except job.StorageError as exc:
            if final:
                raise  # a run without its final checkpoint has nothing to register: let the attempt fail
            print(f"checkpoint at step {step} was not saved: {exc}; training goes on", file=sys.stderr, flush=True)
    print(f"checkpoint step {step} saved{f' to {uri}' if uri else ''}", flush=True)
    shutil.rmtree(directory, ignore_errors=True)
    return uri


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paddock.recipes.lora", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="the parameters as a JSON object (or @file.json)")
    parser.add_argument("--no-report", action="store_true", help="report nothing to Paddock (same loop otherwise)")
    args = parser.parse_args(argv)
    try:
        text = Path(args.config[1:]).read_text(encoding="utf-8") if args.config.startswith("@") else args.config
        config = json.loads(text)
        run(config, reporting=not args.no_report)
    except (ConfigError, json.JSONDecodeError) as exc:
        print(f"paddock.recipes.lora: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
