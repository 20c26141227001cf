// Single-precision matrix product C = op(A)·op(B) (+ C), the design of BLIS: the operands are packed
// into contiguous panels (B in KC×NR column panels that stay in L1, A in MR×KC row panels from a
// block that stays in L2), and a register-tiled micro-kernel computes one MR×NR tile of C from one A
// panel and one B panel with broadcast-multiply-adds. Packing reads the operands with their own
// strides, so every transpose combination costs the same. Compiled three times (binding.gyp) like
// simd.cc: AVX-512 (MR 14 × NR 32: 28 zmm accumulators), AVX2+FMA (6 × 16), baseline SSE2 (6 × 8).
// Single-threaded: addon.cc splits large products across its thread pool and calls this per part.
#include <immintrin.h>

#include <array>
#include <cstdint>
#include <utility>
#include <cstdlib>
#include <cstring>

#include "kernels.h"

#ifndef KNS
#define KNS k_base
#endif

namespace rlhfc {
namespace KNS {
namespace {

#if defined(__AVX512F__)
typedef __m512 V;
constexpr int VW = 16, MR = 14;
inline V vzero() { return _mm512_setzero_ps(); }
inline V vload(const float* p) { return _mm512_loadu_ps(p); }
inline void vstore(float* p, V v) { _mm512_storeu_ps(p, v); }
inline V vset1(float x) { return _mm512_set1_ps(x); }
inline V vfma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
inline V vadd(V a, V b) { return _mm512_add_ps(a, b); }
#elif defined(__AVX2__) && defined(__FMA__)
typedef __m256 V;
constexpr int VW = 8, MR = 6;
inline V vzero() { return _mm256_setzero_ps(); }
inline V vload(const float* p) { return _mm256_loadu_ps(p); }
inline void vstore(float* p, V v) { _mm256_storeu_ps(p, v); }
inline V vset1(float x) { return _mm256_set1_ps(x); }
inline V vfma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
inline V vadd(V a, V b) { return _mm256_add_ps(a, b); }
#else
typedef __m128 V;
constexpr int VW = 4, MR = 6;
inline V vzero() { return _mm_setzero_ps(); }
inline V vload(const float* p) { return _mm_loadu_ps(p); }
inline void vstore(float* p, V v) { _mm_storeu_ps(p, v); }
inline V vset1(float x) { return _mm_set1_ps(x); }
inline V vfma(V a, V b, V c) { return _mm_add_ps(_mm_mul_ps(a, b), c); }
inline V vadd(V a, V b) { return _mm_add_ps(a, b); }
#endif

constexpr int NR = 2 * VW;
// Cache blocking: a B panel KC×NR (≤ 32 KB with AVX-512) is reused by every A panel of an MC block;
// the MC×KC A block (≤ 160 KB) stays in L2; NC columns of B (KC×NC ≤ 2 MB) in L2/L3.
constexpr int64_t KC = 256;
constexpr int64_t MC = MR * (VW == 16 ? 10 : 24);
constexpr int64_t NC = 1024;

// R×NR tile (R ≤ MR rows): c (ldc) = or += Σ_k a[k·MR + i]·b[k·ldbk + j] (ldbk = NR for a packed
// panel; A panels always have MR rows per k). One instantiation per R, so short edges cost no more.
template <int R>
void microR(int64_t kc, const float* __restrict a, const float* __restrict b, float* __restrict c, int64_t ldc, bool acc, int64_t ldbk) {
  V c0[R], c1[R];
#pragma GCC unroll 16
  for (int i = 0; i < R; i++) c0[i] = c1[i] = vzero();
  for (int64_t k = 0; k < kc; k++) {
    const V b0 = vload(b), b1 = vload(b + VW);
#pragma GCC unroll 16
    for (int i = 0; i < R; i++) {
      const V ai = vset1(a[i]);
      c0[i] = vfma(ai, b0, c0[i]);
      c1[i] = vfma(ai, b1, c1[i]);
    }
    a += MR;
    b += ldbk;
  }
  if (acc) {
#pragma GCC unroll 16
    for (int i = 0; i < R; i++) {
      vstore(c + i * ldc, vadd(vload(c + i * ldc), c0[i]));
      vstore(c + i * ldc + VW, vadd(vload(c + i * ldc + VW), c1[i]));
    }
  } else {
#pragma GCC unroll 16
    for (int i = 0; i < R; i++) {
      vstore(c + i * ldc, c0[i]);
      vstore(c + i * ldc + VW, c1[i]);
    }
  }
}

typedef void (*MicroFn)(int64_t, const float*, const float*, float*, int64_t, bool, int64_t);
template <int... I>
constexpr std::array<MicroFn, sizeof...(I)> microTable(std::integer_sequence<int, I...>) {
  return {{&microR<I + 1>...}};
}
constexpr auto MICRO = microTable(std::make_integer_sequence<int, MR>());

// m×n (m ≤ MR, n ≤ NR) tile of C from an A panel and a B panel (ldbk per k); a partial width goes
// through a scratch tile.
inline void tileOp(int64_t m, int64_t n, int64_t kc, const float* a, const float* b, int64_t ldbk, float* c, int64_t ldc, bool acc) {
  if (n == NR) return MICRO[m - 1](kc, a, b, c, ldc, acc, ldbk);
  alignas(64) float t[MR * NR];
  MICRO[m - 1](kc, a, b, t, NR, false, ldbk);
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) c[i * ldc + j] = acc ? c[i * ldc + j] + t[i * NR + j] : t[i * NR + j];
}

// op(A) rows [i0, i0+mc), columns [p0, p0+kc) → panels of MR rows (k-major, zero rows past mc).
void packA(bool tA, const float* A, int64_t lda, int64_t i0, int64_t p0, int64_t mc, int64_t kc, float* __restrict dst) {
  for (int64_t ir = 0; ir < mc; ir += MR) {
    const int64_t m = mc - ir < MR ? mc - ir : MR;
    float* d = dst + ir * kc;
    if (tA) {
      // op(A)(i, k) = A[k·lda + i]: MR consecutive floats per k
      const float* s = A + p0 * lda + i0 + ir;
      if (m == MR) {
        for (int64_t k = 0; k < kc; k++) std::memcpy(d + k * MR, s + k * lda, MR * sizeof(float));
      } else {
        for (int64_t k = 0; k < kc; k++) {
          for (int64_t i = 0; i < m; i++) d[k * MR + i] = s[k * lda + i];
          for (int64_t i = m; i < MR; i++) d[k * MR + i] = 0.0f;
        }
      }
    } else {
      // op(A)(i, k) = A[i·lda + k]: read each row contiguously, write with stride MR
      const float* s = A + (i0 + ir) * lda + p0;
      for (int64_t i = 0; i < m; i++) {
        const float* si = s + i * lda;
        for (int64_t k = 0; k < kc; k++) d[k * MR + i] = si[k];
      }
      for (int64_t i = m; i < MR; i++)
        for (int64_t k = 0; k < kc; k++) d[k * MR + i] = 0.0f;
    }
  }
}

// op(B) rows [p0, p0+kc), columns [j0, j0+nc) → panels of NR columns (k-major, zero columns past nc).
void packB(bool tB, const float* B, int64_t ldb, int64_t p0, int64_t j0, int64_t kc, int64_t nc, float* __restrict dst) {
  for (int64_t jr = 0; jr < nc; jr += NR) {
    const int64_t n = nc - jr < NR ? nc - jr : NR;
    float* d = dst + jr * kc;
    if (!tB) {
      // op(B)(k, j) = B[k·ldb + j]: NR consecutive floats per k
      const float* s = B + p0 * ldb + j0 + jr;
      if (n == NR) {
        for (int64_t k = 0; k < kc; k++) {
          vstore(d + k * NR, vload(s + k * ldb));
          vstore(d + k * NR + VW, vload(s + k * ldb + VW));
        }
      } else {
        for (int64_t k = 0; k < kc; k++) {
          for (int64_t j = 0; j < n; j++) d[k * NR + j] = s[k * ldb + j];
          for (int64_t j = n; j < NR; j++) d[k * NR + j] = 0.0f;
        }
      }
    } else {
      // op(B)(k, j) = B[j·ldb + k]: read each row of B contiguously, write with stride NR
      const float* s = B + (j0 + jr) * ldb + p0;
      for (int64_t j = 0; j < n; j++) {
        const float* sj = s + j * ldb;
        for (int64_t k = 0; k < kc; k++) d[k * NR + j] = sj[k];
      }
      for (int64_t j = n; j < NR; j++)
        for (int64_t k = 0; k < kc; k++) d[k * NR + j] = 0.0f;
    }
  }
}

// Pack buffers, one set per thread, grown on demand (64-byte aligned).
struct Buf {
  float* p = nullptr;
  size_t n = 0;
  float* get(size_t want) {
    if (want > n) {
      std::free(p);
      p = static_cast<float*>(std::aligned_alloc(64, ((want * sizeof(float) + 63) / 64) * 64));
      n = want;
    }
    return p;
  }
  ~Buf() { std::free(p); }
};
thread_local Buf bufA, bufB;

inline float hsum(V v) {
  alignas(64) float t[VW];
  vstore(t, v);
  float s = 0.0f;
  for (int i = 0; i < VW; i++) s += t[i];
  return s;
}

// Products with at most MR rows (sampling one token per sequence, small batches): packing B would
// cost as much as the product, so B is read in place. op(A) is first copied to `a`, k-major panel
// (no tB) or row-major [m, K] (tB).
void smallM(bool tA, bool tB, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate) {
  if (!tB) {
    // op(B)(k, j) = B[k·ldb + j]: the micro-kernel reads NR-wide rows of B in place, K in KC chunks;
    // the last partial column panel is copied (zero-padded) first
    float* a = bufA.get(KC * MR);
    float* bt = bufB.get(KC * NR);
    for (int64_t pc = 0; pc < K; pc += KC) {
      const int64_t kc = K - pc < KC ? K - pc : KC;
      const bool acc = accumulate || pc > 0;
      packA(tA, A, lda, 0, pc, M, kc, a);
      int64_t j = 0;
      for (; j + NR <= N; j += NR) tileOp(M, NR, kc, a, B + pc * ldb + j, ldb, C + j, ldc, acc);
      if (j < N) {
        packB(false, B, ldb, pc, j, kc, N - j, bt);
        tileOp(M, N - j, kc, a, bt, NR, C + j, ldc, acc);
      }
    }
    return;
  }
  // op(B)(k, j) = B[j·ldb + k]: C[i, j] = dot(op(A) row i, B row j), vectorised over k
  float* a = bufA.get(M * K);
  for (int64_t i = 0; i < M; i++)
    for (int64_t k = 0; k < K; k++) a[i * K + k] = tA ? A[k * lda + i] : A[i * lda + k];
  const int64_t K1 = K - K % VW;
  for (int64_t j = 0; j < N; j++) {
    const float* bj = B + j * ldb;
    V s[MR];
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) s[i] = vzero();
    for (int64_t k = 0; k < K1; k += VW) {
      const V bv = vload(bj + k);
#pragma GCC unroll 16
      for (int i = 0; i < MR; i++)
        if (i < M) s[i] = vfma(vload(a + i * K + k), bv, s[i]);
    }
    for (int64_t i = 0; i < M; i++) {
      float r = hsum(s[i]);
      for (int64_t k = K1; k < K; k++) r += a[i * K + k] * bj[k];
      C[i * ldc + j] = accumulate ? C[i * ldc + j] + r : r;
    }
  }
}

void gemm(bool tA, bool tB, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (!accumulate)
      for (int64_t i = 0; i < M; i++) std::memset(C + i * ldc, 0, N * sizeof(float));
    return;
  }
  if (M <= MR) return smallM(tA, tB, M, N, K, A, lda, B, ldb, C, ldc, accumulate);
  const int64_t kcMax = K < KC ? K : KC;
  const int64_t ncMax = N < NC ? N : NC;
  const int64_t mcMax = M < MC ? M : MC;
  float* Bp = bufB.get(kcMax * ((ncMax + NR - 1) / NR) * NR);
  float* Ap = bufA.get(kcMax * ((mcMax + MR - 1) / MR) * MR);
  for (int64_t jc = 0; jc < N; jc += NC) {
    const int64_t nc = N - jc < NC ? N - jc : NC;
    for (int64_t pc = 0; pc < K; pc += KC) {
      const int64_t kc = K - pc < KC ? K - pc : KC;
      const bool acc = accumulate || pc > 0;
      packB(tB, B, ldb, pc, jc, kc, nc, Bp);
      for (int64_t ic = 0; ic < M; ic += MC) {
        const int64_t mc = M - ic < MC ? M - ic : MC;
        packA(tA, A, lda, ic, pc, mc, kc, Ap);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          const int64_t n = nc - jr < NR ? nc - jr : NR;
          for (int64_t ir = 0; ir < mc; ir += MR) {
            const int64_t m = mc - ir < MR ? mc - ir : MR;
            tileOp(m, n, kc, Ap + ir * kc, Bp + jr * kc, NR, C + (ic + ir) * ldc + jc + jr, ldc, acc);
          }
        }
      }
    }
  }
}

}  // namespace

const Gemm gemm_kernel = {gemm, MR, NR};

}  // namespace KNS
}  // namespace rlhfc
