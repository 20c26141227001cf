"""Write compiler/export/trl/fields.json: the fields and signatures of the Python classes the TRL
export instantiates, read by introspection from the installed packages (never typed by hand).

    .venv/bin/python scripts/trl_fields.py            # rewrite compiler/export/trl/fields.json
    .venv/bin/python scripts/trl_fields.py --check    # exit 1 when the file differs from the packages

Dataclasses (TrainingArguments and TRL's configs, PEFT's LoraConfig) are read with
`dataclasses.fields`; configuration classes with an explicit `__init__` (GPT2Config) with
`inspect.signature`; `GenerationConfig`, whose `__init__` takes **kwargs, from the attributes of a
default instance; trainers and loaders with `inspect.signature`. tests/interop/fields.test.ts
runs `--check` against the virtualenv, so the list cannot drift from the pinned versions.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import sys
import warnings
from importlib.metadata import version
from pathlib import Path

warnings.filterwarnings("ignore")
OUT = Path(__file__).resolve().parent.parent / "compiler" / "export" / "trl" / "fields.json"


def dataclass_fields(cls) -> list[str]:
    return sorted(f.name for f in dataclasses.fields(cls) if f.init)


def config_fields(cls) -> list[str]:
    """A transformers model config: a dataclass in transformers 5 (its init fields), else its __init__'s parameters."""
    return dataclass_fields(cls) if dataclasses.is_dataclass(cls) else parameters(cls.__init__)


def parameters(fn) -> list[str]:
    return sorted(
        name
        for name, p in inspect.signature(fn).parameters.items()
        if name != "self" and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    )


def build() -> dict:
    import peft
    import transformers
    import trl

    sys.path.insert(0, str(OUT.parent / "py"))
    from rlhf_export import ppo as own_ppo  # the export's own PPO trainer (TRL 1.x has none)

    classes = {
        "TrainingArguments": ("transformers", transformers.TrainingArguments, dataclass_fields),
        "SFTConfig": ("trl", trl.SFTConfig, dataclass_fields),
        "RewardConfig": ("trl", trl.RewardConfig, dataclass_fields),
        "DPOConfig": ("trl", trl.DPOConfig, dataclass_fields),
        "GRPOConfig": ("trl", trl.GRPOConfig, dataclass_fields),
        "RLOOConfig": ("trl", trl.RLOOConfig, dataclass_fields),
        "KTOConfig": ("trl", trl.KTOConfig, dataclass_fields),
        "PPOConfig": ("rlhf_export", own_ppo.PPOConfig, dataclass_fields),
        "LoraConfig": ("peft", peft.LoraConfig, dataclass_fields),
        "GPT2Config": ("transformers", transformers.GPT2Config, lambda c: parameters(c.__init__)),
        **{name: ("transformers", getattr(transformers, name), config_fields) for name in ("LlamaConfig", "Qwen2Config", "Qwen3Config", "MistralConfig")},
        "GenerationConfig": ("transformers", transformers.GenerationConfig, lambda c: sorted(k for k in vars(c()) if not k.startswith("_"))),
    }
    signatures = {
        "Trainer": ("transformers", transformers.Trainer.__init__),
        "SFTTrainer": ("trl", trl.SFTTrainer.__init__),
        "RewardTrainer": ("trl", trl.RewardTrainer.__init__),
        "DPOTrainer": ("trl", trl.DPOTrainer.__init__),
        "GRPOTrainer": ("trl", trl.GRPOTrainer.__init__),
        "RLOOTrainer": ("trl", trl.RLOOTrainer.__init__),
        "KTOTrainer": ("trl", trl.KTOTrainer.__init__),
        "Accelerator": ("accelerate", __import__("accelerate").Accelerator.__init__),
    }
    out = {
        "generated_by": "scripts/trl_fields.py",
        "versions": {p: version(p) for p in ["torch", "transformers", "tokenizers", "trl", "peft", "accelerate", "datasets", "safetensors"]},
        "classes": {},
        "signatures": {},
        "has": {"trl.PPOTrainer": hasattr(trl, "PPOTrainer"), "trl.PPOConfig": hasattr(trl, "PPOConfig")},
    }
    for name, (pkg, cls, read) in classes.items():
        out["classes"][name] = {"package": f"{pkg} {version(pkg)}" if pkg != "rlhf_export" else "rlhf_export (shipped with the export)", "module": cls.__module__, "fields": read(cls)}
    for name, (pkg, fn) in signatures.items():
        out["signatures"][name] = {"package": f"{pkg} {version(pkg)}", "module": fn.__module__, "parameters": parameters(fn)}
    return out


def main() -> None:
    text = json.dumps(build(), indent=1, sort_keys=True) + "\n"
    if "--check" in sys.argv:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT} differs from the installed packages: rerun python scripts/trl_fields.py", file=sys.stderr)
            sys.exit(1)
        print(f"{OUT.name} matches the installed packages")
        return
    OUT.write_text(text)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
