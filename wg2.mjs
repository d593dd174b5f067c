import { create } from 'webgpu';
const gpu = create([]);
const adapter = await gpu.requestAdapter();
console.log('adapter', !!adapter);
if (adapter && process.argv[2] === 'device') { const d = await adapter.requestDevice(); console.log('device'); }
