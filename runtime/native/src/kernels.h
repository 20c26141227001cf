// Kernels compiled once per instruction set (simd.cc built as base / AVX2 / AVX-512 objects); addon.cc
// picks one table at load time with __builtin_cpu_supports, so one build runs on any x86-64.
#pragma once
#include <cstdint>

namespace rlhfc {

enum UnaryOp { U_NEG, U_EXP, U_LOG, U_SQRT, U_RSQRT, U_SQUARE, U_SIGMOID, U_TANH, U_RELU, U_ABS, U_RECIPROCAL, U_LOG1P, U_ELU, U_SOFTPLUS, U_STEP, U_RELU6 };
enum BinaryOp { B_ADD, B_SUB, B_MUL, B_DIV, B_MAX, B_MIN, B_POW, B_SQDIFF, B_FIRST };
enum ReduceOp { R_SUM, R_MAX, R_MIN, R_PROD, R_MEAN };

struct Table {
  const char* name;
  void (*unary)(int op, const float* x, float* y, int64_t n, float alpha);
  // y[i] = a[ia] op b[ib] over a collapsed shape of rank ≤ 8 with element strides sa/sb (0 = broadcast).
  void (*binary)(int op, const float* a, const float* b, float* y, int rank, const int64_t* shape, const int64_t* sa, const int64_t* sb);
  // x viewed as [outer, mid, inner], reduced over mid → y [outer, inner].
  void (*reduce)(int op, const float* x, float* y, int64_t outer, int64_t mid, int64_t inner);
  void (*softmax)(const float* x, float* y, int64_t rows, int64_t cols, int log);
  void (*addn)(const float* const* xs, int count, float* y, int64_t n);
  // y += bias per row (cols wide), then optional relu.
  void (*bias_act)(float* y, const float* bias, int64_t rows, int64_t cols, int relu);
  // Adam/AdamW in place; decay = 1 - lr·wd (1 for Adam).
  void (*adam)(float* p, float* m, float* v, const float* g, int64_t n, float b1, float b2, float step, float bc2sqrt, float eps, float decay);
  // Fused ops (runtime/native/fused.ts): LayerNorm over rows, GELU (tanh form, as runtime/model/ops.ts).
  void (*layernorm)(const float* x, const float* g, const float* b, float* y, float* mean, float* rstd, int64_t rows, int64_t cols, float eps);
  void (*layernorm_grad)(const float* dy, const float* x, const float* g, const float* mean, const float* rstd, float* dx, float* dg, float* db, int64_t rows,
                         int64_t cols);
  void (*gelu)(const float* x, float* y, int64_t n);
  void (*gelu_grad)(const float* x, const float* dy, float* dx, int64_t n);
  // Gradients from the forward output y: softmax over rows (dx = y·(dy − Σ dy·y)), sigmoid (dy·y·(1−y)).
  void (*softmax_grad)(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols);
  void (*sigmoid_grad)(const float* y, const float* dy, float* dx, int64_t n);
};

// gemm.cc: C[M,N] (row stride ldc) = op(A)·op(B), or += when accumulate; op(A) is A [M,K] (lda) or,
// with tA, the transpose of A [K,M]; op(B) likewise [K,N] or, with tB, B [N,K]. One thread.
struct Gemm {
  void (*run)(bool tA, bool tB, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate);
  int mr, nr;  // the micro-kernel's tile (threads split M in multiples of mr)
};

namespace k_base { extern const Table table; extern const Gemm gemm_kernel; }
namespace k_avx2 { extern const Table table; extern const Gemm gemm_kernel; }
namespace k_avx512 { extern const Table table; extern const Gemm gemm_kernel; }

}  // namespace rlhfc
