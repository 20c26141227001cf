{
  "variables": {
    "kflags": ["-O3", "-std=c++17", "-fno-math-errno", "-fno-trapping-math", "-fopenmp-simd", "-fPIC"]
  },
  "target_defaults": {
    "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++14", "-std=c++14", "-O2"],
    "cflags!": ["-O2"]
  },
  "targets": [
    {
      "target_name": "kernels_base",
      "type": "static_library",
      "sources": ["src/simd.cc", "src/gemm.cc"],
      "defines": ["KNS=k_base"],
      "cflags_cc": ["<@(kflags)"]
    },
    {
      "target_name": "kernels_avx2",
      "type": "static_library",
      "sources": ["src/simd.cc", "src/gemm.cc"],
      "defines": ["KNS=k_avx2"],
      "cflags_cc": ["<@(kflags)", "-mavx2", "-mfma", "-mf16c"]
    },
    {
      "target_name": "kernels_avx512",
      "type": "static_library",
      "sources": ["src/simd.cc", "src/gemm.cc"],
      "defines": ["KNS=k_avx512"],
      "cflags_cc": ["<@(kflags)", "-mavx2", "-mfma", "-mavx512f", "-mavx512vl", "-mavx512bw", "-mavx512dq", "-mprefer-vector-width=512"]
    },
    {
      "target_name": "rlhfc_native",
      "sources": ["src/addon.cc"],
      "dependencies": ["kernels_base", "kernels_avx2", "kernels_avx512"],
      "cflags_cc": ["<@(kflags)", "-pthread"],
      "libraries": ["-pthread", "-ldl"]
    }
  ]
}
