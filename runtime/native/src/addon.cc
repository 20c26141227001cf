// N-API glue for the native TensorFlow.js backend (runtime/native/backend.ts). Every function works
// in place on the memory of TypedArrays the backend owns: inputs are read, outputs (preallocated,
// usually recycled buffers) are written. No allocation, no copies, no JS objects created per call.
//
// Matrix products run on gemm.cc (our own packed, cache-blocked GEMM, split over a small thread pool
// here), or on OpenBLAS when RLHFC_NATIVE_BLAS=openblas and libopenblas.so.0 loads (dlopen at load
// time: nothing links against it, so the addon builds with only g++ and make). Elementwise,
// reductions and softmax come from simd.cc. Both are compiled for three instruction sets, chosen at load.
#include <dlfcn.h>
#include <immintrin.h>
#include <node_api.h>
#include <sched.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <algorithm>
#include <vector>

#include "kernels.h"

using namespace rlhfc;

namespace {

const Table* T = &k_base::table;

const Gemm* G = &k_base::gemm_kernel;

// ---- Optional OpenBLAS, loaded with dlopen (RLHFC_NATIVE_BLAS=openblas) --------------------------
// CBLAS constants: row major 101, no transpose 111, transpose 112.
struct OpenBlas {
  void (*sgemm)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int) = nullptr;
  void (*setThreads)(int) = nullptr;
  char* (*corename)() = nullptr;
  std::string why;  // why it is not in use (empty when in use)
} blas;

void loadOpenBlas() {
  const char* want = std::getenv("RLHFC_NATIVE_BLAS");
  if (!want || std::string(want) != "openblas") {
    blas.why = "not requested (RLHFC_NATIVE_BLAS=openblas)";
    return;
  }
  void* h = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
  if (!h) h = dlopen("libopenblas.so", RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    blas.why = "libopenblas.so.0 not found";
    return;
  }
  blas.sgemm = reinterpret_cast<decltype(blas.sgemm)>(dlsym(h, "cblas_sgemm"));
  blas.setThreads = reinterpret_cast<decltype(blas.setThreads)>(dlsym(h, "openblas_set_num_threads"));
  blas.corename = reinterpret_cast<decltype(blas.corename)>(dlsym(h, "openblas_get_corename"));
  if (!blas.sgemm || !blas.setThreads) {
    blas.sgemm = nullptr;
    blas.why = "libopenblas lacks cblas_sgemm";
  }
}

// Threads: one for small products (waking a thread costs more than it saves), up to maxThreads
// for products of at least mtMin multiply-adds (setThreads sets both).
int maxThreads = 1;
int curBlasThreads = -1;
int64_t MT_MIN = int64_t(1) << 26;

void useBlasThreads(int64_t work) {
  const int n = work >= MT_MIN ? maxThreads : 1;
  if (n != curBlasThreads) {
    blas.setThreads(n);
    curBlasThreads = n;
  }
}

// ---- A small thread pool for our GEMM ------------------------------------------------------------
// run(n, f) calls f(0..n-1) on the caller and the workers and returns when all are done. Workers spin
// briefly for the next job (products come back to back in a step), then sleep on a condition variable.
class Pool {
 public:
  ~Pool() { resize(0); }

  void resize(int workers) {
    if (workers == static_cast<int>(threads_.size())) return;
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
      gen_.fetch_add(1);
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
    stop_ = false;
    for (int i = 0; i < workers; i++) threads_.emplace_back([this] { loop(); });
  }

  int size() const { return static_cast<int>(threads_.size()) + 1; }

  void run(int n, const std::function<void(int)>& f) {
    if (n <= 1 || threads_.empty()) {
      for (int i = 0; i < n; i++) f(i);
      return;
    }
    while (active_.load(std::memory_order_acquire) > 0) _mm_pause();  // stragglers of the last job
    // A late worker may still take an index: park the counter past any job, publish the job, then open it.
    next_.store(1 << 30, std::memory_order_seq_cst);
    job_.store(&f, std::memory_order_relaxed);
    n_.store(n, std::memory_order_relaxed);
    done_.store(0, std::memory_order_relaxed);
    next_.store(0, std::memory_order_release);
    {
      std::lock_guard<std::mutex> l(mu_);
      gen_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    work();
    for (int spins = 0; done_.load(std::memory_order_acquire) < n; spins++) {
      if (spins < 20000) _mm_pause();
      else sched_yield();
    }
  }

 private:
  void work() {
    for (int i; (i = next_.fetch_add(1, std::memory_order_acq_rel)) < n_.load(std::memory_order_acquire);) {
      (*job_.load(std::memory_order_acquire))(i);
      done_.fetch_add(1, std::memory_order_acq_rel);
    }
  }

  void loop() {
    uint64_t seen = gen_.load();
    for (;;) {
      for (int spins = 0; spins < 4000 && gen_.load(std::memory_order_acquire) == seen; spins++) _mm_pause();
      if (gen_.load(std::memory_order_acquire) == seen) {
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait(l, [&] { return gen_.load() != seen; });
      }
      if (stop_) return;
      seen = gen_.load(std::memory_order_acquire);
      active_.fetch_add(1, std::memory_order_acq_rel);
      if (gen_.load(std::memory_order_acquire) == seen) work();
      active_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<uint64_t> gen_{0};
  std::atomic<int> next_{1 << 30}, done_{0}, active_{0}, n_{0};
  std::atomic<const std::function<void(int)>*> job_{nullptr};
  bool stop_ = false;
};

Pool pool;
// Our GEMM goes multi-threaded from this many multiply-adds (RLHFC_NATIVE_MT_MIN overrides).
int64_t OWN_MT_MIN = int64_t(1) << 21;

// batch × (op(A) [M,K] · op(B) [K,N]) → C [batch, M, N]; A/B advance by strideA/strideB per item
// (0: shared). Splits across the pool: whole items when there are enough, else rows (or columns) of
// each product, in multiples of the micro-kernel's tile. There are a few more parts than threads,
// taken as threads come free: on a busy machine a thread that is not scheduled does not hold up
// the product (the caller takes its parts).
constexpr int PARTS_PER_THREAD = 3;
void ownGemm(bool tA, bool tB, int64_t batch, int64_t M, int64_t N, int64_t K, const float* A, int64_t strideA, const float* B, int64_t strideB, float* C) {
  const int64_t lda = tA ? M : K, ldb = tB ? K : N;
  const int64_t work = batch * M * N * K;
  const int nt = work >= OWN_MT_MIN ? std::min(maxThreads, pool.size()) : 1;
  if (nt <= 1) {
    for (int64_t i = 0; i < batch; i++) G->run(tA, tB, M, N, K, A + i * strideA, lda, B + i * strideB, ldb, C + i * M * N, N, false);
    return;
  }
  if (batch >= nt) {
    const int parts = static_cast<int>(std::min<int64_t>(batch, nt * PARTS_PER_THREAD));
    pool.run(parts, [&](int t) {
      for (int64_t i = batch * t / parts; i < batch * (t + 1) / parts; i++) G->run(tA, tB, M, N, K, A + i * strideA, lda, B + i * strideB, ldb, C + i * M * N, N, false);
    });
    return;
  }
  const bool byRows = M >= N || N < 2 * G->nr;
  const int64_t unit = byRows ? G->mr : G->nr, len = byRows ? M : N;
  const int64_t units = (len + unit - 1) / unit;
  const int parts = static_cast<int>(std::min<int64_t>(nt * PARTS_PER_THREAD, units));
  for (int64_t i = 0; i < batch; i++) {
    const float* Ai = A + i * strideA;
    const float* Bi = B + i * strideB;
    float* Ci = C + i * M * N;
    pool.run(parts, [&](int t) {
      const int64_t s = std::min(len, units * t / parts * unit), e = std::min(len, units * (t + 1) / parts * unit);
      if (e <= s) return;
      if (byRows) G->run(tA, tB, e - s, N, K, tA ? Ai + s : Ai + s * lda, lda, Bi, ldb, Ci + s * N, N, false);
      else G->run(tA, tB, M, e - s, K, Ai, lda, tB ? Bi + s * ldb : Bi + s, ldb, Ci + s, N, false);
    });
  }
}

struct Args {
  napi_value v[12];
  size_t n = 12;
  bool ok = true;
  Args(napi_env env, napi_callback_info info) { ok = napi_get_cb_info(env, info, &n, v, nullptr, nullptr) == napi_ok; }
};

// Data pointer of a TypedArray (null for null/undefined); *len = element count.
void* ta(napi_env env, napi_value v, size_t* len = nullptr) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t != napi_object) {
    if (len) *len = 0;
    return nullptr;
  }
  napi_typedarray_type type;
  size_t n = 0;
  void* data = nullptr;
  if (napi_get_typedarray_info(env, v, &type, &n, &data, nullptr, nullptr) != napi_ok) {
    if (len) *len = 0;
    return nullptr;
  }
  if (len) *len = n;
  return data;
}

int64_t i64(napi_env env, napi_value v) {
  int64_t r = 0;
  napi_get_value_int64(env, v, &r);
  return r;
}

double f64(napi_env env, napi_value v) {
  double r = 0;
  napi_get_value_double(env, v, &r);
  return r;
}

napi_value num(napi_env env, double x) {
  napi_value r;
  napi_create_double(env, x, &r);
  return r;
}

// unary(op, x, y, alpha)
napi_value Unary(napi_env env, napi_callback_info info) {
  Args a(env, info);
  size_t n;
  const float* x = static_cast<const float*>(ta(env, a.v[1], &n));
  float* y = static_cast<float*>(ta(env, a.v[2]));
  T->unary(static_cast<int>(i64(env, a.v[0])), x, y, static_cast<int64_t>(n), static_cast<float>(f64(env, a.v[3])));
  return nullptr;
}

// binary(op, a, b, y, meta Int32Array [rank, shape…, strideA…, strideB…])
napi_value Binary(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const float* x = static_cast<const float*>(ta(env, a.v[1]));
  const float* w = static_cast<const float*>(ta(env, a.v[2]));
  float* y = static_cast<float*>(ta(env, a.v[3]));
  const int32_t* m = static_cast<const int32_t*>(ta(env, a.v[4]));
  const int r = m[0];
  int64_t shape[8], sa[8], sb[8];
  for (int d = 0; d < r; d++) {
    shape[d] = m[1 + d];
    sa[d] = m[1 + r + d];
    sb[d] = m[1 + 2 * r + d];
  }
  T->binary(static_cast<int>(i64(env, a.v[0])), x, w, y, r, shape, sa, sb);
  return nullptr;
}

// reduce(op, x, y, outer, mid, inner)
napi_value Reduce(napi_env env, napi_callback_info info) {
  Args a(env, info);
  T->reduce(static_cast<int>(i64(env, a.v[0])), static_cast<const float*>(ta(env, a.v[1])), static_cast<float*>(ta(env, a.v[2])), i64(env, a.v[3]), i64(env, a.v[4]),
            i64(env, a.v[5]));
  return nullptr;
}

// softmax(x, y, rows, cols, log)
napi_value Softmax(napi_env env, napi_callback_info info) {
  Args a(env, info);
  T->softmax(static_cast<const float*>(ta(env, a.v[0])), static_cast<float*>(ta(env, a.v[1])), i64(env, a.v[2]), i64(env, a.v[3]), static_cast<int>(i64(env, a.v[4])));
  return nullptr;
}

// addn([x…], y)
napi_value AddN(napi_env env, napi_callback_info info) {
  Args a(env, info);
  uint32_t count = 0;
  napi_get_array_length(env, a.v[0], &count);
  std::vector<const float*> xs(count);
  for (uint32_t i = 0; i < count; i++) {
    napi_value e;
    napi_get_element(env, a.v[0], i, &e);
    xs[i] = static_cast<const float*>(ta(env, e));
  }
  size_t n;
  float* y = static_cast<float*>(ta(env, a.v[1], &n));
  T->addn(xs.data(), static_cast<int>(count), y, static_cast<int64_t>(n));
  return nullptr;
}

// matmul(a, b, y, meta Int32Array [batchA, batchB, M, N, K, transA, transB, act], bias|null[, pre])
// act: 0 none, 1 relu, 2 GELU (tanh form): the product + bias goes to `pre` (kept for the
// gradient) and y = gelu(pre), both written a block of rows at a time while the rows are in cache.
napi_value MatMul(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const float* A = static_cast<const float*>(ta(env, a.v[0]));
  const float* B = static_cast<const float*>(ta(env, a.v[1]));
  float* const Y = static_cast<float*>(ta(env, a.v[2]));
  const int act = static_cast<const int32_t*>(ta(env, a.v[3]))[7];
  float* C = act == 2 ? static_cast<float*>(ta(env, a.v[5])) : Y;
  const int32_t* m = static_cast<const int32_t*>(ta(env, a.v[3]));
  const float* bias = static_cast<const float*>(ta(env, a.v[4]));
  const int64_t batchA = m[0], batchB = m[1], M = m[2], N = m[3], K = m[4];
  const bool tA = m[5] != 0, tB = m[6] != 0;
  const int relu = m[7];
  const int64_t batch = batchA > batchB ? batchA : batchB;
  const int64_t strideA = batchA > 1 ? M * K : 0, strideB = batchB > 1 ? K * N : 0;
  if (K == 0) {
    std::memset(C, 0, sizeof(float) * batch * M * N);
  } else if (!blas.sgemm) {
    // [batch·M, K] · [K, N] as one product when B is shared and A's rows are contiguous
    if (batchB == 1 && !tA && batch > 1) ownGemm(false, tB, 1, batch * M, N, K, A, 0, B, 0, C);
    else ownGemm(tA, tB, batch, M, N, K, A, strideA, B, strideB, C);
  } else {
    const int ta_ = tA ? 112 : 111, tb_ = tB ? 112 : 111;
    const int lda = tA ? M : K, ldb = tB ? K : N;
    if (batchB == 1 && !tA && batch > 1) {
      useBlasThreads(batch * M * N * K);
      blas.sgemm(101, ta_, tb_, batch * M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, N);
    } else {
      useBlasThreads(M * N * K);
      for (int64_t i = 0; i < batch; i++) blas.sgemm(101, ta_, tb_, M, N, K, 1.0f, A + i * strideA, lda, B + i * strideB, ldb, 0.0f, C + i * M * N, N);
    }
  }
  if (act == 2) {
    const int64_t rows = batch * M, block = N > 0 ? std::max<int64_t>(1, 16384 / N) : rows;
    for (int64_t r = 0; r < rows; r += block) {
      const int64_t n = std::min(block, rows - r);
      if (bias) T->bias_act(C + r * N, bias, n, N, 0);
      T->gelu(C + r * N, Y + r * N, n * N);
    }
  } else if (bias || relu) {
    T->bias_act(C, bias, batch * M, N, relu);
  }
  return nullptr;
}

void forItems(int64_t items, int64_t workPerItem, const std::function<void(int64_t)>& f);

// Rows per item when M rows are split over the pool with forItems: a few more items than threads, each
// a whole number of the micro-kernel's tiles.
int64_t rowBlock(int64_t M) {
  const int64_t parts = std::max(1, std::min(maxThreads, pool.size())) * PARTS_PER_THREAD;
  const int64_t R = (M + parts - 1) / parts;
  return std::max<int64_t>((R + G->mr - 1) / G->mr * G->mr, G->mr);
}

// matMul2(a1, b1, a2, b2, y, meta Int32Array [M, N, K1, K2, tB1, tB2], bias|null):
// y [M,N] = a1 [M,K1]·op(b1) + a2 [M,K2]·op(b2) (+ bias): a projection and its LoRA path (or their
// input gradients) as one output, the second product accumulated into the first in the GEMM
// (no second [M,N] buffer, no Add). Rows split over the pool in blocks of whole tiles (rowBlock).
napi_value MatMul2(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const float* A1 = static_cast<const float*>(ta(env, a.v[0]));
  const float* B1 = static_cast<const float*>(ta(env, a.v[1]));
  const float* A2 = static_cast<const float*>(ta(env, a.v[2]));
  const float* B2 = static_cast<const float*>(ta(env, a.v[3]));
  float* Y = static_cast<float*>(ta(env, a.v[4]));
  const int32_t* m = static_cast<const int32_t*>(ta(env, a.v[5]));
  const float* bias = static_cast<const float*>(ta(env, a.v[6]));
  const int64_t M = m[0], N = m[1], K1 = m[2], K2 = m[3];
  const bool tB1 = m[4] != 0, tB2 = m[5] != 0;
  const int64_t ldb1 = tB1 ? K1 : N, ldb2 = tB2 ? K2 : N;
  if (M == 0 || N == 0) return nullptr;
  if (blas.sgemm) {
    useBlasThreads(M * N * K1);
    blas.sgemm(101, 111, tB1 ? 112 : 111, M, N, K1, 1.0f, A1, K1, B1, ldb1, 0.0f, Y, N);
    blas.sgemm(101, 111, tB2 ? 112 : 111, M, N, K2, 1.0f, A2, K2, B2, ldb2, 1.0f, Y, N);
    if (bias) T->bias_act(Y, bias, M, N, 0);
    return nullptr;
  }
  const int64_t R = rowBlock(M);
  forItems((M + R - 1) / R, R * N * (K1 + K2), [&](int64_t it) {
    const int64_t s = it * R, rn = std::min(R, M - s);
    if (K1 > 0) G->run(false, tB1, rn, N, K1, A1 + s * K1, K1, B1, ldb1, Y + s * N, N, false);
    else std::memset(Y + s * N, 0, sizeof(float) * rn * N);
    if (K2 > 0) G->run(false, tB2, rn, N, K2, A2 + s * K2, K2, B2, ldb2, Y + s * N, N, true);
    if (bias) T->bias_act(Y + s * N, bias, rn, N, 0);
  });
  return nullptr;
}

// transpose(x, y, meta [rank, shape…, perm…]) for 4-byte elements
napi_value Transpose(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const uint32_t* x = static_cast<const uint32_t*>(ta(env, a.v[0]));
  uint32_t* y = static_cast<uint32_t*>(ta(env, a.v[1]));
  const int32_t* m = static_cast<const int32_t*>(ta(env, a.v[2]));
  const int r = m[0];
  int64_t istr[8], os[8], ois[8];
  istr[r - 1] = 1;
  for (int d = r - 2; d >= 0; d--) istr[d] = istr[d + 1] * m[1 + d + 1];
  int64_t total = 1;
  for (int d = 0; d < r; d++) {
    os[d] = m[1 + m[1 + r + d]];
    ois[d] = istr[m[1 + r + d]];
    total *= os[d];
  }
  if (total == 0) return nullptr;
  if (r == 2) {
    const int64_t R = os[0], Cc = os[1], s0 = ois[0], s1 = ois[1];
    constexpr int64_t BS = 32;
    for (int64_t i0 = 0; i0 < R; i0 += BS)
      for (int64_t j0 = 0; j0 < Cc; j0 += BS) {
        const int64_t i1 = i0 + BS < R ? i0 + BS : R, j1 = j0 + BS < Cc ? j0 + BS : Cc;
        for (int64_t i = i0; i < i1; i++)
          for (int64_t j = j0; j < j1; j++) y[i * Cc + j] = x[i * s0 + j * s1];
      }
    return nullptr;
  }
  const int64_t n = os[r - 1], s = ois[r - 1];
  int64_t outer = total / n;
  int64_t idx[8] = {0};
  int64_t off = 0;
  for (int64_t o = 0; o < outer; o++) {
    uint32_t* yo = y + o * n;
    if (s == 1) {
      std::memcpy(yo, x + off, n * 4);
    } else {
      for (int64_t i = 0; i < n; i++) yo[i] = x[off + i * s];
    }
    for (int d = r - 2; d >= 0; d--) {
      idx[d]++;
      off += ois[d];
      if (idx[d] < os[d]) break;
      off -= ois[d] * os[d];
      idx[d] = 0;
    }
  }
  return nullptr;
}

// transpose2d(x, y, batch, rows, cols): float32 matrices [batch, rows, cols] → [batch, cols, rows],
// in 8×8 blocks read row by row and written column by column (both stay in L1).
napi_value Transpose2d(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const float* x = static_cast<const float*>(ta(env, a.v[0]));
  float* y = static_cast<float*>(ta(env, a.v[1]));
  const int64_t batch = i64(env, a.v[2]), R = i64(env, a.v[3]), C = i64(env, a.v[4]);
  constexpr int64_t BS = 8;
  for (int64_t b = 0; b < batch; b++) {
    const float* xb = x + b * R * C;
    float* yb = y + b * R * C;
    for (int64_t i0 = 0; i0 < R; i0 += BS) {
      const int64_t i1 = std::min(R, i0 + BS);
      int64_t j0 = 0;
      if (i1 - i0 == BS) {
        for (; j0 + BS <= C; j0 += BS) {
          float t[BS][BS];
          for (int64_t i = 0; i < BS; i++)
            for (int64_t j = 0; j < BS; j++) t[j][i] = xb[(i0 + i) * C + j0 + j];
          for (int64_t j = 0; j < BS; j++)
            for (int64_t i = 0; i < BS; i++) yb[(j0 + j) * R + i0 + i] = t[j][i];
        }
      }
      for (int64_t i = i0; i < i1; i++)
        for (int64_t j = j0; j < C; j++) yb[j * R + i] = xb[i * C + j];
    }
  }
  return nullptr;
}

// gather(x, idx Int32Array, y, outer, axisDim, inner) → number of the first bad index position, or -1
napi_value Gather(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const uint32_t* x = static_cast<const uint32_t*>(ta(env, a.v[0]));
  size_t nIdx;
  const int32_t* idx = static_cast<const int32_t*>(ta(env, a.v[1], &nIdx));
  uint32_t* y = static_cast<uint32_t*>(ta(env, a.v[2]));
  const int64_t outer = i64(env, a.v[3]), axisDim = i64(env, a.v[4]), inner = i64(env, a.v[5]);
  for (size_t i = 0; i < nIdx; i++)
    if (idx[i] < 0 || idx[i] >= axisDim) return num(env, static_cast<double>(i));
  for (int64_t o = 0; o < outer; o++)
    for (size_t i = 0; i < nIdx; i++) std::memcpy(y + (o * nIdx + i) * inner, x + (o * axisDim + idx[i]) * inner, inner * 4);
  return num(env, -1);
}

// blocks(src, dst, outer, chunk, srcStride, srcOffset, dstStride, dstOffset): 4-byte elements;
// dst[o·dstStride + dstOffset + i] = src[o·srcStride + srcOffset + i] for i < chunk (concat, split).
napi_value Blocks(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const uint32_t* s = static_cast<const uint32_t*>(ta(env, a.v[0]));
  uint32_t* d = static_cast<uint32_t*>(ta(env, a.v[1]));
  const int64_t outer = i64(env, a.v[2]), chunk = i64(env, a.v[3]), ss = i64(env, a.v[4]), so = i64(env, a.v[5]), ds = i64(env, a.v[6]), dof = i64(env, a.v[7]);
  for (int64_t o = 0; o < outer; o++) std::memcpy(d + o * ds + dof, s + o * ss + so, chunk * 4);
  return nullptr;
}

// slice(x, y, meta [rank, shape…, begin…, size…]) for 4-byte elements
napi_value Slice(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const uint32_t* x = static_cast<const uint32_t*>(ta(env, a.v[0]));
  uint32_t* y = static_cast<uint32_t*>(ta(env, a.v[1]));
  const int32_t* m = static_cast<const int32_t*>(ta(env, a.v[2]));
  const int r = m[0];
  int64_t istr[8];
  istr[r - 1] = 1;
  for (int d = r - 2; d >= 0; d--) istr[d] = istr[d + 1] * m[1 + d + 1];
  int64_t total = 1, base = 0;
  for (int d = 0; d < r; d++) {
    total *= m[1 + 2 * r + d];
    base += m[1 + r + d] * istr[d];
  }
  if (total == 0) return nullptr;
  const int64_t n = m[1 + 3 * r - 1];
  int64_t idx[8] = {0};
  int64_t off = base;
  for (int64_t o = 0; o < total / n; o++) {
    std::memcpy(y + o * n, x + off, n * 4);
    for (int d = r - 2; d >= 0; d--) {
      idx[d]++;
      off += istr[d];
      if (idx[d] < m[1 + 2 * r + d]) break;
      off -= istr[d] * m[1 + 2 * r + d];
      idx[d] = 0;
    }
  }
  return nullptr;
}

// tile(x, y, meta [rank, shape…, reps…]) for 4-byte elements
void tileRec(const uint32_t* x, uint32_t*& y, int d, int r, const int32_t* shape, const int32_t* reps, const int64_t* istr) {
  if (d == r - 1) {
    for (int k = 0; k < reps[d]; k++) {
      std::memcpy(y, x, shape[d] * 4);
      y += shape[d];
    }
    return;
  }
  uint32_t* start = y;
  for (int i = 0; i < shape[d]; i++) tileRec(x + i * istr[d], y, d + 1, r, shape, reps, istr);
  const int64_t block = y - start;
  for (int k = 1; k < reps[d]; k++) {
    std::memcpy(y, start, block * 4);
    y += block;
  }
}

napi_value Tile(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const uint32_t* x = static_cast<const uint32_t*>(ta(env, a.v[0]));
  uint32_t* y = static_cast<uint32_t*>(ta(env, a.v[1]));
  const int32_t* m = static_cast<const int32_t*>(ta(env, a.v[2]));
  const int r = m[0];
  int64_t istr[8];
  istr[r - 1] = 1;
  for (int d = r - 2; d >= 0; d--) istr[d] = istr[d + 1] * m[1 + d + 1];
  for (int d = 0; d < r; d++)
    if (m[1 + d] == 0 || m[1 + r + d] == 0) return nullptr;
  tileRec(x, y, 0, r, m + 1, m + 1 + r, istr);
  return nullptr;
}

// oneHot(idx Int32Array, y (4-byte), depth, on, off, isInt)
napi_value OneHot(napi_env env, napi_callback_info info) {
  Args a(env, info);
  size_t n;
  const int32_t* idx = static_cast<const int32_t*>(ta(env, a.v[0], &n));
  void* y = ta(env, a.v[1]);
  const int64_t depth = i64(env, a.v[2]);
  const double on = f64(env, a.v[3]), off = f64(env, a.v[4]);
  if (i64(env, a.v[5])) {
    int32_t* yi = static_cast<int32_t*>(y);
    for (int64_t i = 0; i < static_cast<int64_t>(n) * depth; i++) yi[i] = static_cast<int32_t>(off);
    for (size_t i = 0; i < n; i++)
      if (idx[i] >= 0 && idx[i] < depth) yi[i * depth + idx[i]] = static_cast<int32_t>(on);
  } else {
    float* yf = static_cast<float*>(y);
    for (int64_t i = 0; i < static_cast<int64_t>(n) * depth; i++) yf[i] = static_cast<float>(off);
    for (size_t i = 0; i < n; i++)
      if (idx[i] >= 0 && idx[i] < depth) yf[i * depth + idx[i]] = static_cast<float>(on);
  }
  return nullptr;
}

// segmentSum(x, ids Int32Array, y, numSegments, inner): y[ids[i], :] += x[i, :]
napi_value SegmentSum(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const float* x = static_cast<const float*>(ta(env, a.v[0]));
  size_t n;
  const int32_t* ids = static_cast<const int32_t*>(ta(env, a.v[1], &n));
  float* y = static_cast<float*>(ta(env, a.v[2]));
  const int64_t segs = i64(env, a.v[3]), inner = i64(env, a.v[4]);
  std::memset(y, 0, sizeof(float) * segs * inner);
  const float* one = nullptr;
  (void)one;
  for (size_t i = 0; i < n; i++) {
    if (ids[i] < 0 || ids[i] >= segs) continue;
    float* yr = y + ids[i] * inner;
    const float* xr = x + i * inner;
    for (int64_t j = 0; j < inner; j++) yr[j] += xr[j];
  }
  return nullptr;
}

// adam(p, m, v, g, beta1, beta2, stepSize, sqrt(bc2), eps, decay)
napi_value Adam(napi_env env, napi_callback_info info) {
  Args a(env, info);
  size_t n;
  float* p = static_cast<float*>(ta(env, a.v[0], &n));
  T->adam(p, static_cast<float*>(ta(env, a.v[1])), static_cast<float*>(ta(env, a.v[2])), static_cast<const float*>(ta(env, a.v[3])), static_cast<int64_t>(n),
          static_cast<float>(f64(env, a.v[4])), static_cast<float>(f64(env, a.v[5])), static_cast<float>(f64(env, a.v[6])), static_cast<float>(f64(env, a.v[7])),
          static_cast<float>(f64(env, a.v[8])), static_cast<float>(f64(env, a.v[9])));
  return nullptr;
}

// cast(x, y, kind): 0 float32→int32 (truncate), 1 int32→float32, 2 uint8(bool)→float32, 3 uint8→int32
napi_value Cast(napi_env env, napi_callback_info info) {
  Args a(env, info);
  size_t n;
  const void* x = ta(env, a.v[0], &n);
  void* y = ta(env, a.v[1]);
  switch (i64(env, a.v[2])) {
    case 0:
      // JavaScript's ToInt32 (what the cpu backend's Int32Array.from does): truncate, NaN/±inf → 0, wrap mod 2^32
      for (size_t i = 0; i < n; i++) {
        const float v = static_cast<const float*>(x)[i];
        int32_t r;
        if (v > -2147483648.0f && v < 2147483648.0f) {
          r = static_cast<int32_t>(v);
        } else if (!std::isfinite(v)) {
          r = 0;
        } else {
          double d = std::fmod(std::trunc(static_cast<double>(v)), 4294967296.0);
          if (d < 0) d += 4294967296.0;
          r = static_cast<int32_t>(static_cast<uint32_t>(d));
        }
        static_cast<int32_t*>(y)[i] = r;
      }
      break;
    case 1:
      for (size_t i = 0; i < n; i++) static_cast<float*>(y)[i] = static_cast<float>(static_cast<const int32_t*>(x)[i]);
      break;
    case 2:
      for (size_t i = 0; i < n; i++) static_cast<float*>(y)[i] = static_cast<const uint8_t*>(x)[i];
      break;
    case 3:
      for (size_t i = 0; i < n; i++) static_cast<int32_t*>(y)[i] = static_cast<const uint8_t*>(x)[i];
      break;
  }
  return nullptr;
}

// layerNorm(x, g, b, y, mean, rstd, rows, cols, eps)
napi_value LayerNorm(napi_env env, napi_callback_info info) {
  Args a(env, info);
  T->layernorm(static_cast<const float*>(ta(env, a.v[0])), static_cast<const float*>(ta(env, a.v[1])), static_cast<const float*>(ta(env, a.v[2])),
               static_cast<float*>(ta(env, a.v[3])), static_cast<float*>(ta(env, a.v[4])), static_cast<float*>(ta(env, a.v[5])), i64(env, a.v[6]), i64(env, a.v[7]),
               static_cast<float>(f64(env, a.v[8])));
  return nullptr;
}

// layerNormGrad(dy, x, g, mean, rstd, dx, dg, db, rows, cols)
napi_value LayerNormGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  T->layernorm_grad(static_cast<const float*>(ta(env, a.v[0])), static_cast<const float*>(ta(env, a.v[1])), static_cast<const float*>(ta(env, a.v[2])),
                    static_cast<const float*>(ta(env, a.v[3])), static_cast<const float*>(ta(env, a.v[4])), static_cast<float*>(ta(env, a.v[5])),
                    static_cast<float*>(ta(env, a.v[6])), static_cast<float*>(ta(env, a.v[7])), i64(env, a.v[8]), i64(env, a.v[9]));
  return nullptr;
}

// gelu(x, y) / geluGrad(x, dy, dx)
napi_value Gelu(napi_env env, napi_callback_info info) {
  Args a(env, info);
  size_t n;
  const float* x = static_cast<const float*>(ta(env, a.v[0], &n));
  T->gelu(x, static_cast<float*>(ta(env, a.v[1])), static_cast<int64_t>(n));
  return nullptr;
}

napi_value GeluGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  size_t n;
  const float* x = static_cast<const float*>(ta(env, a.v[0], &n));
  T->gelu_grad(x, static_cast<const float*>(ta(env, a.v[1])), static_cast<float*>(ta(env, a.v[2])), static_cast<int64_t>(n));
  return nullptr;
}

// softmaxGrad(y, dy, dx, cols) / sigmoidGrad(y, dy, dx)
napi_value SoftmaxGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  size_t n;
  const float* y = static_cast<const float*>(ta(env, a.v[0], &n));
  const int64_t cols = i64(env, a.v[3]);
  T->softmax_grad(y, static_cast<const float*>(ta(env, a.v[1])), static_cast<float*>(ta(env, a.v[2])), cols ? static_cast<int64_t>(n) / cols : 0, cols);
  return nullptr;
}

napi_value SigmoidGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  size_t n;
  const float* y = static_cast<const float*>(ta(env, a.v[0], &n));
  T->sigmoid_grad(y, static_cast<const float*>(ta(env, a.v[1])), static_cast<float*>(ta(env, a.v[2])), static_cast<int64_t>(n));
  return nullptr;
}

// logSoftmaxPick(x [rows, cols], t Int32Array [rows], y [rows], lse [rows]): y = x[t] − logsumexp(x)
napi_value LogSoftmaxPick(napi_env env, napi_callback_info info) {
  Args a(env, info);
  size_t rows;
  const float* x = static_cast<const float*>(ta(env, a.v[0]));
  const int32_t* t = static_cast<const int32_t*>(ta(env, a.v[1], &rows));
  float* y = static_cast<float*>(ta(env, a.v[2]));
  float* lse = static_cast<float*>(ta(env, a.v[3]));
  const int64_t cols = i64(env, a.v[4]);
  // log-softmax of each row into a scratch row via the vectorised kernel, then pick
  std::vector<float> row(cols);
  for (size_t r = 0; r < rows; r++) {
    const float* xr = x + r * cols;
    T->softmax(xr, row.data(), 1, cols, 1);
    lse[r] = xr[0] - row[0];
    y[r] = (t[r] >= 0 && t[r] < cols) ? row[t[r]] : 0.0f;
  }
  return nullptr;
}

// logSoftmaxPickGrad(x, t, lse, dy [rows], dx): dx = dy·(onehot(t) − softmax(x))
napi_value LogSoftmaxPickGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  size_t rows;
  const float* x = static_cast<const float*>(ta(env, a.v[0]));
  const int32_t* t = static_cast<const int32_t*>(ta(env, a.v[1], &rows));
  const float* lse = static_cast<const float*>(ta(env, a.v[2]));
  const float* dy = static_cast<const float*>(ta(env, a.v[3]));
  float* dx = static_cast<float*>(ta(env, a.v[4]));
  const int64_t cols = i64(env, a.v[5]);
  std::vector<float> sh(cols);
  for (size_t r = 0; r < rows; r++) {
    const float* xr = x + r * cols;
    float* dr = dx + r * cols;
    // dr = exp(x − lse) through the vectorised unary kernel, then scale
    for (int64_t c = 0; c < cols; c++) sh[c] = xr[c] - lse[r];
    T->unary(U_EXP, sh.data(), dr, cols, 0);
    const float d = dy[r];
    for (int64_t c = 0; c < cols; c++) dr[c] *= -d;
    if (t[r] >= 0 && t[r] < cols) dr[t[r]] += d;
  }
  return nullptr;
}

// ---- Fused causal attention (runtime/native/fused.ts) --------------------------------------------
// Per (batch, head) item: S = scale·Q·Kᵀ + bias, P = softmax(S) by rows, Y = P·V; bias [Bb, T, L]
// (additive: 0 allowed, −1e9 masked; Bb = 1 or B, shared by the heads) carries the causal, padding
// and segment masks. P is an output (saved for the gradient). Items run in parallel on the pool.
// Backward: dP = dY·Vᵀ, dS = P ⊙ (dP − rowsum(dP ⊙ P))·scale, dQ = dS·K, dK = dSᵀ·Q, dV = Pᵀ·dY.
thread_local std::vector<float> attScratch;

void forItems(int64_t items, int64_t workPerItem, const std::function<void(int64_t)>& f) {
  const int nt = items * workPerItem >= OWN_MT_MIN ? std::min(maxThreads, pool.size()) : 1;
  if (nt <= 1 || items == 1) {
    for (int64_t i = 0; i < items; i++) f(i);
    return;
  }
  const int parts = static_cast<int>(std::min<int64_t>(items, nt * PARTS_PER_THREAD));
  pool.run(parts, [&](int t) {
    for (int64_t i = items * t / parts; i < items * (t + 1) / parts; i++) f(i);
  });
}

// ---- LM head and log-softmax at the targets in one pass (runtime/native/fused.ts headLogProb) -------
// headLogProb(x [N,H], w [V,H], t [N] int32, y [N], g [N,H] | null, N, V, H, temperature):
// y_n = log softmax(x_n·wᵀ / temperature)[t_n] without the [N,V] logits: rows are split into chunks
// (one per pool part), and each chunk walks the vocabulary in blocks of HEAD_VC columns: the block's
// logits (one GEMM into a chunk-sized scratch), their max, exp and sum folded into a running
// log-sum-exp (m, l) as in flash attention. With g (a gradient will be taken), the same pass
// accumulates acc_n = Σ_v exp(z_nv − m_n)·w_v (a second GEMM on the block, acc rescaled when m
// grows), and writes g_n = ∂y_n/∂x_n = (w[t_n] − acc_n/l_n) / temperature: the backward pass is then
// dx = dy[:,None]·g. No gradient for w (callers use it only when w is frozen). Targets outside
// [0,V) give y = 0 and g = 0 (as the composite pick with a one-hot does).
constexpr int64_t HEAD_VC = 2048;
napi_value HeadLogProb(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const float* x = static_cast<const float*>(ta(env, a.v[0]));
  const float* w = static_cast<const float*>(ta(env, a.v[1]));
  const int32_t* t = static_cast<const int32_t*>(ta(env, a.v[2]));
  float* y = static_cast<float*>(ta(env, a.v[3]));
  float* g = static_cast<float*>(ta(env, a.v[4]));
  const int64_t N = i64(env, a.v[5]), V = i64(env, a.v[6]), H = i64(env, a.v[7]);
  const float temp = static_cast<float>(f64(env, a.v[8]));
  if (N == 0) return nullptr;
  const int64_t R = std::min<int64_t>(rowBlock(N), 512);
  forItems((N + R - 1) / R, R * V * H * (g ? 2 : 1), [&](int64_t it) {
    const int64_t r0 = it * R, rn = std::min(R, N - r0);
    const int64_t VC = std::min(HEAD_VC, V);
    // the block's logits: written whole by the GEMM before they are read, so never cleared
    thread_local std::vector<float> s;
    if (static_cast<int64_t>(s.size()) < rn * VC) s.resize(rn * VC);
    std::vector<float> m(rn, -INFINITY), l(rn, 0.0f), tl(rn, 0.0f), acc(g ? rn * H : 0, 0.0f);
    for (int64_t v0 = 0; v0 < V; v0 += VC) {
      const int64_t vc = std::min(VC, V - v0);
      G->run(false, true, rn, vc, H, x + r0 * H, H, w + v0 * H, H, s.data(), vc, false);
      for (int64_t i = 0; i < rn; i++) {
        float* z = s.data() + i * vc;
        if (temp != 1.0f)
          for (int64_t c = 0; c < vc; c++) z[c] /= temp;
        float bm = z[0];
        for (int64_t c = 1; c < vc; c++) bm = z[c] > bm ? z[c] : bm;
        const int32_t tt = t[r0 + i];
        if (tt >= v0 && tt < v0 + vc) tl[i] = z[tt - v0];
        const float mn = std::max(m[i], bm);
        const float scale = std::exp(m[i] - mn);  // 0 on the first block (m = −inf)
        for (int64_t c = 0; c < vc; c++) z[c] -= mn;
        T->unary(U_EXP, z, z, vc, 0);
        float sum = 0;
        for (int64_t c = 0; c < vc; c++) sum += z[c];
        l[i] = l[i] * scale + sum;
        m[i] = mn;
        if (g && scale != 1.0f) {
          float* ar = acc.data() + i * H;
          for (int64_t h = 0; h < H; h++) ar[h] *= scale;
        }
      }
      if (g) G->run(false, false, rn, H, vc, s.data(), vc, w + v0 * H, H, acc.data(), H, true);
    }
    for (int64_t i = 0; i < rn; i++) {
      const int32_t tt = t[r0 + i];
      const bool valid = tt >= 0 && tt < V;
      y[r0 + i] = valid ? tl[i] - (m[i] + std::log(l[i])) : 0.0f;
      if (!g) continue;
      float* gr = g + (r0 + i) * H;
      if (!valid) {
        std::memset(gr, 0, sizeof(float) * H);
        continue;
      }
      const float* wt = w + static_cast<int64_t>(tt) * H;
      const float* ar = acc.data() + i * H;
      const float il = 1.0f / l[i];
      for (int64_t h = 0; h < H; h++) gr[h] = (wt[h] - ar[h] * il) / temp;
    }
  });
  return nullptr;
}


// attention(q [B,H,T,D], k [B,K,S,D], v [B,K,S,D], bias [Bb,T,L], y [B,H,T,D], p [B,H,T,L], meta [B, H, T, L, D, Bb, S?, K?], scale)
// Keys and values are the first L of S rows per head (S = L when meta has 6 entries): a preallocated
// KV cache of S positions with L filled. K key/value heads (K = H when absent; H a multiple of K):
// query head h reads kv head h / (H/K) in place (grouped-query attention, no repeated copy).
napi_value Attention(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const float* q = static_cast<const float*>(ta(env, a.v[0]));
  const float* k = static_cast<const float*>(ta(env, a.v[1]));
  const float* v = static_cast<const float*>(ta(env, a.v[2]));
  const float* bias = static_cast<const float*>(ta(env, a.v[3]));
  float* y = static_cast<float*>(ta(env, a.v[4]));
  float* p = static_cast<float*>(ta(env, a.v[5]));
  size_t metaLen = 0;
  const int32_t* m = static_cast<const int32_t*>(ta(env, a.v[6], &metaLen));
  const float scale = static_cast<float>(f64(env, a.v[7]));
  const int64_t B = m[0], H = m[1], Tn = m[2], L = m[3], D = m[4], Bb = m[5];
  const int64_t S = metaLen > 6 ? m[6] : L;
  const int64_t K = metaLen > 7 ? m[7] : H, group = H / K;
  forItems(B * H, 2 * Tn * L * D, [&](int64_t it) {
    const int64_t b = it / H;
    const int64_t kv = b * K + (it % H) / group;  // grouped-query: query head h reads kv head h / (H/K)
    float* P = p + it * Tn * L;
    G->run(false, true, Tn, L, D, q + it * Tn * D, D, k + kv * S * D, D, P, L, false);
    const float* bb = bias + (Bb > 1 ? b * Tn * L : 0);
    for (int64_t i = 0; i < Tn * L; i++) P[i] = P[i] * scale + bb[i];
    T->softmax(P, P, Tn, L, 0);
    G->run(false, false, Tn, D, L, P, L, v + kv * S * D, D, y + it * Tn * D, D, false);
  });
  return nullptr;
}

// attentionGrad(dy [B,H,Tn,D], q, k, v [B,K,L,D], p [B,H,Tn,L], dq, dk, dv, meta [B, H, Tn, L, D, K?], scale)
napi_value AttentionGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const float* dy = static_cast<const float*>(ta(env, a.v[0]));
  const float* q = static_cast<const float*>(ta(env, a.v[1]));
  const float* k = static_cast<const float*>(ta(env, a.v[2]));
  const float* v = static_cast<const float*>(ta(env, a.v[3]));
  const float* p = static_cast<const float*>(ta(env, a.v[4]));
  float* dq = static_cast<float*>(ta(env, a.v[5]));
  float* dk = static_cast<float*>(ta(env, a.v[6]));
  float* dv = static_cast<float*>(ta(env, a.v[7]));
  size_t metaLen = 0;
  const int32_t* m = static_cast<const int32_t*>(ta(env, a.v[8], &metaLen));
  const float scale = static_cast<float>(f64(env, a.v[9]));
  const int64_t B = m[0], H = m[1], Tn = m[2], L = m[3], D = m[4];
  const int64_t K = metaLen > 5 ? m[5] : H, group = H / K;
  // one item per (batch, kv head): its H/K query heads in turn, summing their dK and dV in place
  forItems(B * K, 4 * group * Tn * L * D, [&](int64_t kv) {
    if (attScratch.size() < static_cast<size_t>(2 * Tn * L)) attScratch.resize(2 * Tn * L);
    float* dP = attScratch.data();
    float* dS = dP + Tn * L;
    const int64_t b = kv / K, kh = kv % K;
    for (int64_t j = 0; j < group; j++) {
      const int64_t it = b * H + kh * group + j;
      const float* P = p + it * Tn * L;
      const float* dyi = dy + it * Tn * D;
      G->run(false, true, Tn, L, D, dyi, D, v + kv * L * D, D, dP, L, false);
      T->softmax_grad(P, dP, dS, Tn, L);
      for (int64_t i = 0; i < Tn * L; i++) dS[i] *= scale;
      G->run(false, false, Tn, D, L, dS, L, k + kv * L * D, D, dq + it * Tn * D, D, false);
      G->run(true, false, L, D, Tn, dS, L, q + it * Tn * D, D, dk + kv * L * D, D, j > 0);
      G->run(true, false, L, D, Tn, P, L, dyi, D, dv + kv * L * D, D, j > 0);
    }
  });
  return nullptr;
}

// attentionPacked(qkv [B,T,3C], bias [Bb,T,T], y [B,T,C], p [B,H,T,T], meta [B, H, T, D, Bb], scale):
// the same attention as Attention, reading q, k and v of each head in place from the packed c_attn
// output (row stride 3C) and writing y in place in [B,T,C] (row stride C): no head split or merge.
napi_value AttentionPacked(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const float* qkv = static_cast<const float*>(ta(env, a.v[0]));
  const float* bias = static_cast<const float*>(ta(env, a.v[1]));
  float* y = static_cast<float*>(ta(env, a.v[2]));
  float* p = static_cast<float*>(ta(env, a.v[3]));
  const int32_t* m = static_cast<const int32_t*>(ta(env, a.v[4]));
  const float scale = static_cast<float>(f64(env, a.v[5]));
  const int64_t B = m[0], H = m[1], Tn = m[2], D = m[3], Bb = m[4], C = H * D, ld = 3 * C;
  forItems(B * H, 2 * Tn * Tn * D, [&](int64_t it) {
    const int64_t b = it / H, h = it % H;
    const float* q = qkv + b * Tn * ld + h * D;
    float* P = p + it * Tn * Tn;
    G->run(false, true, Tn, Tn, D, q, ld, q + C, ld, P, Tn, false);
    const float* bb = bias + (Bb > 1 ? b * Tn * Tn : 0);
    for (int64_t i = 0; i < Tn * Tn; i++) P[i] = P[i] * scale + bb[i];
    T->softmax(P, P, Tn, Tn, 0);
    G->run(false, false, Tn, D, Tn, P, Tn, q + 2 * C, ld, y + b * Tn * C + h * D, C, false);
  });
  return nullptr;
}

// attentionPackedGrad(dy [B,T,C], qkv [B,T,3C], p [B,H,T,T], dqkv [B,T,3C], meta [B, H, T, D], scale)
napi_value AttentionPackedGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const float* dy = static_cast<const float*>(ta(env, a.v[0]));
  const float* qkv = static_cast<const float*>(ta(env, a.v[1]));
  const float* p = static_cast<const float*>(ta(env, a.v[2]));
  float* dqkv = static_cast<float*>(ta(env, a.v[3]));
  const int32_t* m = static_cast<const int32_t*>(ta(env, a.v[4]));
  const float scale = static_cast<float>(f64(env, a.v[5]));
  const int64_t B = m[0], H = m[1], Tn = m[2], D = m[3], C = H * D, ld = 3 * C;
  forItems(B * H, 4 * Tn * Tn * D, [&](int64_t it) {
    if (attScratch.size() < static_cast<size_t>(2 * Tn * Tn)) attScratch.resize(2 * Tn * Tn);
    float* dP = attScratch.data();
    float* dS = dP + Tn * Tn;
    const int64_t b = it / H, h = it % H;
    const float* q = qkv + b * Tn * ld + h * D;
    float* dq = dqkv + b * Tn * ld + h * D;
    const float* P = p + it * Tn * Tn;
    const float* dyi = dy + b * Tn * C + h * D;
    G->run(false, true, Tn, Tn, D, dyi, C, q + 2 * C, ld, dP, Tn, false);
    T->softmax_grad(P, dP, dS, Tn, Tn);
    for (int64_t i = 0; i < Tn * Tn; i++) dS[i] *= scale;
    G->run(false, false, Tn, D, Tn, dS, Tn, q + C, ld, dq, ld, false);
    G->run(true, false, Tn, D, Tn, dS, Tn, q, ld, dq + C, ld, false);
    G->run(true, false, Tn, D, Tn, P, Tn, dyi, C, dq + 2 * C, ld, false);
  });
  return nullptr;
}

// ---- Llama-family fused ops (runtime/native/fused.ts) ----------------------------------------------
// RMSNorm over rows (transformers' LlamaRMSNorm in float32): r = 1/√(mean(x²) + ε), y = w·(x·r); r is
// saved for the gradient: x̂ = x·r, g = dy·w, dx = r·(g − x̂·mean(g·x̂)), dw = Σ_rows dy·x̂.
// rmsNorm(x, w, y, rstd, rows, cols, eps)
napi_value RmsNorm(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const float* x = static_cast<const float*>(ta(env, a.v[0]));
  const float* w = static_cast<const float*>(ta(env, a.v[1]));
  float* y = static_cast<float*>(ta(env, a.v[2]));
  float* rstd = static_cast<float*>(ta(env, a.v[3]));
  const int64_t rows = i64(env, a.v[4]), cols = i64(env, a.v[5]);
  const float eps = static_cast<float>(f64(env, a.v[6]));
  const int64_t block = std::max<int64_t>(1, 16384 / std::max<int64_t>(cols, 1));
  forItems((rows + block - 1) / block, block * cols * 4, [&](int64_t it) {
    for (int64_t r = it * block; r < std::min(rows, (it + 1) * block); r++) {
      const float* xr = x + r * cols;
      float* yr = y + r * cols;
      float ss = 0;
      for (int64_t c = 0; c < cols; c++) ss += xr[c] * xr[c];
      const float rs = 1.0f / std::sqrt(ss / static_cast<float>(cols) + eps);
      rstd[r] = rs;
      for (int64_t c = 0; c < cols; c++) yr[c] = w[c] * (xr[c] * rs);
    }
  });
  return nullptr;
}

// rmsNormGrad(dy, x, w, rstd, dx, dw, rows, cols)
napi_value RmsNormGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const float* dy = static_cast<const float*>(ta(env, a.v[0]));
  const float* x = static_cast<const float*>(ta(env, a.v[1]));
  const float* w = static_cast<const float*>(ta(env, a.v[2]));
  const float* rstd = static_cast<const float*>(ta(env, a.v[3]));
  float* dx = static_cast<float*>(ta(env, a.v[4]));
  float* dw = static_cast<float*>(ta(env, a.v[5]));
  const int64_t rows = i64(env, a.v[6]), cols = i64(env, a.v[7]);
  const int64_t block = std::max<int64_t>(1, 16384 / std::max<int64_t>(cols, 1));
  forItems((rows + block - 1) / block, block * cols * 6, [&](int64_t it) {
    for (int64_t r = it * block; r < std::min(rows, (it + 1) * block); r++) {
      const float* xr = x + r * cols;
      const float* dr = dy + r * cols;
      float* o = dx + r * cols;
      const float rs = rstd[r];
      float dot = 0;
      for (int64_t c = 0; c < cols; c++) dot += dr[c] * w[c] * xr[c];
      const float k = dot * rs * rs / static_cast<float>(cols);
      for (int64_t c = 0; c < cols; c++) o[c] = rs * (dr[c] * w[c] - xr[c] * k);
    }
  });
  // dw: column sums over rows, split into column blocks (each thread owns its columns)
  const int64_t cb = 64;
  forItems((cols + cb - 1) / cb, rows * cb * 2, [&](int64_t it) {
    const int64_t c0 = it * cb, c1 = std::min(cols, c0 + cb);
    for (int64_t c = c0; c < c1; c++) dw[c] = 0;
    for (int64_t r = 0; r < rows; r++) {
      const float rs = rstd[r];
      const float* xr = x + r * cols;
      const float* dr = dy + r * cols;
      for (int64_t c = c0; c < c1; c++) dw[c] += dr[c] * (xr[c] * rs);
    }
  });
  return nullptr;
}

// Rotary embedding (transformers' rotate_half convention): with x = [x1, x2] (halves of D) and
// cos, sin [Bc,T,D] (Bc = 1 or B; any attention scaling already in them), y = x·cos + [−x2, x1]·sin,
// i.e. y1 = x1·c1 − x2·s1, y2 = x2·c2 + x1·s2. The gradient is the transposed (inverse) rotation:
// dx1 = dy1·c1 + dy2·s2, dx2 = dy2·c2 − dy1·s1. Layouts: 0 = [B,n,T,D], 1 = [B,T,n,D] (a projection's
// output with its heads split by a reshape): the forward reads `inLayout` and writes [B,n,T,D]; the
// gradient (inverse = 1) reads [B,n,T,D] and writes `inLayout`, so the head transpose is free.
// rope(x, cos, sin, y, meta [B, n, T, D, Bc, inLayout, inverse])
napi_value Rope(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const float* x = static_cast<const float*>(ta(env, a.v[0]));
  const float* cs = static_cast<const float*>(ta(env, a.v[1]));
  const float* sn = static_cast<const float*>(ta(env, a.v[2]));
  float* y = static_cast<float*>(ta(env, a.v[3]));
  const int32_t* m = static_cast<const int32_t*>(ta(env, a.v[4]));
  const int64_t B = m[0], n = m[1], Tn = m[2], D = m[3], Bc = m[4], half = D / 2;
  const bool bthd = m[5] != 0, inverse = m[6] != 0;
  // offset of row (b, h, t) in the [B,n,T,D] layout and in the [B,T,n,D] one
  auto bhtd = [&](int64_t b, int64_t h, int64_t t) { return ((b * n + h) * Tn + t) * D; };
  auto bt_hd = [&](int64_t b, int64_t h, int64_t t) { return ((b * Tn + t) * n + h) * D; };
  forItems(B * n, Tn * D * 4, [&](int64_t it) {
    const int64_t b = it / n, h = it % n;
    for (int64_t t = 0; t < Tn; t++) {
      const int64_t headRow = bhtd(b, h, t), inRow = bthd ? bt_hd(b, h, t) : headRow;
      const float* src = x + (inverse ? headRow : inRow);
      float* dst = y + (inverse ? inRow : headRow);
      const float* c = cs + ((Bc > 1 ? b : 0) * Tn + t) * D;
      const float* s = sn + ((Bc > 1 ? b : 0) * Tn + t) * D;
      if (!inverse) {
        for (int64_t i = 0; i < half; i++) {
          const float x1 = src[i], x2 = src[i + half];
          dst[i] = x1 * c[i] - x2 * s[i];
          dst[i + half] = x2 * c[i + half] + x1 * s[i + half];
        }
      } else {
        for (int64_t i = 0; i < half; i++) {
          const float d1 = src[i], d2 = src[i + half];
          dst[i] = d1 * c[i] + d2 * s[i + half];
          dst[i + half] = d2 * c[i + half] - d1 * s[i];
        }
      }
    }
  });
  return nullptr;
}

// SwiGLU: y = silu(g)·u = g·σ(g)·u; gradient dg = dy·u·σ(g)·(1 + g·(1 − σ(g))), du = dy·g·σ(g).
// σ through the table's vectorised sigmoid, a block of 4096 at a time.
// swiglu(g, u, y) / swigluGrad(g, u, dy, dg, du)
napi_value Swiglu(napi_env env, napi_callback_info info) {
  Args a(env, info);
  size_t n;
  const float* g = static_cast<const float*>(ta(env, a.v[0], &n));
  const float* u = static_cast<const float*>(ta(env, a.v[1]));
  float* y = static_cast<float*>(ta(env, a.v[2]));
  constexpr int64_t blk = 4096;
  const int64_t N = static_cast<int64_t>(n);
  forItems((N + blk - 1) / blk, blk * 8, [&](int64_t it) {
    const int64_t s = it * blk, e = std::min(N, s + blk);
    float* yb = y + s;
    T->unary(U_SIGMOID, g + s, yb, e - s, 0);
    for (int64_t i = s; i < e; i++) y[i] = g[i] * y[i] * u[i];
  });
  return nullptr;
}

napi_value SwigluGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  size_t n;
  const float* g = static_cast<const float*>(ta(env, a.v[0], &n));
  const float* u = static_cast<const float*>(ta(env, a.v[1]));
  const float* dy = static_cast<const float*>(ta(env, a.v[2]));
  float* dg = static_cast<float*>(ta(env, a.v[3]));
  float* du = static_cast<float*>(ta(env, a.v[4]));
  constexpr int64_t blk = 4096;
  const int64_t N = static_cast<int64_t>(n);
  forItems((N + blk - 1) / blk, blk * 12, [&](int64_t it) {
    const int64_t s = it * blk, e = std::min(N, s + blk);
    T->unary(U_SIGMOID, g + s, dg + s, e - s, 0);  // dg holds σ(g) until overwritten below
    for (int64_t i = s; i < e; i++) {
      const float sg = dg[i], gi = g[i], d = dy[i];
      du[i] = d * gi * sg;
      dg[i] = d * u[i] * sg * (1.0f + gi * (1.0f - sg));
    }
  });
  return nullptr;
}

// setThreads(n, minWorkOpenBlas?, minWorkOwn?)
napi_value SetThreads(napi_env env, napi_callback_info info) {
  Args a(env, info);
  maxThreads = static_cast<int>(i64(env, a.v[0]));
  if (maxThreads < 1) maxThreads = 1;
  auto opt = [&](size_t i, int64_t& dst) {
    if (a.n <= i) return;
    napi_valuetype t;
    napi_typeof(env, a.v[i], &t);
    if (t == napi_number) dst = i64(env, a.v[i]);
  };
  opt(1, MT_MIN);
  opt(2, OWN_MT_MIN);
  if (blas.sgemm) {
    curBlasThreads = -1;
    useBlasThreads(0);
  } else {
    pool.resize(maxThreads - 1);
  }
  return nullptr;
}

// info() → { simd, gemm ('own' | 'openblas'), blasCore, blasThreads, openblas (why not, when not) }
napi_value Info(napi_env env, napi_callback_info) {
  napi_value o, s;
  napi_create_object(env, &o);
  napi_create_string_utf8(env, T->name, NAPI_AUTO_LENGTH, &s);
  napi_set_named_property(env, o, "simd", s);
  napi_create_string_utf8(env, blas.sgemm ? "openblas" : "own", NAPI_AUTO_LENGTH, &s);
  napi_set_named_property(env, o, "gemm", s);
  napi_create_string_utf8(env, blas.sgemm ? (blas.corename ? blas.corename() : "?") : T->name, NAPI_AUTO_LENGTH, &s);
  napi_set_named_property(env, o, "blasCore", s);
  napi_set_named_property(env, o, "blasThreads", num(env, maxThreads));
  napi_create_string_utf8(env, blas.why.c_str(), NAPI_AUTO_LENGTH, &s);
  napi_set_named_property(env, o, "openblas", s);
  return o;
}

const Table* pick() {
  const char* force = std::getenv("RLHFC_NATIVE_SIMD");
  __builtin_cpu_init();
  const bool has512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
  const bool has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (force) {
    std::string f(force);
    if (f == "base") return G = &k_base::gemm_kernel, &k_base::table;
    if (f == "avx2" && has2) return G = &k_avx2::gemm_kernel, &k_avx2::table;
    if (f == "avx512" && has512) return G = &k_avx512::gemm_kernel, &k_avx512::table;
  }
  if (has512) return G = &k_avx512::gemm_kernel, &k_avx512::table;
  if (has2) return G = &k_avx2::gemm_kernel, &k_avx2::table;
  return G = &k_base::gemm_kernel, &k_base::table;
}

}  // namespace

NAPI_MODULE_INIT() {
  T = pick();
  loadOpenBlas();
  const struct {
    const char* name;
    napi_callback fn;
  } fns[] = {{"unary", Unary},       {"binary", Binary},   {"reduce", Reduce}, {"softmax", Softmax}, {"addn", AddN},         {"matmul", MatMul},
             {"transpose", Transpose}, {"transpose2d", Transpose2d}, {"gather", Gather}, {"blocks", Blocks}, {"slice", Slice},     {"tile", Tile},         {"oneHot", OneHot},
             {"segmentSum", SegmentSum}, {"adam", Adam},   {"cast", Cast},     {"setThreads", SetThreads}, {"info", Info},
             {"layerNorm", LayerNorm}, {"layerNormGrad", LayerNormGrad}, {"gelu", Gelu}, {"geluGrad", GeluGrad}, {"softmaxGrad", SoftmaxGrad}, {"sigmoidGrad", SigmoidGrad},
             {"logSoftmaxPick", LogSoftmaxPick}, {"headLogProb", HeadLogProb}, {"matMul2", MatMul2}, {"logSoftmaxPickGrad", LogSoftmaxPickGrad}, {"attention", Attention}, {"attentionGrad", AttentionGrad}, {"attentionPacked", AttentionPacked}, {"attentionPackedGrad", AttentionPackedGrad},
             {"rmsNorm", RmsNorm}, {"rmsNormGrad", RmsNormGrad}, {"rope", Rope}, {"swiglu", Swiglu}, {"swigluGrad", SwigluGrad}};
  for (const auto& f : fns) {
    napi_value v;
    napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.fn, nullptr, &v);
    napi_set_named_property(env, exports, f.name, v);
  }
  return exports;
}
