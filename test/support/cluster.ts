// The end-to-end tests run the same process cluster as the fault-injection runner.

export { ProcessCluster as TestCluster, sleep } from '../../src/verify/process-cluster.js';
