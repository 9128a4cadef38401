"""Shared test helper: chi-square goodness of fit of sampled histograms against exact probabilities."""

import numpy as np
from scipy import stats as sps


def chi_square_p(counts, probabilities):
    """p-value, chi^2 and degrees of freedom of observed counts against exact probabilities.

    The least likely bins are merged until every merged bin expects at least 5 counts.
    """
    counts = np.asarray(counts, dtype=float)
    expected = np.asarray(probabilities, dtype=float) * counts.sum()
    obs, exp_ = [], []
    acc_o = acc_e = 0.0
    for k in np.argsort(expected):
        acc_o += counts[k]
        acc_e += expected[k]
        if acc_e >= 5:
            obs.append(acc_o)
            exp_.append(acc_e)
            acc_o = acc_e = 0.0
    if acc_e > 0:
        obs[-1] += acc_o
        exp_[-1] += acc_e
    obs, exp_ = np.asarray(obs), np.asarray(exp_)
    chi2 = np.sum((obs - exp_) ** 2 / exp_)
    return sps.chi2.sf(chi2, len(obs) - 1), chi2, len(obs) - 1
