"""Seconds each catalogue claim took on the reference machine (2 cores, idle, one BLAS
thread): the order in which ``dlnsim verify --workers N`` hands claims out, longest first.

Written by ``python benchmarks/bench_verify.py --record``; a claim missing here counts as the
median.
"""

SECONDS: dict[str, float] = {
    "hcgd.metric": 0.01,
    "hcgd.ngd_limit": 0.21,
    "tkfac.factors": 0.03,
    "tkfac.trace": 0.03,
    "tkfac.exact_dln": 0.00,
    "tkfac.bound": 0.08,
    "huh.paths.hyperbolic": 0.13,
    "huh.speed": 0.00,
    "huh.map.exponent": 0.14,
    "huh.map.closed_forms": 0.51,
    "huh.table1": 0.01,
    "huh.timescale": 0.98,
    "huh.escape": 0.33,
    "huh.deff": 0.05,
    "huh.ngdd.mapdyn": 0.00,
    "huh.ngdd.ratio": 0.02,
    "huh.ngdd.speed": 0.00,
    "huh.sqrtngdd.difference": 0.02,
    "huh.qngdd.general": 0.11,
    "huh.modes.reduction": 0.51,
    "huh.ngd.minnorm": 0.00,
    "huh.ngd.dense": 0.01,
    "huh.ngdd.dense": 0.01,
    "huh.conservation": 0.65,
    "huh.blockdiag.breaks": 0.48,
    "huh.teacher.signal_first": 4.09,
    "huh.teacher.balance": 12.81,
    "huh.timescale.grid": 3.24,
    "scale.end_to_end": 0.33,
    "scale.depth2": 2.90,
    "noise.thm41": 1.16,
    "noise.frobenius": 1.38,
    "wd.lemma1": 0.00,
    "wd.lemma2": 0.00,
    "wd.thm1": 0.04,
    "wd.gradient": 0.02,
    "wd.l2_vs_decay": 0.00,
    "wd.imbalance_decay": 0.21,
    "wd.kfac_jacobian": 0.51,
}
