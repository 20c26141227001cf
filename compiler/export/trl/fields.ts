// Fields of the Python configuration classes the exported code instantiates, in the pinned
// versions (versions.ts). Data, not code: tests/compiler/export/trl.test.ts checks that every keyword the
// emitted scripts pass to one of these classes is listed here. Each list records where it was
// taken from; the class's own fields come first, then what it inherits.

export interface FieldList {
  /** The package and version the list belongs to. */
  package: string;
  /** Where the fields were read: the class definition in that version's source. */
  sources: string[];
  /** How the list was read: which stored copy of the source it was compared with. */
  checked?: string;
  /** Base class whose fields are inherited (another key of FIELDS). */
  inherits?: string;
  fields: string[];
}

const TRL = 'https://github.com/huggingface/trl/blob/v0.19.1';
const TF = 'https://github.com/huggingface/transformers/blob/v4.53.2';
const PEFT = 'https://github.com/huggingface/peft/blob/v0.16.0';

export const FIELDS: Record<string, FieldList> = {
  TrainingArguments: {
    package: 'transformers 4.53.2',
    sources: [`${TF}/src/transformers/training_args.py (class TrainingArguments)`],
    checked: 'output_dir … tpu_metrics_debug field for field against a stored copy of training_args.py of the 4.5x line; the rest from the v4.53.2 source as listed',
    fields: [
      'output_dir', 'overwrite_output_dir', 'do_train', 'do_eval', 'do_predict', 'eval_strategy', 'prediction_loss_only',
      'per_device_train_batch_size', 'per_device_eval_batch_size', 'per_gpu_train_batch_size', 'per_gpu_eval_batch_size',
      'gradient_accumulation_steps', 'eval_accumulation_steps', 'eval_delay', 'torch_empty_cache_steps', 'learning_rate',
      'weight_decay', 'adam_beta1', 'adam_beta2', 'adam_epsilon', 'max_grad_norm', 'num_train_epochs', 'max_steps',
      'lr_scheduler_type', 'lr_scheduler_kwargs', 'warmup_ratio', 'warmup_steps', 'log_level', 'log_level_replica',
      'log_on_each_node', 'logging_dir', 'logging_strategy', 'logging_first_step', 'logging_steps', 'logging_nan_inf_filter',
      'save_strategy', 'save_steps', 'save_total_limit', 'save_safetensors', 'save_on_each_node', 'save_only_model',
      'restore_callback_states_from_checkpoint', 'no_cuda', 'use_cpu', 'use_mps_device', 'seed', 'data_seed', 'jit_mode_eval',
      'use_ipex', 'bf16', 'fp16', 'fp16_opt_level', 'half_precision_backend', 'bf16_full_eval', 'fp16_full_eval', 'tf32',
      'local_rank', 'ddp_backend', 'tpu_num_cores', 'tpu_metrics_debug', 'debug', 'dataloader_drop_last', 'eval_steps',
      'dataloader_num_workers', 'dataloader_prefetch_factor', 'past_index', 'run_name', 'disable_tqdm', 'remove_unused_columns',
      'label_names', 'load_best_model_at_end', 'metric_for_best_model', 'greater_is_better', 'ignore_data_skip', 'fsdp',
      'fsdp_min_num_params', 'fsdp_config', 'fsdp_transformer_layer_cls_to_wrap', 'accelerator_config', 'deepspeed',
      'label_smoothing_factor', 'optim', 'optim_args', 'adafactor', 'group_by_length', 'length_column_name', 'report_to',
      'ddp_find_unused_parameters', 'ddp_bucket_cap_mb', 'ddp_broadcast_buffers', 'dataloader_pin_memory',
      'dataloader_persistent_workers', 'skip_memory_metrics', 'use_legacy_prediction_loop', 'push_to_hub',
      'resume_from_checkpoint', 'hub_model_id', 'hub_strategy', 'hub_token', 'hub_private_repo', 'hub_always_push',
      'hub_revision', 'gradient_checkpointing', 'gradient_checkpointing_kwargs', 'include_inputs_for_metrics',
      'include_for_metrics', 'eval_do_concat_batches', 'fp16_backend', 'push_to_hub_model_id', 'push_to_hub_organization',
      'push_to_hub_token', 'mp_parameters', 'auto_find_batch_size', 'full_determinism', 'torchdynamo', 'ray_scope',
      'ddp_timeout', 'torch_compile', 'torch_compile_backend', 'torch_compile_mode', 'include_tokens_per_second',
      'include_num_input_tokens_seen', 'neftune_noise_alpha', 'optim_target_modules', 'batch_eval_metrics', 'eval_on_start',
      'use_liger_kernel', 'liger_kernel_config', 'eval_use_gather_object', 'average_tokens_across_devices',
    ],
  },
  SFTConfig: {
    package: 'trl 0.19.1',
    sources: [`${TRL}/trl/trainer/sft_config.py (class SFTConfig)`],
    checked: 'field for field against a stored copy of sft_config.py of the 0.19 line (with the transformers<4.54 average_tokens_across_devices override)',
    inherits: 'TrainingArguments',
    fields: [
      'model_init_kwargs', 'chat_template_path', 'dataset_text_field', 'dataset_kwargs', 'dataset_num_proc', 'eos_token',
      'pad_token', 'max_length', 'packing', 'packing_strategy', 'padding_free', 'pad_to_multiple_of', 'eval_packing',
      'completion_only_loss', 'assistant_only_loss', 'activation_offloading',
    ],
  },
  RewardConfig: {
    package: 'trl 0.19.1',
    sources: [`${TRL}/trl/trainer/reward_config.py (class RewardConfig)`],
    checked: 'against a stored copy of reward_config.py of the 0.19 line',
    inherits: 'TrainingArguments',
    fields: ['max_length', 'disable_dropout', 'dataset_num_proc', 'center_rewards_coefficient', 'remove_unused_columns'],
  },
  DPOConfig: {
    package: 'trl 0.19.1',
    sources: [`${TRL}/trl/trainer/dpo_config.py (class DPOConfig)`],
    checked: 'field for field against a stored copy of dpo_config.py of the 0.19 line (loss_type as a list, ld_alpha, loss_weights)',
    inherits: 'TrainingArguments',
    fields: [
      'model_init_kwargs', 'ref_model_init_kwargs', 'model_adapter_name', 'ref_adapter_name', 'force_use_ref_model',
      'disable_dropout', 'use_logits_to_keep', 'dataset_num_proc', 'padding_value', 'label_pad_token_id',
      'max_prompt_length', 'max_completion_length', 'max_length', 'truncation_mode', 'padding_free',
      'precompute_ref_log_probs', 'precompute_ref_batch_size', 'tools', 'loss_type', 'use_liger_loss',
      'base_model_attribute_name', 'beta', 'f_divergence_type', 'f_alpha_divergence_coef', 'reference_free',
      'label_smoothing', 'use_weighting', 'rpo_alpha', 'ld_alpha', 'discopop_tau', 'loss_weights', 'sync_ref_model',
      'ref_model_mixup_alpha', 'ref_model_sync_steps', 'generate_during_eval',
    ],
  },
  OnPolicyConfig: {
    package: 'trl 0.19.1',
    sources: [`${TRL}/trl/trainer/utils.py (class OnPolicyConfig)`],
    checked: 'field for field against a stored copy of trl/trainer/utils.py of the 0.19 line',
    inherits: 'TrainingArguments',
    fields: [
      'run_name', 'dataset_num_proc', 'num_mini_batches', 'total_episodes', 'local_rollout_forward_batch_size',
      'num_sample_generations', 'response_length', 'stop_token', 'stop_token_id', 'temperature', 'missing_eos_penalty',
      'sft_model_path', 'world_size', 'num_total_batches', 'micro_batch_size', 'local_batch_size', 'batch_size',
      'local_mini_batch_size', 'mini_batch_size', 'push_to_hub',
    ],
  },
  PPOConfig: {
    package: 'trl 0.19.1',
    sources: [`${TRL}/trl/trainer/ppo_config.py (class PPOConfig)`],
    checked: 'field for field against a stored copy of ppo_config.py of the 0.19 line',
    inherits: 'OnPolicyConfig',
    fields: [
      'exp_name', 'reward_model_path', 'model_adapter_name', 'ref_adapter_name', 'num_ppo_epochs', 'whiten_rewards',
      'kl_coef', 'kl_estimator', 'cliprange', 'vf_coef', 'cliprange_value', 'gamma', 'lam', 'ds3_gather_for_generation',
    ],
  },
  PeftConfig: {
    package: 'peft 0.16.0',
    sources: [`${PEFT}/src/peft/config.py (classes PeftConfigMixin, PeftConfig)`],
    fields: ['task_type', 'peft_type', 'auto_mapping', 'base_model_name_or_path', 'revision', 'inference_mode'],
  },
  LoraConfig: {
    package: 'peft 0.16.0',
    sources: [`${PEFT}/src/peft/tuners/lora/config.py (class LoraConfig)`],
    checked: 'from lora_alpha on, field for field against a stored copy of lora/config.py of the 0.16 line (use_qalora, no target_parameters)',
    inherits: 'PeftConfig',
    fields: [
      'r', 'target_modules', 'exclude_modules', 'lora_alpha', 'lora_dropout', 'fan_in_fan_out', 'bias', 'use_rslora',
      'modules_to_save', 'init_lora_weights', 'layers_to_transform', 'layers_pattern', 'rank_pattern', 'alpha_pattern',
      'megatron_config', 'megatron_core', 'trainable_token_indices', 'loftq_config', 'eva_config', 'corda_config',
      'use_dora', 'use_qalora', 'qalora_group_size', 'layer_replication', 'runtime_config', 'lora_bias',
    ],
  },
  PretrainedConfig: {
    package: 'transformers 4.53.2',
    sources: [`${TF}/src/transformers/configuration_utils.py (PretrainedConfig.__init__ keyword arguments, the ones rlhfc may pass)`],
    fields: ['num_labels', 'pad_token_id', 'bos_token_id', 'eos_token_id', 'id2label', 'label2id', 'problem_type', 'torch_dtype'],
  },
  GPT2Config: {
    package: 'transformers 4.53.2',
    sources: [`${TF}/src/transformers/models/gpt2/configuration_gpt2.py (GPT2Config.__init__)`],
    checked: 'against a stored copy of configuration_gpt2.py (GPT2Config.__init__ signature)',
    inherits: 'PretrainedConfig',
    fields: [
      'vocab_size', 'n_positions', 'n_embd', 'n_layer', 'n_head', 'n_inner', 'activation_function', 'resid_pdrop',
      'embd_pdrop', 'attn_pdrop', 'layer_norm_epsilon', 'initializer_range', 'summary_type', 'summary_use_proj',
      'summary_activation', 'summary_proj_to_labels', 'summary_first_dropout', 'scale_attn_weights', 'use_cache',
      'bos_token_id', 'eos_token_id', 'scale_attn_by_inverse_layer_idx', 'reorder_and_upcast_attn',
    ],
  },
  GenerationConfig: {
    package: 'transformers 4.53.2',
    sources: [`${TF}/src/transformers/generation/configuration_utils.py (GenerationConfig.__init__, length / strategy / logits / special-token groups)`],
    fields: [
      'max_length', 'max_new_tokens', 'min_length', 'min_new_tokens', 'early_stopping', 'max_time', 'stop_strings',
      'do_sample', 'num_beams', 'num_beam_groups', 'penalty_alpha', 'dola_layers', 'use_cache', 'cache_implementation',
      'cache_config', 'return_legacy_cache', 'prefill_chunk_size', 'temperature', 'top_k', 'top_p', 'min_p',
      'typical_p', 'epsilon_cutoff', 'eta_cutoff', 'diversity_penalty', 'repetition_penalty',
      'encoder_repetition_penalty', 'length_penalty', 'no_repeat_ngram_size', 'bad_words_ids', 'force_words_ids',
      'renormalize_logits', 'constraints', 'forced_bos_token_id', 'forced_eos_token_id', 'remove_invalid_values',
      'exponential_decay_length_penalty', 'suppress_tokens', 'begin_suppress_tokens', 'sequence_bias',
      'token_healing', 'guidance_scale', 'watermarking_config', 'num_return_sequences', 'output_attentions',
      'output_hidden_states', 'output_scores', 'output_logits', 'return_dict_in_generate', 'pad_token_id',
      'bos_token_id', 'eos_token_id', 'encoder_no_repeat_ngram_size', 'decoder_start_token_id', 'is_assistant',
      'num_assistant_tokens', 'num_assistant_tokens_schedule', 'assistant_confidence_threshold',
      'prompt_lookup_num_tokens', 'max_matching_ngram_size', 'assistant_early_exit', 'assistant_lookbehind',
      'target_lookbehind', 'disable_compile', 'generation_kwargs',
    ],
  },
};

/** Every field of a class, its own and inherited. */
export function fieldsOf(cls: string): Set<string> {
  const out = new Set<string>();
  for (let c: string | undefined = cls; c; c = FIELDS[c]?.inherits) {
    const f = FIELDS[c];
    if (!f) throw new Error(`no field list for ${c}`);
    f.fields.forEach((x) => out.add(x));
  }
  return out;
}
