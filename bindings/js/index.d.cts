// Declarations of the CommonJS entry (bindings/js/index.cjs); the types are those of the ESM entry.
import type { InitOptions, Kexue, Remote } from './index.js' with { 'resolution-mode': 'import' };

export type * from './index.js' with { 'resolution-mode': 'import' };
/** Runs kexue in a dedicated Worker: the same API, every call a Promise. */
export declare function init(options: InitOptions & { proxy: true | { transfer?: boolean } }): Promise<Remote<Kexue>>;
/** Loads the WASM module; resolves to the same instance as the ES module's init(). */
export declare function init(options?: InitOptions): Promise<Kexue>;
export { init as default };
/** The package version string. */
export declare const version: string;
