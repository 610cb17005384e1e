"""Checks of Zhang et al. (2019), *Three mechanisms of weight decay regularization*.

Paper file: 000_8b249c0b8e6b6eef.txt. Statements and notes: theory/zhang_weight_decay.md.
The paper's depth L counts hidden layers: L + 1 = d, the number of weight matrices.
"""
