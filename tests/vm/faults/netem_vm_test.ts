/**
 * The netem fault test (`tests/faults/netem_test.ts`) in the VM tier: the
 * host kernel lacks sch_netem, Debian's kernel in the VM loads it on demand.
 */
import "../../faults/netem_test.ts";
