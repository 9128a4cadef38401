"""Shared test helpers: chi-square goodness of fit of sampled histograms against exact probabilities."""

import numpy as np
from scipy import stats as sps

from jaxrg import exact


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


def energy_histogram_p(energy_per_spin, L, T):
    """Chi-square test of sampled energies per spin against the exact energy distribution of the ``L x L`` torus.

    Asserts that every sampled energy is a level of the exact spectrum, then returns ``chi_square_p`` of the counts.
    """
    energies = np.rint(np.asarray(energy_per_spin).ravel() * L * L).astype(int)
    levels, probs = exact.energy_distribution(L, T)
    levels = np.rint(np.asarray(levels)).astype(int)
    impossible = sorted(set(np.unique(energies).tolist()) - set(levels.tolist()))
    assert not impossible, f"impossible total energies sampled: {impossible}"
    counts = np.array([np.sum(energies == E) for E in levels], dtype=float)
    return chi_square_p(counts, np.asarray(probs))
