// PPO's own parameters (TRL's PPOConfig, as far as it differs from the other on-policy stages): the
// discount and GAE λ, the clipped losses, the per-token KL penalty and its controller, and score
// post-processing. The `ppo` stage puts them in its schema; train/ppo-trainer.ts reads them typed.
// No TensorFlow.js here: the compiler loads this file with the schemas.

import { block, bool, float, int, str, type ParamsOf } from '../../core/schema.ts';

export const ppoConfig = {
  gamma: float('Discount factor.', 1.0, 0, 1),
  lam: float('GAE λ.', 0.95, 0, 1),
  cliprange: float('Policy ratio clip ε.', 0.2, 0, 10, { minExclusive: true }),
  cliprange_value: float('Value clip.', 0.2, 0, 1000, { minExclusive: true }),
  vf_coef: float('Value-loss coefficient.', 0.1, 0),
  entropy_coef: float('Entropy bonus: the loss subtracts this times the mean token entropy of the policy over the response tokens (OpenRLHF entropy_loss_coef, verl entropy_coeff); keeps answers diverse. 0: off, as TRL.', 0, 0),
  whiten_rewards: bool('Scale per-token rewards by their batch standard deviation (TRL: whitened without shifting the mean) before GAE.', false),
  kl: block('KL penalty and its controller.', 'always', {
    init: float('Initial β.', 0.2, 0),
    adaptive: bool('Adapt β toward `target` (else β stays fixed).', true),
    target: float('Target KL for the adaptive controller.', 6.0, 0, undefined, { minExclusive: true }),
    horizon: int('Adaptive controller horizon.', 10000, 1),
    penalty: str('Per-token KL estimator.', 'kl', ['kl', 'abs', 'mse']),
    stop_at: float('Early-stop an epoch when the batch\'s approx KL exceeds this (0: off).', 0, 0),
  }),
  score: block('Score post-processing.', 'always', {
    scaling: bool('Divide scores by their running standard deviation.', false),
    clip: float('Clip scores to ±clip after scaling (0: off).', 0, 0),
  }),
} as const;

export type PpoConfig = ParamsOf<typeof ppoConfig>;
