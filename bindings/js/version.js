// Kept equal to package.json's "version" (a test checks it): the facade cannot import JSON in
// every environment it supports without a bundler.
export const version = '0.1.0';
