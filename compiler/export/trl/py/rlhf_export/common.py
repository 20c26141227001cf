"""Datasets, models and tokenizers, saving results, and sampling for the exported stage scripts.

A stage's inputs arrive as folders on the command line (run.sh passes each stage's output
folder to the stages that use it):
  - a dataset is a folder with train.jsonl and validation.jsonl;
  - a model is a folder written by `save_pretrained` (full weights, or a PEFT adapter whose
    adapter_config.json names its base), with its tokenizer;
  - run.sh marks a finished stage's folder with a `.done` file (its plan hash) and skips it next time.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

# ---- datasets -------------------------------------------------------------------------------


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load_split(folder: str | Path):
    """(train, validation) as `datasets.Dataset`s; validation is None when the split holds nothing out."""
    from datasets import Dataset

    train = read_jsonl(Path(folder) / "train.jsonl")
    validation = read_jsonl(Path(folder) / "validation.jsonl")
    if not train:
        raise SystemExit(f"{folder}: no training records")
    return Dataset.from_list(train), (Dataset.from_list(validation) if validation else None)


def apply_template(record: dict[str, Any], template: str, tokenizer=None, max_length: int | None = None) -> dict[str, Any]:
    """An SFT pair through the template, split at {response}: the prompt part is context only.

    Without a tokenizer: prompt/completion text. With one: the tokens SFTTrainer trains on, made
    as rlhfc makes them — prompt part and completion tokenized separately (SFTTrainer tokenizes
    their concatenation, which merges tokens across the boundary when the prompt part ends in a
    space), end-of-text after the completion, cut to `max_length` keeping the prompt's end and the
    completion's start (join_truncated); `completion_mask` marks the completion.
    """
    before, after = template.split("{response}", 1)
    prompt = before.replace("{prompt}", record["prompt"])
    completion = record["response"] + after.replace("{prompt}", record["prompt"])
    if tokenizer is None:
        return {"prompt": prompt, "completion": completion}
    p_ids = with_bos(tokenizer, tokenizer(prompt, add_special_tokens=False)["input_ids"])
    c_ids = tokenizer(completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    if max_length is not None:
        p_ids, c_ids = join_truncated(p_ids, c_ids, max_length)
    return {"input_ids": p_ids + c_ids, "completion_mask": [0] * len(p_ids) + [1] * len(c_ids)}


def bos_prefix(tokenizer) -> list[int]:
    """The token the tokenizer puts before each text (a Llama's or Mistral's bos), or none (GPT-2, Qwen): rlhfc's bosId."""
    plain = tokenizer("a", add_special_tokens=False)["input_ids"]
    ids = tokenizer("a")["input_ids"]
    for i in range(len(ids) - len(plain) + 1):
        if ids[i : i + len(plain)] == plain:
            return ids[:i][:1]
    return []


def with_bos(tokenizer, ids: list[int]) -> list[int]:
    """`ids` with the tokenizer's bos in front when it adds one (and it is not there already), as rlhfc's withBos."""
    bos = bos_prefix(tokenizer)
    return ids if not bos or ids[:1] == bos else bos + ids


def join_truncated(prompt_ids: list[int], response_ids: list[int], max_length: int, max_prompt: int | None = None) -> tuple[list[int], list[int]]:
    """rlhfc's cut of prompt + response to `max_length` tokens: the response keeps its start, the
    prompt its end; when both do not fit, the prompt keeps at most max_length - max(1, max_length // 4)."""
    max_prompt = max_length - 1 if max_prompt is None else max_prompt
    min_response = min(len(response_ids), max(1, max_length // 4))
    keep = min(len(prompt_ids), max_prompt, max_length - min_response)
    p = prompt_ids[len(prompt_ids) - keep :]
    return p, response_ids[: max_length - len(p)]


def truncate_prompt(record: dict[str, Any], tokenizer, max_prompt_length: int) -> dict[str, Any]:
    """A preference pair whose prompt keeps its last `max_prompt_length` tokens (DPOTrainer tokenizes the text again)."""
    ids = tokenizer(record["prompt"])["input_ids"]
    if len(ids) <= max_prompt_length:
        return record
    return {**record, "prompt": tokenizer.decode(ids[-max_prompt_length:])}


# ---- chat templates (a stage's `chat_template: true`) ---------------------------------------
# As rlhfc renders them (runtime/train/examples.ts): a prompt is one user turn, rendered with the
# tokenizer's chat template and its generation prompt; a response is the assistant turn's content, and
# its tokens are what the template adds after the prompt (its end-of-turn included, no extra
# end-of-text): ids(prompt + response turns) split at len(ids(prompt with generation prompt)), which is
# how TRL tokenizes conversational prompt-completion records. transformers' apply_chat_template
# tokenizes the rendered text without adding special tokens (the template writes them).


def user_turn(prompt: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt}]


def assistant_turn(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def _chat_ids(tokenizer, messages: list[dict[str, str]], add_generation_prompt: bool) -> list[int]:
    out = tokenizer.apply_chat_template(messages, add_generation_prompt=add_generation_prompt, tokenize=True, return_dict=True)
    return list(out["input_ids"])


def chat_prompt_text(tokenizer, prompt: str) -> str:
    """The prompt as the chat template renders one user turn with the generation prompt."""
    return tokenizer.apply_chat_template(user_turn(prompt), add_generation_prompt=True, tokenize=False)


def chat_prompt_ids(tokenizer, prompt: str) -> list[int]:
    """The ids of chat_prompt_text (rlhfc's encodeChatPrompt)."""
    return _chat_ids(tokenizer, user_turn(prompt), True)


def chat_pair_ids(tokenizer, prompt: str, response: str) -> tuple[list[int], list[int]]:
    """(prompt ids, response ids) through the chat template, split as TRL splits conversational records (rlhfc's encodeChatPair)."""
    p = _chat_ids(tokenizer, user_turn(prompt), True)
    full = _chat_ids(tokenizer, user_turn(prompt) + assistant_turn(response), False)
    return full[: len(p)], full[len(p) :]


def apply_chat(record: dict[str, Any], tokenizer, max_length: int) -> dict[str, Any]:
    """An SFT pair through the chat template: the tokens SFTTrainer trains on, as rlhfc makes them
    (chat_pair_ids, cut by join_truncated); `completion_mask` marks the assistant turn."""
    p_ids, c_ids = join_truncated(*chat_pair_ids(tokenizer, record["prompt"], record["response"]), max_length)
    return {"input_ids": p_ids + c_ids, "completion_mask": [0] * len(p_ids) + [1] * len(c_ids)}


def conversational(record: dict[str, Any], responses: tuple[str, ...]) -> dict[str, Any]:
    """A record as TRL's conversational prompt-completion data: the prompt a user turn, each of `responses`
    (chosen/rejected, or completion) an assistant turn; TRL renders and splits them as chat_pair_ids does."""
    return {**record, "prompt": user_turn(record["prompt"]), **{k: assistant_turn(record[k]) for k in responses}}


def turn_text(x) -> str:
    """The text of a prompt or completion TRL passes to a reward function: a string, or the content of
    the last turn of a conversational one (what rlhfc's judges score: the prompt as written, the response)."""
    return x[-1]["content"] if isinstance(x, list) else x


def load_records(folder: str | Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(train, validation) as plain lists of records."""
    return read_jsonl(Path(folder) / "train.jsonl"), read_jsonl(Path(folder) / "validation.jsonl")


def tokenizer_fingerprint(tokenizer) -> str | None:
    """What decides how a tokenizer encodes text: its whole definition (tokenizer.json of a fast tokenizer)
    and special ids; None for a tokenizer without a serialisable definition (then nothing is cached)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or not hasattr(backend, "to_str"):
        return None
    return f"{type(tokenizer).__name__}\0{backend.to_str()}\0{tokenizer.eos_token_id}\0{tokenizer.pad_token_id}"


def cached(kind: str, key: list[Any], build):
    """A tokenized `datasets.Dataset`, built once and kept in the project's cache folder ($RLHF_CACHE, else
    cache/ next to run.sh), keyed by a hash of everything it is made from (the records, the tokenizer's
    fingerprint, the parameters): a later stage, or a rerun, loads it instead of tokenizing again.
    Deleting the folder is always safe."""
    if any(part is None for part in key):
        return build()
    import hashlib

    from datasets import load_from_disk

    h = hashlib.sha256()
    for part in key:
        h.update(part.encode("utf-8") if isinstance(part, str) else json.dumps(part, sort_keys=True).encode("utf-8"))
        h.update(b"\0")
    folder = Path(os.environ.get("RLHF_CACHE", "cache")) / f"{kind}-{h.hexdigest()[:20]}"
    if (folder / "dataset_info.json").exists():
        return load_from_disk(str(folder))
    dataset = build()
    tmp = folder.with_name(f"{folder.name}.tmp{os.getpid()}")
    try:
        dataset.save_to_disk(str(tmp))
        os.replace(tmp, folder)  # atomic: another process may have written the same folder meanwhile
    except OSError:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return dataset


def pack_text(texts: list[str], tokenizer, block_size: int, remainder: str):
    """`_pack_text`, cached (see `cached`): the corpus is tokenized once for all stages and reruns."""
    return cached("blocks", [list(texts), tokenizer_fingerprint(tokenizer), block_size, remainder], lambda: _pack_text(texts, tokenizer, block_size, remainder))


def _pack_text(texts: list[str], tokenizer, block_size: int, remainder: str):
    """Causal-LM blocks: documents tokenized, joined with end-of-text, cut into `block_size` tokens.

    Consecutive blocks overlap by one token, so every token but the first is predicted exactly
    once, as in rlhfc (which reads one token past each block; here the block must fit the model's
    context). Labels are the input ids (the model shifts them); with remainder "pad" the last
    partial block is padded and its padding masked with -100. DataCollatorForLanguageModeling is
    not used: it masks every pad-token id, and GPT-2-style tokenizers pad with end-of-text, which
    would hide the document boundaries from the loss.
    """
    from datasets import Dataset

    ids: list[int] = []
    for text in texts:
        ids.extend(tokenizer(text)["input_ids"])
        ids.append(tokenizer.eos_token_id)
    rows = []
    for start in range(0, len(ids) - 1, block_size - 1):
        block = ids[start : start + block_size]
        if len(block) < block_size:
            if remainder == "drop" or len(block) < 2:
                break
            pad = block_size - len(block)
            rows.append({"input_ids": block + [tokenizer.pad_token_id] * pad, "attention_mask": [1] * len(block) + [0] * pad, "labels": block + [-100] * pad})
        else:
            rows.append({"input_ids": block, "attention_mask": [1] * block_size, "labels": list(block)})
    return Dataset.from_list(rows)


# ---- tokenizers and models ------------------------------------------------------------------


def per_process(batch_size: int) -> int:
    """rlhfc's batch_size is the batch of one optimisation step; with P processes each gets batch_size / P."""
    p = int(os.environ.get("WORLD_SIZE", "1"))  # set by accelerate launch / torchrun for every process
    if batch_size % p:
        raise SystemExit(f"batch_size {batch_size} is not divisible by the {p} processes: choose a multiple of {p}")
    return batch_size // p


def load_tokenizer(name_or_path: str):
    """A tokenizer from a folder or Hub id; GPT-2-style tokenizers get their end-of-text token as padding."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def is_adapter(path: str) -> bool:
    return (Path(path) / "adapter_config.json").exists()


def load_causal_lm(name_or_path: str):
    """A causal LM from a Hub id or folder; a LoRA adapter folder is merged into its base."""
    if is_adapter(name_or_path):
        from peft import AutoPeftModelForCausalLM

        # PEFT loads the base frozen and merging keeps it so: unfreeze, or a stage that trains the
        # merged weights (full fine-tuning after a LoRA stage) would train nothing.
        return AutoPeftModelForCausalLM.from_pretrained(name_or_path).merge_and_unload().requires_grad_(True)
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(name_or_path)


def load_scalar_model(name_or_path: str, pad_token_id: int):
    """A model with a scalar head (reward or value model) from a causal-LM or reward-model folder.

    A causal LM gets a new, randomly initialised head on its body (a value model starts from the
    policy); a LoRA adapter is merged into its base first.
    """
    from transformers import AutoModelForSequenceClassification

    if not is_adapter(name_or_path):
        model = AutoModelForSequenceClassification.from_pretrained(name_or_path, num_labels=1)
    elif json.loads((Path(name_or_path) / "adapter_config.json").read_text()).get("task_type") == "SEQ_CLS":
        from peft import AutoPeftModelForSequenceClassification

        model = AutoPeftModelForSequenceClassification.from_pretrained(name_or_path, num_labels=1).merge_and_unload().requires_grad_(True)
    else:
        with tempfile.TemporaryDirectory() as merged:
            load_causal_lm(name_or_path).save_pretrained(merged)
            model = AutoModelForSequenceClassification.from_pretrained(merged, num_labels=1)
    model.config.pad_token_id = pad_token_id
    return model


def last_checkpoint(output_dir: str) -> str | None:
    """The newest `checkpoint-N` folder of an interrupted run, to resume from."""
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(output_dir) if os.path.isdir(output_dir) else None


def save_result(trainer, tokenizer, out: str, merge_lora: bool = False, scalar_head: bool = False) -> None:
    """Save the trained model and its tokenizer into `out`.

    With LoRA, `trainer.save_model` writes the adapter (its config names the base folder);
    `merge_lora` then replaces it with merged full weights, like `lora { merge: true }` locally
    (`scalar_head`: a reward model, whose score head is saved with the adapter).
    """
    trainer.save_model(out)
    trainer.accelerator.wait_for_everyone()
    if trainer.is_world_process_zero():
        write_metrics(out, trainer.state.log_history)
        a = trainer.args
        facts = {
            "processes": a.world_size,
            "per_device_train_batch_size": a.per_device_train_batch_size,
            "gradient_accumulation_steps": a.gradient_accumulation_steps,
            "effective_batch_size": a.per_device_train_batch_size * a.gradient_accumulation_steps * a.world_size,
            "global_step": trainer.state.global_step,
            "train_records": len(trainer.train_dataset) if trainer.train_dataset is not None else 0,
        }
        # the RL and KTO settings as the trainer's config holds them (checked against rlhfc's by the interop tests)
        for key in ("max_steps", "num_generations", "generation_batch_size", "steps_per_generation", "num_iterations", "beta",
                    "epsilon", "epsilon_high", "loss_type", "scale_rewards", "mask_truncated_completions", "normalize_advantages",
                    "reward_weights", "max_completion_length", "desirable_weight", "undesirable_weight", "max_length"):
            if hasattr(a, key):
                facts[key] = getattr(a, key)
        (Path(out) / "trainer.json").write_text(json.dumps(facts, indent=1) + "\n", encoding="utf-8")
        if merge_lora and is_adapter(out):
            merged = load_scalar_model(out, tokenizer.pad_token_id) if scalar_head else load_causal_lm(out)
            for name in ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin"):
                (Path(out) / name).unlink(missing_ok=True)
            merged.save_pretrained(out)
        tokenizer.save_pretrained(out)


def write_metrics(out: str, history: list[dict]) -> None:
    """The logged metrics, one JSON line per log (`metrics.jsonl` in the stage's result folder)."""
    Path(out).mkdir(parents=True, exist_ok=True)
    with (Path(out) / "metrics.jsonl").open("w", encoding="utf-8") as f:
        for row in history:
            f.write(json.dumps(row) + "\n")


# ---- sampling -------------------------------------------------------------------------------


def start(seed: int) -> None:
    """The first thing a stage does: seed every generator (a fresh model's and a reward head's initialisation
    happen before the trainer seeds, and differed from run to run without this) and, with
    $RLHF_DETERMINISTIC=1, turn on deterministic algorithms."""
    from transformers import set_seed

    deterministic()
    set_seed(seed)


def deterministic() -> bool:
    """Whether this run must be reproducible ($RLHF_DETERMINISTIC=1, which run.sh sets for an export made with
    --deterministic): deterministic torch algorithms (errors on an operation without one), cuDNN without
    autotuning, the cuBLAS workspace setting; the Trainer stages also get full_determinism=True (seeded workers)."""
    import os

    if os.environ.get("RLHF_DETERMINISTIC", "") not in ("1", "true"):
        return False
    import torch

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    return True


def mixed_precision() -> str:
    """The export's default mixed precision (`auto`), decided on the machine that runs it: "bf16" on a CUDA GPU
    with bfloat16 in hardware (Ampere and later), else "no" (fp32: a CPU, or an older GPU that would only emulate
    it). $RLHF_MIXED_PRECISION (no, fp16, bf16) overrides it."""
    import os

    import torch

    forced = os.environ.get("RLHF_MIXED_PRECISION")
    if forced:
        if forced not in ("no", "fp16", "bf16"):
            raise SystemExit(f"RLHF_MIXED_PRECISION must be no, fp16 or bf16, got {forced!r}")
        return forced
    return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False) else "no"


def use_cpu(precision: str) -> bool:
    """`TrainingArguments.use_cpu` for a stage training in `precision`: True for bf16 on a machine without a CUDA
    GPU, where Transformers accepts bf16 (autocast on the CPU) only with use_cpu; otherwise False (the default)."""
    import torch

    return precision == "bf16" and not torch.cuda.is_available()


def device():
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def sequence_logprobs(model, tokenizer, prompts: list[str], responses: list[str], max_prompt_length: int, temperature: float, batch_size: int = 16, chat: bool = False) -> list[float]:
    """Σ_t log p(response token t | prompt, earlier tokens) at `temperature`, one number per pair (`chat`: prompts through the chat template, as sampled)."""
    import torch

    out: list[float] = []
    for i in range(0, len(prompts), batch_size):
        rows = []
        for prompt, response in zip(prompts[i : i + batch_size], responses[i : i + batch_size]):
            p = (chat_prompt_ids(tokenizer, prompt) if chat else tokenizer(prompt)["input_ids"])[-max_prompt_length:]
            r = tokenizer(response, add_special_tokens=not chat)["input_ids"] or [tokenizer.eos_token_id]
            rows.append((p, r))
        width = max(len(p) + len(r) for p, r in rows)
        ids = torch.full((len(rows), width), tokenizer.pad_token_id)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        target = torch.zeros((len(rows), width), dtype=torch.bool)
        for k, (p, r) in enumerate(rows):
            ids[k, : len(p) + len(r)] = torch.tensor(p + r)
            mask[k, : len(p) + len(r)] = 1
            target[k, len(p) : len(p) + len(r)] = True
        ids, mask, target = ids.to(model.device), mask.to(model.device), target.to(model.device)
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float() / temperature
        logp = torch.log_softmax(logits, dim=-1).gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
        out.extend((logp * target[:, 1:]).sum(-1).tolist())
    return out


def sample(model, tokenizer, prompts: list[str], max_prompt_length: int, generation, batch_size: int = 32, chat: bool = False) -> list[str]:
    """One sampled response per prompt (a `GenerationConfig`); prompts are truncated from the left to `max_prompt_length` tokens.
    With `chat`, each prompt is rendered with the chat template first (chat_prompt_text; its special tokens are in the text)."""
    import torch

    tokenizer.padding_side = "left"
    tokenizer.truncation_side = "left"
    generation.pad_token_id = tokenizer.pad_token_id
    generation.eos_token_id = tokenizer.eos_token_id
    model.eval()
    out: list[str] = []
    for i in range(0, len(prompts), batch_size):
        texts = [chat_prompt_text(tokenizer, p) for p in prompts[i : i + batch_size]] if chat else prompts[i : i + batch_size]
        batch = tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=max_prompt_length, add_special_tokens=not chat).to(model.device)
        with torch.no_grad():
            ids = model.generate(**batch, generation_config=generation)
        out.extend(tokenizer.batch_decode(ids[:, batch["input_ids"].shape[1] :], skip_special_tokens=True))
    return out
