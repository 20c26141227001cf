// Elementwise, reduction and softmax kernels, written as plain loops the compiler vectorises. This
// file is compiled three times (binding.gyp: -DKNS=k_base / k_avx2 / k_avx512 with matching -m flags);
// exp/tanh/sigmoid use a branch-free polynomial exp (Cephes) instead of libm so they vectorise too.
#include <cmath>
#include <cstring>
#include "kernels.h"

#ifndef KNS
#define KNS k_base
#endif
#define STR2(x) #x
#define STR(x) STR2(x)

namespace rlhfc {
namespace KNS {
namespace {

inline float bits_to_float(int32_t i) {
  float f;
  std::memcpy(&f, &i, 4);
  return f;
}

// exp(x) with ~1 ulp error on [-87, 88]; branch-free so loops over it vectorise.
inline float fexp(float xin) {
  float x = xin < -87.33654f ? -87.33654f : xin;
  x = x > 88.72283f ? 88.72283f : x;
  const float t = x * 1.44269504088896341f;
  const float fi = (t + 12582912.0f) - 12582912.0f;  // round to nearest
  float r = x - fi * 0.693359375f;
  r = r - fi * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * r * r + r + 1.0f;
  const int32_t e = static_cast<int32_t>(fi) + 127;
  // split the scale in two so e = 255 (x near 88.7) still works: 2^fi = 2^(fi-1)·2
  const float r2 = y * bits_to_float((e - 1) << 23) * 2.0f;
  // beyond the range: 0 (true result < 1.2e-38) and +inf; NaN stays NaN
  return xin != xin ? xin : (xin > 88.72283f ? __builtin_inff() : (xin < -87.33654f ? 0.0f : r2));
}

inline float fsigmoid(float x) { return 1.0f / (1.0f + fexp(-x)); }
inline float ftanh(float x) {
  // tanh = sign(x)·(1 − 2/(e^{2|x|}+1)); for tiny |x| use the series to keep relative accuracy
  const float ax = x < 0 ? -x : x;
  const float big = 1.0f - 2.0f / (fexp(2.0f * ax) + 1.0f);
  const float x2 = ax * ax;
  const float small = ax * (1.0f - x2 * (0.33333334f - x2 * 0.13333334f));
  const float r = ax < 0.0625f ? small : big;
  return x < 0 ? -r : r;
}

void unary(int op, const float* __restrict x, float* __restrict y, int64_t n, float alpha) {
  switch (op) {
    case U_NEG:
#pragma omp simd
      for (int64_t i = 0; i < n; i++) y[i] = -x[i];
      break;
    case U_EXP:
#pragma omp simd
      for (int64_t i = 0; i < n; i++) y[i] = fexp(x[i]);
      break;
    case U_LOG:
      for (int64_t i = 0; i < n; i++) y[i] = std::log(x[i]);
      break;
    case U_SQRT:
#pragma omp simd
      for (int64_t i = 0; i < n; i++) y[i] = std::sqrt(x[i]);
      break;
    case U_RSQRT:
#pragma omp simd
      for (int64_t i = 0; i < n; i++) y[i] = 1.0f / std::sqrt(x[i]);
      break;
    case U_SQUARE:
#pragma omp simd
      for (int64_t i = 0; i < n; i++) y[i] = x[i] * x[i];
      break;
    case U_SIGMOID:
#pragma omp simd
      for (int64_t i = 0; i < n; i++) y[i] = fsigmoid(x[i]);
      break;
    case U_TANH:
#pragma omp simd
      for (int64_t i = 0; i < n; i++) y[i] = ftanh(x[i]);
      break;
    case U_RELU:
#pragma omp simd
      for (int64_t i = 0; i < n; i++) y[i] = x[i] < 0 ? 0.0f : x[i];
      break;
    case U_ABS:
#pragma omp simd
      for (int64_t i = 0; i < n; i++) y[i] = std::fabs(x[i]);
      break;
    case U_RECIPROCAL:
#pragma omp simd
      for (int64_t i = 0; i < n; i++) y[i] = 1.0f / x[i];
      break;
    case U_LOG1P:
      for (int64_t i = 0; i < n; i++) y[i] = std::log1p(x[i]);
      break;
    case U_ELU:
#pragma omp simd
      for (int64_t i = 0; i < n; i++) y[i] = x[i] >= 0 ? x[i] : fexp(x[i]) - 1.0f;
      break;
    case U_SOFTPLUS:
      for (int64_t i = 0; i < n; i++) y[i] = x[i] > 15.942385f ? x[i] : (x[i] < -15.942385f ? std::exp(x[i]) : std::log1p(std::exp(x[i])));
      break;
    case U_STEP:
#pragma omp simd
      for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0 ? 1.0f : alpha;
      break;
    case U_RELU6:
#pragma omp simd
      for (int64_t i = 0; i < n; i++) y[i] = x[i] < 0 ? 0.0f : (x[i] > 6.0f ? 6.0f : x[i]);
      break;
  }
}

template <int OP>
inline float bop(float a, float b) {
  if constexpr (OP == B_ADD) return a + b;
  if constexpr (OP == B_SUB) return a - b;
  if constexpr (OP == B_MUL) return a * b;
  if constexpr (OP == B_DIV) return a / b;
  if constexpr (OP == B_MAX) return (a > b || a != a) ? a : b;
  if constexpr (OP == B_MIN) return (a < b || a != a) ? a : b;
  if constexpr (OP == B_POW) return std::pow(a, b);
  if constexpr (OP == B_SQDIFF) return (a - b) * (a - b);
  if constexpr (OP == B_FIRST) return a;  // broadcast a to the output shape
  return 0;
}

template <int OP>
inline void inner(const float* __restrict a, int64_t sa, const float* __restrict b, int64_t sb, float* __restrict y, int64_t n) {
  if (sa == 1 && sb == 1) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) y[i] = bop<OP>(a[i], b[i]);
  } else if (sa == 1 && sb == 0) {
    const float bv = *b;
#pragma omp simd
    for (int64_t i = 0; i < n; i++) y[i] = bop<OP>(a[i], bv);
  } else if (sa == 0 && sb == 1) {
    const float av = *a;
#pragma omp simd
    for (int64_t i = 0; i < n; i++) y[i] = bop<OP>(av, b[i]);
  } else {
    for (int64_t i = 0; i < n; i++) y[i] = bop<OP>(a[i * sa], b[i * sb]);
  }
}

template <int OP>
void binaryT(const float* a, const float* b, float* y, int rank, const int64_t* shape, const int64_t* sa, const int64_t* sb) {
  const int64_t n = shape[rank - 1];
  int64_t outer = 1;
  for (int d = 0; d < rank - 1; d++) outer *= shape[d];
  int64_t idx[8] = {0};
  int64_t oa = 0, ob = 0;
  for (int64_t o = 0; o < outer; o++) {
    inner<OP>(a + oa, sa[rank - 1], b + ob, sb[rank - 1], y + o * n, n);
    for (int d = rank - 2; d >= 0; d--) {
      idx[d]++;
      oa += sa[d];
      ob += sb[d];
      if (idx[d] < shape[d]) break;
      oa -= sa[d] * shape[d];
      ob -= sb[d] * shape[d];
      idx[d] = 0;
    }
  }
}

void binary(int op, const float* a, const float* b, float* y, int rank, const int64_t* shape, const int64_t* sa, const int64_t* sb) {
  switch (op) {
    case B_ADD: return binaryT<B_ADD>(a, b, y, rank, shape, sa, sb);
    case B_SUB: return binaryT<B_SUB>(a, b, y, rank, shape, sa, sb);
    case B_MUL: return binaryT<B_MUL>(a, b, y, rank, shape, sa, sb);
    case B_DIV: return binaryT<B_DIV>(a, b, y, rank, shape, sa, sb);
    case B_MAX: return binaryT<B_MAX>(a, b, y, rank, shape, sa, sb);
    case B_MIN: return binaryT<B_MIN>(a, b, y, rank, shape, sa, sb);
    case B_POW: return binaryT<B_POW>(a, b, y, rank, shape, sa, sb);
    case B_SQDIFF: return binaryT<B_SQDIFF>(a, b, y, rank, shape, sa, sb);
    case B_FIRST: return binaryT<B_FIRST>(a, b, y, rank, shape, sa, sb);
  }
}

void reduce(int op, const float* __restrict x, float* __restrict y, int64_t outer, int64_t mid, int64_t inner) {
  if (inner == 1) {
    for (int64_t o = 0; o < outer; o++) {
      const float* r = x + o * mid;
      float s;
      switch (op) {
        case R_SUM:
        case R_MEAN: {
          s = 0;
#pragma omp simd reduction(+ : s)
          for (int64_t m = 0; m < mid; m++) s += r[m];
          if (op == R_MEAN) s /= static_cast<float>(mid);
          break;
        }
        case R_MAX: {
          s = r[0];
          bool nan = false;
          for (int64_t m = 0; m < mid; m++) nan |= r[m] != r[m];
#pragma omp simd reduction(max : s)
          for (int64_t m = 0; m < mid; m++) s = r[m] > s ? r[m] : s;
          if (nan) s = NAN;
          break;
        }
        case R_MIN: {
          s = r[0];
          bool nan = false;
          for (int64_t m = 0; m < mid; m++) nan |= r[m] != r[m];
#pragma omp simd reduction(min : s)
          for (int64_t m = 0; m < mid; m++) s = r[m] < s ? r[m] : s;
          if (nan) s = NAN;
          break;
        }
        default: {
          s = 1;
          for (int64_t m = 0; m < mid; m++) s *= r[m];
        }
      }
      y[o] = s;
    }
    return;
  }
  for (int64_t o = 0; o < outer; o++) {
    float* __restrict yo = y + o * inner;
    const float* xo = x + o * mid * inner;
    std::memcpy(yo, xo, inner * sizeof(float));
    for (int64_t m = 1; m < mid; m++) {
      const float* __restrict r = xo + m * inner;
      switch (op) {
        case R_SUM:
        case R_MEAN:
#pragma omp simd
          for (int64_t i = 0; i < inner; i++) yo[i] += r[i];
          break;
        case R_MAX:
          for (int64_t i = 0; i < inner; i++) yo[i] = (r[i] > yo[i] || r[i] != r[i]) ? r[i] : yo[i];
          break;
        case R_MIN:
          for (int64_t i = 0; i < inner; i++) yo[i] = (r[i] < yo[i] || r[i] != r[i]) ? r[i] : yo[i];
          break;
        default:
#pragma omp simd
          for (int64_t i = 0; i < inner; i++) yo[i] *= r[i];
      }
    }
    if (op == R_MEAN) {
      const float inv = static_cast<float>(mid);
#pragma omp simd
      for (int64_t i = 0; i < inner; i++) yo[i] /= inv;
    }
  }
}

void softmax(const float* __restrict x, float* __restrict y, int64_t rows, int64_t cols, int log) {
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = x + r * cols;
    float* __restrict yr = y + r * cols;
    float mx = xr[0];
#pragma omp simd reduction(max : mx)
    for (int64_t c = 0; c < cols; c++) mx = xr[c] > mx ? xr[c] : mx;
    float s = 0;
    if (log) {
#pragma omp simd reduction(+ : s)
      for (int64_t c = 0; c < cols; c++) s += fexp(xr[c] - mx);
      const float ls = mx + std::log(s);
#pragma omp simd
      for (int64_t c = 0; c < cols; c++) yr[c] = xr[c] - ls;
    } else {
#pragma omp simd reduction(+ : s)
      for (int64_t c = 0; c < cols; c++) {
        const float e = fexp(xr[c] - mx);
        yr[c] = e;
        s += e;
      }
      const float inv = 1.0f / s;
#pragma omp simd
      for (int64_t c = 0; c < cols; c++) yr[c] *= inv;
    }
  }
}

void addn(const float* const* xs, int count, float* __restrict y, int64_t n) {
  std::memcpy(y, xs[0], n * sizeof(float));
  for (int k = 1; k < count; k++) {
    const float* __restrict x = xs[k];
#pragma omp simd
    for (int64_t i = 0; i < n; i++) y[i] += x[i];
  }
}

void bias_act(float* __restrict y, const float* __restrict bias, int64_t rows, int64_t cols, int relu) {
  for (int64_t r = 0; r < rows; r++) {
    float* __restrict yr = y + r * cols;
    if (bias) {
#pragma omp simd
      for (int64_t c = 0; c < cols; c++) yr[c] += bias[c];
    }
    if (relu) {
#pragma omp simd
      for (int64_t c = 0; c < cols; c++) yr[c] = yr[c] < 0 ? 0.0f : yr[c];
    }
  }
}

void adam(float* __restrict p, float* __restrict m, float* __restrict v, const float* __restrict g, int64_t n, float b1, float b2, float step, float bc2sqrt, float eps,
          float decay) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) {
    const float mi = m[i] * b1 + g[i] * (1.0f - b1);
    const float vi = v[i] * b2 + g[i] * g[i] * (1.0f - b2);
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay - mi / (std::sqrt(vi) / bc2sqrt + eps) * step;
  }
}

void layernorm(const float* __restrict x, const float* __restrict g, const float* __restrict b, float* __restrict y, float* __restrict mean, float* __restrict rstd,
               int64_t rows, int64_t cols, float eps) {
  const float inv = 1.0f / static_cast<float>(cols);
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = x + r * cols;
    float* __restrict yr = y + r * cols;
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t c = 0; c < cols; c++) s += xr[c];
    const float m = s * inv;
    float v = 0;
#pragma omp simd reduction(+ : v)
    for (int64_t c = 0; c < cols; c++) v += (xr[c] - m) * (xr[c] - m);
    const float rs = 1.0f / std::sqrt(v * inv + eps);
#pragma omp simd
    for (int64_t c = 0; c < cols; c++) yr[c] = (xr[c] - m) * rs * g[c] + b[c];
    mean[r] = m;
    rstd[r] = rs;
  }
}

void layernorm_grad(const float* __restrict dy, const float* __restrict x, const float* __restrict g, const float* __restrict mean, const float* __restrict rstd,
                    float* __restrict dx, float* __restrict dg, float* __restrict db, int64_t rows, int64_t cols) {
  std::memset(dg, 0, cols * sizeof(float));
  std::memset(db, 0, cols * sizeof(float));
  const float inv = 1.0f / static_cast<float>(cols);
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = x + r * cols;
    const float* dyr = dy + r * cols;
    float* __restrict dxr = dx + r * cols;
    const float m = mean[r], rs = rstd[r];
    float a = 0, c2 = 0;
#pragma omp simd reduction(+ : a, c2)
    for (int64_t c = 0; c < cols; c++) {
      const float xh = (xr[c] - m) * rs;
      const float d = dyr[c] * g[c];
      a += d;
      c2 += d * xh;
      dg[c] += dyr[c] * xh;
      db[c] += dyr[c];
    }
    a *= inv;
    c2 *= inv;
#pragma omp simd
    for (int64_t c = 0; c < cols; c++) {
      const float xh = (xr[c] - m) * rs;
      dxr[c] = rs * (dyr[c] * g[c] - a - xh * c2);
    }
  }
}

constexpr float GELU_C2 = 1.5957691216057308f;  // 2·sqrt(2/π)
constexpr float GELU_A = 0.044715f;

void gelu(const float* __restrict x, float* __restrict y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) {
    const float v = x[i];
    y[i] = v * fsigmoid((v + v * v * v * GELU_A) * GELU_C2);
  }
}

void gelu_grad(const float* __restrict x, const float* __restrict dy, float* __restrict dx, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) {
    const float v = x[i];
    const float s = fsigmoid((v + v * v * v * GELU_A) * GELU_C2);
    dx[i] = dy[i] * (s + v * s * (1.0f - s) * GELU_C2 * (1.0f + 3.0f * GELU_A * v * v));
  }
}

void softmax_grad(const float* __restrict y, const float* __restrict dy, float* __restrict dx, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; r++) {
    const float* yr = y + r * cols;
    const float* dr = dy + r * cols;
    float* __restrict xr = dx + r * cols;
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t c = 0; c < cols; c++) s += dr[c] * yr[c];
#pragma omp simd
    for (int64_t c = 0; c < cols; c++) xr[c] = yr[c] * (dr[c] - s);
  }
}

void sigmoid_grad(const float* __restrict y, const float* __restrict dy, float* __restrict dx, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * (y[i] * (1.0f - y[i]));
}

}  // namespace

const Table table = {STR(KNS), unary, binary, reduce, softmax, addn, bias_act, adam, layernorm, layernorm_grad, gelu, gelu_grad, softmax_grad, sigmoid_grad};

}  // namespace KNS
}  // namespace rlhfc
