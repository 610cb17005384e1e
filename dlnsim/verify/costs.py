"""Seconds each catalogue claim took on the reference machine (2 cores, idle, one BLAS
thread): the order in which ``dlnsim verify --workers N`` hands claims out, longest first.

Written by ``python benchmarks/bench_verify.py --record``; a claim missing here counts as the
median.
"""

SECONDS: dict[str, float] = {
    "hcgd.metric": 0.00,
    "hcgd.ngd_limit": 0.18,
    "tkfac.factors": 0.03,
    "tkfac.trace": 0.03,
    "tkfac.exact_dln": 0.00,
    "tkfac.bound": 0.07,
    "huh.paths.hyperbolic": 0.43,
    "huh.speed": 0.00,
    "huh.map.exponent": 0.07,
    "huh.map.closed_forms": 0.65,
    "huh.table1": 0.01,
    "huh.timescale": 1.14,
    "huh.escape": 0.52,
    "huh.deff": 0.20,
    "huh.ngdd.mapdyn": 0.00,
    "huh.ngdd.ratio": 0.03,
    "huh.ngdd.speed": 0.00,
    "huh.sqrtngdd.difference": 0.02,
    "huh.qngdd.general": 0.12,
    "huh.modes.reduction": 0.57,
    "huh.ngd.minnorm": 0.00,
    "huh.ngd.dense": 0.01,
    "huh.ngdd.dense": 0.02,
    "huh.conservation": 0.71,
    "huh.blockdiag.breaks": 0.53,
    "huh.teacher.signal_first": 3.49,
    "huh.teacher.balance": 4.98,
    "huh.teacher.task": 0.01,
    "huh.timescale.grid": 1.64,
    "scale.end_to_end": 0.41,
    "scale.depth2": 2.33,
    "noise.thm41": 1.11,
    "noise.frobenius": 1.50,
    "wd.lemma1": 0.00,
    "wd.lemma2": 0.00,
    "wd.thm1": 0.04,
    "wd.gradient": 0.03,
    "wd.l2_vs_decay": 0.00,
    "wd.imbalance_decay": 0.38,
    "wd.kfac_jacobian": 0.60,
}
