/**
 * The workloads of the load benchmark (issue 14), with their sizes in a full
 * run and in a `--quick` (smoke) run.
 *
 * @module
 */

/** A workload key and its human label. */
export interface Workload {
  key: string;
  label: string;
}

/** Every workload, in the order of the tables. */
export const WORKLOADS: Workload[] = [
  { key: "seq", label: "sequential (1 outstanding)" },
  { key: "win10", label: "10 outstanding" },
  { key: "win50", label: "50 outstanding" },
  { key: "win200", label: "200 outstanding" },
  { key: "burst1000", label: "burst of 1,000 ACQUIREs" },
  { key: "peers1000x10", label: "1,000 peers × 10 SAs" },
  { key: "rekey", label: "rekey storm (every SA at once)" },
  { key: "status1000", label: "STATUS probes from 1,000 peers" },
  { key: "hold100k", label: "100,000 SAs held (memory)" },
];

/** Sizes of a run. */
export interface Sizes {
  seq: number;
  win: number;
  burst: number;
  peers: number;
  perPeer: number;
  rekey: number;
  status: number;
  hold: number;
}

/** Full run (the figures in the README). */
export const FULL: Sizes = {
  seq: 500,
  win: 2000,
  burst: 1000,
  peers: 1000,
  perPeer: 10,
  rekey: 1000,
  status: 1000,
  hold: 100_000,
};

/** Smoke run (tests/integration/bench/load_smoke_test.ts). */
export const QUICK: Sizes = {
  seq: 20,
  win: 40,
  burst: 50,
  peers: 10,
  perPeer: 2,
  rekey: 20,
  status: 10,
  hold: 500,
};
