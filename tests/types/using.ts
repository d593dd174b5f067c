// `using` (explicit resource management) on the package's stateful objects: type-checked by
// tests/js/types.test.mjs only with lib esnext.disposable, which `using` itself needs.
import { init } from 'kexue';

const kx = await init({ backend: 'wasm' });
{
  using stats = new kx.WhiteningStats(2);
  stats.add(new Float32Array([1, 2, 3, 4]), 2);
  using model = stats.finalize({ beta: 0, gamma: 0 });
  const disposable: Disposable = model;   // the global Disposable of lib esnext.disposable
  void disposable;
}
export {};
