"""The papers' optimisers as rules (discrete time): K-FAC and TKFAC (:mod:`.kfac`; Zhang et al.
App. F, Gao et al.), HCGD (:mod:`.hcgd`, paper 002), covariance-noise and minibatch SGD
(:mod:`.noise`, Wen et al.).

Each is a :class:`~dlnsim.rules.Transform` and chains like any rule. Their constructors are
``dlnsim.rules.kfac``, ``rules.tkfac``, ``rules.hcgd``, ``rules.noisy_sgd`` and
``rules.minibatch_sgd``; the submodules here hold them with the math they need.
"""
