// A tiny random Qwen2 folder made by transformers (2 layers, width 32, GQA 4 on 2 heads, tied), with its
// own byte-level BPE tokenizer.json trained by `tokenizers` on every 7th `sentiment` sentence (400 tokens)
// and a ChatML chat template: what the Llama-family end-to-end tests fine-tune.
import { sentimentSentences } from '../../runtime/sources/dataset-corpus.ts';
import { py } from './python.ts';

export const CHATML = `{%- for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{%- endif %}`;

export function makeTinyQwen(folder: string): void {
  const texts = sentimentSentences()
    .map((s) => s.text)
    .filter((_, i) => i % 7 === 0);
  py(
    `import json, sys, torch
sys.path.insert(0, "tests/interop")
from hf_tokenizers import qwen2
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM
folder, texts, template = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
tok, config = qwen2(texts, 400)
fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=config["eos_token"], pad_token=config["pad_token"])
fast.chat_template = template
fast.save_pretrained(folder)
torch.manual_seed(0)
cfg = Qwen2Config(vocab_size=len(fast), hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                  max_position_embeddings=64, tie_word_embeddings=True, eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id, bos_token_id=None)
Qwen2ForCausalLM(cfg).save_pretrained(folder)
`,
    { args: [folder, JSON.stringify(texts), CHATML] },
  );
}
