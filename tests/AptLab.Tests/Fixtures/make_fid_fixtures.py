#!/usr/bin/python3
"""Generates the FID statistics fixtures read by tests/AptLab.Tests/Evaluation (run once, by hand).

Needs Debian's python3-numpy and python3-scipy; CI never runs this script, the generated files are committed.

    /usr/bin/python3 make_fid_fixtures.py

Writes fid/{full,thin,fortran}.npz with np.savez_compressed (members mu, sigma; float64, as pytorch-fid's
fid_score.py saves statistics; fortran.npz stores sigma and a 2x3 probe arange(6) in Fortran order) and fid/expected.json with the Frechet
distances of the pairs computed the way pytorch-fid's calculate_frechet_distance does it: scipy.linalg.sqrtm of the
covariance product, eps * I offsets if that is not finite, the real part.
"""
import json
import os

import numpy as np
from scipy import linalg

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fid")


def stats(x):
    return np.mean(x, axis=0), np.cov(x, rowvar=False)


def frechet(mu1, sigma1, mu2, sigma2, eps=1e-6):
    diff = mu1 - mu2
    covmean, _ = linalg.sqrtm(sigma1.dot(sigma2), disp=False)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def main():
    os.makedirs(HERE, exist_ok=True)
    rng = np.random.default_rng(2024)
    d = 12
    mix = rng.normal(size=(d, d))
    full = rng.normal(size=(200, d)) @ mix + 0.5           # N > D: full rank
    thin = rng.normal(size=(6, d)) @ mix.T - 0.25          # N < D: rank 5
    other = np.tanh(rng.normal(size=(300, d)) @ mix)       # a different distribution
    sets = {"full": stats(full), "thin": stats(thin), "other": stats(other)}
    for name in ("full", "thin"):
        np.savez_compressed(os.path.join(HERE, name + ".npz"), mu=sets[name][0], sigma=sets[name][1])
    probe = np.asfortranarray(np.arange(6, dtype=np.float64).reshape(2, 3))   # not symmetric: shows the element order
    np.savez_compressed(os.path.join(HERE, "fortran.npz"), mu=sets["other"][0], sigma=np.asfortranarray(sets["other"][1]), probe=probe)
    pairs = {f"{a}-{b}": frechet(*sets[a], *sets[b]) for a, b in [("full", "other"), ("thin", "other"), ("full", "thin")]}
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump({"dim": d, "fd": pairs,
                   "fortran_sigma_00_01_10": [sets["other"][1][0, 0], sets["other"][1][0, 1], sets["other"][1][1, 0]],
                   "other_mu": sets["other"][0].tolist()}, f, indent=1)


if __name__ == "__main__":
    main()
