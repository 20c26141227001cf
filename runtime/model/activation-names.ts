// The `activation_function` values of a GPT-2 config.json that rlhfc computes (./activations.ts),
// without TensorFlow.js, so the checkpoint reader can refuse any other value by name.
export const ACTIVATION_NAMES = [
  'gelu_new', 'gelu_fast', 'gelu_pytorch_tanh', 'gelu_python_tanh', 'gelu_accurate', 'gelu', 'gelu_python', 'gelu_10',
  'quick_gelu', 'relu', 'relu6', 'relu2', 'leaky_relu', 'silu', 'swish', 'mish', 'sigmoid', 'tanh', 'linear',
] as const;
