// Declarations of the CommonJS entry (bindings/js/index.cjs); the types are those of the ESM entry.
import type { InitOptions, Kexue } from './index.js' with { 'resolution-mode': 'import' };

export type * from './index.js' with { 'resolution-mode': 'import' };
/** Loads the WASM module; resolves to the same instance as the ES module's init(). */
export declare function init(options?: InitOptions): Promise<Kexue>;
export { init as default };
/** The package version string. */
export declare const version: string;
