// Run by runtime/webgpu/setup.ts `probeAdapter()` in a child process: prints one JSON line naming the
// WebGPU adapter Dawn finds ({"adapter":null} when none, or when Dawn cannot be loaded).
let adapter = null;
try {
  const { create } = await import('webgpu');
  const a = await create([]).requestAdapter({ powerPreference: 'high-performance' });
  if (a) {
    const i = a.info;
    adapter = { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description, isFallbackAdapter: i.isFallbackAdapter };
  }
} catch {
  adapter = null;
}
process.stdout.write(`\n${JSON.stringify({ adapter })}\n`);
process.exit(0);
