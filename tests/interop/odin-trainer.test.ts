// rlhf_export/odin.py's OdinRewardTrainer under the pinned TRL: a few steps of a tiny GPT-2 reward
// model train the length head beside the score head, log ODIN's correlations, and the saved model
// holds the ordinary one-output `score` head alone (AutoModelForSequenceClassification opens it).
import { expect, it } from 'vitest';
import { describeInterop, pyJson } from './python.ts';

describeInterop('interop: OdinRewardTrainer runs under TRL and saves the score head alone', () => {
  it('trains, logs and saves', { timeout: 180_000 }, () => {
    const r = pyJson<{ moved: number; score: string[]; n_keys: number; logs: Record<string, number> }>(`import json, sys, tempfile
sys.path.insert(0, "compiler/export/trl/py")
import torch
from datasets import Dataset
from transformers import GPT2Config, GPT2ForSequenceClassification, PreTrainedTokenizerFast
from tokenizers import Tokenizer, models, pre_tokenizers
from trl import RewardConfig
from rlhf_export.odin import OdinRewardTrainer

vocab = {w: i for i, w in enumerate(["<pad>", "<eos>", "q", "g", "b", "x"])}
tk = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
tk.pre_tokenizer = pre_tokenizers.Whitespace()
tok = PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", eos_token="<eos>")
torch.manual_seed(0)
model = GPT2ForSequenceClassification(GPT2Config(vocab_size=6, n_positions=16, n_embd=16, n_layer=1, n_head=2, num_labels=1, pad_token_id=0))
rows = [{"prompt": "q", "chosen": " g" + " x" * (i % 2), "rejected": " b" + " x" * (3 + i % 2)} for i in range(32)]
out = tempfile.mkdtemp()
cfg = RewardConfig(output_dir=out, max_steps=4, per_device_train_batch_size=8, learning_rate=1e-2, report_to=[], logging_steps=1, save_strategy="no", bf16=False, use_cpu=True)
tr = OdinRewardTrainer(model=model, args=cfg, train_dataset=Dataset.from_list(rows), processing_class=tok, correlation=1.0, orthogonality=1.0)
before = tr.length_head.weight.detach().clone() if tr.length_head is not None else None
tr.train()
moved = (tr.length_head.weight.detach() - before).abs().max().item()
tr.save_model(out)
from safetensors.torch import load_file
keys = sorted(load_file(out + "/model.safetensors").keys())
logs = [l for l in tr.state.log_history if "loss" in l]
from transformers import AutoModelForSequenceClassification
assert AutoModelForSequenceClassification.from_pretrained(out).config.num_labels == 1
print(json.dumps({"moved": moved, "score": [k for k in keys if "score" in k], "n_keys": len(keys), "logs": logs[-1]}))
`);
    expect(r.moved).toBeGreaterThan(1e-4); // the length head was in the optimizer
    expect(r.score).toEqual(['score.weight']); // no length head, one output
    expect(Number.isFinite(r.logs['loss'])).toBe(true);
    for (const k of ['quality_length_corr', 'length_head_corr']) expect(Math.abs(r.logs[k])).toBeLessThanOrEqual(1);
  });
});
