// Jest runs the TypeScript suites under test/ against the real built lua.wasm.
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/test/tsconfig.json' }] },
  moduleNameMapper: {
    // The package's sources import './x.js' (ES module style); the TypeScript file is x.ts.
    '^(.*)/default-wasm\\.js$': '<rootDir>/test/support/default-wasm.ts',
    // The LuaWorker's worker runs the built package (dist/cjs/worker/worker-main.js).
    '^(.*)/worker-spawn\\.js$': '<rootDir>/test/support/worker-spawn.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  testTimeout: 60000,
};
