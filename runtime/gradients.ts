// Backpropagation that frees as it goes. TensorFlow.js's `engine.gradients` (what tf.grad, tf.grads
// and tf.variableGrads call) keeps every tensor the forward pass saved for the backward pass, and
// every intermediate gradient, until the whole backward pass is done: its peak memory is all
// activations plus all their gradients. This version walks the same tape with the same gradient
// functions in the same order (so the numbers are identical), and disposes a node's saved tensors
// and its outputs' gradients as soon as the node is processed, as PyTorch's autograd does.
//
// It replaces the method on the engine instance (tfjs-core pinned to 4.22.0: `scopedRun`,
// `startTape`, `endTape`, `tidy`, `state.activeTape`, `state.gradientDepth`, tape nodes
// {id, inputs, outputs, gradient, saved}; tests/runtime/gradients.test.ts compares it with the original).
// Higher-order gradients (a gradient taken inside a gradient) keep the original.

import * as tf from '@tensorflow/tfjs';

interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
  gradient?: (dys: (tf.Tensor | null)[]) => Record<string, () => tf.Tensor>;
  saved?: tf.Tensor[];
}

interface EngineInternals {
  gradients(f: () => tf.Tensor, xs: tf.Tensor[], dy?: tf.Tensor, allowNoGradients?: boolean): { value: tf.Tensor; grads: tf.Tensor[] };
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  startTape(): void;
  endTape(): void;
  tidy<T extends tf.TensorContainer>(nameOrFn: string | (() => T), fn?: () => T): T;
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
}

/** The nodes on a path from xs to y, with inputs not derived from xs pruned (as tfjs's tape.ts). */
function pathsFromXToY(tape: TapeNode[], xs: tf.Tensor[], y: tf.Tensor): TapeNode[] {
  const fromX = new Set(xs.map((x) => x.id));
  const nodesFromX = new Set<number>();
  for (const node of tape) {
    if (Object.values(node.inputs).some((t) => fromX.has(t.id))) {
      for (const o of node.outputs) fromX.add(o.id);
      nodesFromX.add(node.id);
    }
  }
  const toY = new Set([y.id]);
  const nodesToY = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i];
    if (node.outputs.some((o) => toY.has(o.id))) {
      for (const t of Object.values(node.inputs)) toY.add(t.id);
      nodesToY.add(node.id);
    }
  }
  return tape
    .filter((n) => nodesFromX.has(n.id) && nodesToY.has(n.id))
    .map((n) => ({ ...n, inputs: Object.fromEntries(Object.entries(n.inputs).filter(([, t]) => fromX.has(t.id))) }));
}

function shapesEqual(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Install the freeing backward pass on the current engine (idempotent). */
export function installFreeingGradients(): void {
  const engine = tf.engine() as unknown as EngineInternals & { freeingGradients?: boolean };
  if (engine.freeingGradients) return;
  const original = engine.gradients.bind(engine);
  (engine as unknown as { tfjsGradients: typeof original }).tfjsGradients = original; // for tests
  engine.gradients = function (f, xs, dy, allowNoGradients = false) {
    if (engine.state.gradientDepth > 0 || xs.length === 0) return original(f, xs, dy, allowNoGradients);
    if (dy != null && dy.dtype !== 'float32') throw new Error(`dy must have 'float32' dtype, but has '${dy.dtype}'`);
    const y = engine.scopedRun(
      () => engine.startTape(),
      () => engine.endTape(),
      () => engine.tidy('forward', f),
    );
    if (!(y instanceof tf.Tensor)) throw new Error('The result y returned by f() must be a tensor.');
    const tape = engine.state.activeTape ?? [];
    const filtered = pathsFromXToY(tape, xs, y);
    if (!allowNoGradients && filtered.length === 0) {
      throw new Error('Cannot compute gradient of y=f(x) with respect to x. Make sure that the f you passed encloses all operations that lead from x to y.');
    }
    const savedBy = new Map(tape.map((n) => [n.id, n.saved ?? []]));
    return engine.tidy('backward', () => {
      const grad = new Map<number, tf.Tensor>();
      // how many entries of `grad` hold each tensor (a gradient function may hand dy on as dx)
      const holders = new Map<tf.Tensor, number>();
      const hold = (id: number, t: tf.Tensor) => {
        grad.set(id, t);
        holders.set(t, (holders.get(t) ?? 0) + 1);
      };
      const release = (id: number): tf.Tensor | undefined => {
        const t = grad.get(id);
        if (!t) return undefined;
        grad.delete(id);
        const n = (holders.get(t) ?? 1) - 1;
        if (n > 0) holders.set(t, n);
        else holders.delete(t);
        return t;
      };
      const free = (t: tf.Tensor) => {
        if (t !== dy && !holders.has(t)) t.dispose();
      };
      hold(y.id, dy ?? tf.ones(y.shape));
      const keep = new Set(xs.map((x) => x.id));
      for (let i = filtered.length - 1; i >= 0; i--) {
        const node = filtered[i];
        const dys = node.outputs.map((o) => grad.get(o.id) ?? null);
        if (!node.gradient) throw new Error(`Cannot compute gradient: gradient function not found for ${node.kernelName}.`);
        const inputGradients = node.gradient(dys);
        for (const [name, x] of Object.entries(node.inputs)) {
          if (!(name in inputGradients)) throw new Error(`Cannot backprop through input ${name}. Available gradients found: ${Object.keys(inputGradients)}.`);
          const dx = engine.tidy(() => inputGradients[name]());
          if (dx.dtype !== 'float32') throw new Error(`Error in gradient for op ${node.kernelName}. The gradient of input ${name} must have 'float32' dtype, but has '${dx.dtype}'`);
          if (!shapesEqual(dx.shape, x.shape)) {
            throw new Error(`Error in gradient for op ${node.kernelName}. The gradient of input '${name}' has shape '${dx.shape}', which does not match the shape of the input '${x.shape}'`);
          }
          const cur = release(x.id);
          if (!cur) hold(x.id, dx);
          else {
            hold(x.id, tf.add(cur, dx));
            free(cur);
            free(dx);
          }
        }
        // This node is done: nothing reads its outputs' gradients or its saved tensors again.
        for (const o of node.outputs) {
          if (keep.has(o.id)) continue;
          const g = release(o.id);
          if (g) free(g);
        }
        for (const t of savedBy.get(node.id) ?? []) t.dispose();
      }
      const grads = xs.map((x) => grad.get(x.id)) as tf.Tensor[];
      for (const node of tape) for (const t of node.saved ?? []) t.dispose();
      engine.state.activeTape = null;
      return { value: y, grads };
    });
  };
  engine.freeingGradients = true;
}
