// The fake backend lives in src/testing/fake-backend.ts; e2e tests import it from here.
export * from '../../src/testing/fake-backend.ts';
