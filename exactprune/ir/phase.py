"""What is known of a two-phase neuron's phase on a domain: one int8 code per neuron, shared by
the stability analysis, the MILP encodings, the reductions and the region counts."""

INACTIVE = -1  # proven: g <= 0 on the whole domain
UNSTABLE = 0  # proven: witnesses on both sides
ACTIVE = 1  # proven: g >= 0 on the whole domain
UNKNOWN = 2  # not decided (time limit, interrupt, solver trouble): must be kept

STABLE = (ACTIVE, INACTIVE)  # the codes that fix a phase; every other code leaves it free
