/**
 * Prints the tables of a finished load run again from its `results.json`
 * (e.g. after the report's format changed):
 *
 *     deno run --allow-read bench/load/tables.ts bench/load/results/<time>/results.json
 *
 * @module
 */
import type { WorkloadResult } from "./common.ts";
import { ratioTable, resultsTable, targetsTable } from "./report.ts";

const file = Deno.args[0];
if (!file) throw new Error("usage: tables.ts RESULTS.json");
const { results } = JSON.parse(await Deno.readTextFile(file)) as { results: WorkloadResult[] };
for (const r of results) if (r.rate === null) r.rate = NaN; // JSON has no NaN
console.log(resultsTable(results));
console.log("\n### kink as ratios to the peers (same run)\n");
console.log(ratioTable(results));
console.log("\n### Issue 14 targets\n");
console.log(targetsTable(results));
