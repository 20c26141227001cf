// Length-desensitised DPO (LD-DPO, Liu et al. 2024; TRL 1.13 `DPOConfig.ld_alpha`): a response's
// log-probability is split into the part both responses of a pair share in length and the verbose
// tail of the longer one, and the tail is weighted by α:
//   log p = Σ_{k ≤ ℓ} log p(y_k) + α · Σ_{k > ℓ} log p(y_k),   ℓ = min(|y_chosen|, |y_rejected|)
// where k counts response tokens only (the 1-based position among the tokens the loss sees, as TRL's
// cumsum of the shifted completion mask: padding and prompt tokens never count) and |y| is the
// number of such tokens after truncation. The same weights apply to the policy's and the
// reference's log-probs, so every DPO loss form sees them. α = 1 is plain DPO; α = 0 drops the tail.
// Masks are constants, so the weights are too: no gradient of their own.

/**
 * Per-token weights of a batch of pairs: `chosenMask` [B, Tc] and `rejectedMask` [B, Tr] (row-major,
 * 1 where a target token is a response token) → the same masks with every response token past the
 * pair's shared length weighted by `alpha`. Row b of chosen and row b of rejected are one pair.
 */
export function ldTokenWeights(
  chosenMask: ArrayLike<number>,
  rejectedMask: ArrayLike<number>,
  B: number,
  Tc: number,
  Tr: number,
  alpha: number,
): { chosen: Float32Array; rejected: Float32Array } {
  if (!(alpha >= 0 && alpha <= 1)) throw new Error(`ld_alpha must be in [0, 1] (got ${alpha})`);
  if (chosenMask.length !== B * Tc || rejectedMask.length !== B * Tr) throw new Error(`ldTokenWeights: masks of ${chosenMask.length} and ${rejectedMask.length} values for ${B} pairs of ${Tc} and ${Tr} positions`);
  const count = (m: ArrayLike<number>, b: number, T: number) => {
    let n = 0;
    for (let t = 0; t < T; t++) if (m[b * T + t] !== 0) n++;
    return n;
  };
  const weigh = (m: ArrayLike<number>, T: number, shared: number[]) => {
    const out = new Float32Array(B * T);
    for (let b = 0; b < B; b++) {
      let k = 0;
      for (let t = 0; t < T; t++) {
        const v = m[b * T + t];
        if (v === 0) continue;
        k++;
        out[b * T + t] = k <= shared[b] ? v : alpha * v;
      }
    }
    return out;
  };
  const shared = Array.from({ length: B }, (_, b) => Math.min(count(chosenMask, b, Tc), count(rejectedMask, b, Tr)));
  return { chosen: weigh(chosenMask, Tc, shared), rejected: weigh(rejectedMask, Tr, shared) };
}
