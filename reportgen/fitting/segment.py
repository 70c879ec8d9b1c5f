"""Segmentation: K-Means over a range of k, the choice of k, stability and alternatives."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from sklearn.cluster import DBSCAN, HDBSCAN, AgglomerativeClustering, KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import (
    adjusted_rand_score,
    calinski_harabasz_score,
    davies_bouldin_score,
    pairwise_distances,
    silhouette_samples,
    silhouette_score,
)
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import NearestNeighbors
from threadpoolctl import threadpool_limits


def single_threaded(func):
    """Run with one OpenMP/BLAS thread. On a few thousand rows K-Means is fastest that way, and
    on a shared 2-core machine OpenMP threads spin-waiting for a busy core made scoring k
    six times slower (3.6 s instead of 0.6 s, measured on the real file)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with threadpool_limits(limits=1):
            return func(*args, **kwargs)

    return wrapper


#: A neighbour of the elbow replaces it only when its silhouette is this much better (relative).
SILHOUETTE_MARGIN = 0.10


@dataclass
class KScore:
    k: int
    inertia: float
    silhouette: float
    calinski_harabasz: float
    davies_bouldin: float


@dataclass
class KChoice:
    k: int
    elbow_k: int | None
    best_silhouette_k: int
    method: str
    reason: str


def _kmeans(k: int, seed: int, n_init: int) -> KMeans:
    return KMeans(n_clusters=k, n_init=n_init, random_state=seed)


def _knee_locator():
    """kneed's KneeLocator without matplotlib: kneed imports pyplot when it can, which would
    load a plotting stack into the analysis (and cost `reportgen history` seconds)."""
    import sys

    if "kneed" not in sys.modules and "matplotlib" not in sys.modules:
        sys.modules["matplotlib"] = None  # type: ignore[assignment]  # import fails -> no plots
        try:
            from kneed import KneeLocator
        finally:
            del sys.modules["matplotlib"]
        return KneeLocator
    from kneed import KneeLocator

    return KneeLocator


@single_threaded
def distances(X: np.ndarray) -> np.ndarray:
    """Euclidean distances between all rows (the silhouette's, computed once for every k)."""
    return pairwise_distances(X, metric="euclidean")


def silhouette_of(D: np.ndarray, labels: np.ndarray) -> float:
    """The mean silhouette from precomputed distances `D` (see silhouette_values)."""
    return float(silhouette_values(D, labels).mean())


def silhouette_values(D: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each row's silhouette from precomputed distances `D` — sklearn's definition (a
    customer alone in their cluster scores 0) with the per-cluster distance sums as one
    matrix product, so scoring nine values of k costs one distance matrix, not nine."""
    _, codes = np.unique(labels, return_inverse=True)
    codes = codes.ravel()
    n, k = len(codes), int(codes.max()) + 1
    if k < 2:
        return np.zeros(n)
    member = np.zeros((n, k))
    member[np.arange(n), codes] = 1.0
    sums = D @ member  # [n, k]: each customer's summed distance to each cluster
    size = member.sum(axis=0)
    rows = np.arange(n)
    own = size[codes]
    a = sums[rows, codes] / np.maximum(own - 1, 1)
    mean = sums / size
    mean[rows, codes] = np.inf
    b = mean.min(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = (b - a) / np.maximum(a, b)
    return np.where((own > 1) & np.isfinite(s), s, 0.0)


def _metrics(
    X: np.ndarray,
    labels: np.ndarray,
    sil_rows: np.ndarray | None = None,
    D: np.ndarray | None = None,
) -> dict[str, float]:
    """Silhouette (on `sil_rows` when given: it is O(n²); from `D`, their distances, when
    given), Calinski-Harabasz, Davies-Bouldin."""
    sl = labels if sil_rows is None else labels[sil_rows]
    if len(set(sl.tolist())) < 2:
        silhouette = 0.0
    elif D is not None:
        silhouette = silhouette_of(D, sl)
    else:
        silhouette = float(silhouette_score(X if sil_rows is None else X[sil_rows], sl))
    return {
        "silhouette": silhouette,
        "calinski_harabasz": float(calinski_harabasz_score(X, labels)),
        "davies_bouldin": float(davies_bouldin_score(X, labels)),
    }


@single_threaded
def score_ks(
    X: np.ndarray,
    ks: Iterable[int],
    seed: int,
    n_init: int,
    sil_rows: np.ndarray | None = None,
    D: np.ndarray | None = None,
) -> list[KScore]:
    """Inertia, silhouette, Calinski-Harabasz and Davies-Bouldin for each listed k (each fitted
    independently with the same seed, so any split of the list gives the same scores); the
    silhouette on `sil_rows`, the same rows for every k (`D`: their distances, if computed)."""
    scores = []
    for k in ks:
        model = _kmeans(k, seed, n_init).fit(X)
        scores.append(
            KScore(k=k, inertia=float(model.inertia_), **_metrics(X, model.labels_, sil_rows, D))
        )
    return scores


def choose_k(scores: list[KScore]) -> KChoice:
    """The elbow of the inertia curve (knee detection), checked against the silhouette.

    A neighbour (k-1 or k+1) replaces the elbow only when its silhouette is more than
    SILHOUETTE_MARGIN better; without a detectable elbow the best silhouette wins.
    """
    ks = [s.k for s in scores]
    by_k = {s.k: s for s in scores}
    best_sil = max(scores, key=lambda s: (s.silhouette, -s.k)).k
    elbow = None
    if len(scores) >= 3:
        knee = _knee_locator()(
            ks, [s.inertia for s in scores], curve="convex", direction="decreasing"
        ).knee
        elbow = int(knee) if knee is not None else None
    if elbow is None:
        return KChoice(best_sil, None, best_sil, "silhouette", "no clear elbow; best silhouette")
    chosen, method = elbow, "elbow"
    reason = f"elbow of the inertia curve at k = {elbow}"
    for neighbour in (elbow - 1, elbow + 1):
        if neighbour in by_k and by_k[neighbour].silhouette > by_k[chosen].silhouette * (
            1 + SILHOUETTE_MARGIN
        ):
            chosen, method = neighbour, "elbow+silhouette"
            reason = (
                f"elbow at k = {elbow}; k = {neighbour} separates customers clearly better "
                f"(silhouette {by_k[neighbour].silhouette:.3f} vs {by_k[elbow].silhouette:.3f})"
            )
    if chosen == elbow:
        reason += (
            f"; its silhouette ({by_k[elbow].silhouette:.3f}) is within "
            f"{SILHOUETTE_MARGIN:.0%} of its neighbours'"
        )
    return KChoice(chosen, elbow, best_sil, method, reason)


@single_threaded
def fit_final(X: np.ndarray, k: int, seed: int, n_init: int) -> tuple[np.ndarray, np.ndarray]:
    """K-Means with segments numbered by size (0 = largest), ties by centroid order.

    Returns (centroids in design space, labels).
    """
    model = _kmeans(k, seed, n_init).fit(X)
    sizes = np.bincount(model.labels_, minlength=k)
    order = sorted(range(k), key=lambda j: (-sizes[j], tuple(model.cluster_centers_[j])))
    remap = np.empty(k, dtype=int)
    remap[order] = np.arange(k)
    return model.cluster_centers_[order], remap[model.labels_]


@single_threaded
def stability(
    X: np.ndarray,
    labels: np.ndarray,
    k: int,
    seed: int,
    n_init: int,
    resamples: int,
    fraction: float,
) -> list[float]:
    """Adjusted Rand index between the final labels and K-Means refitted on random subsamples.

    Each refit sees `fraction` of the rows (drawn without replacement) and labels every row
    by its nearest centroid.
    """
    rng = np.random.default_rng(seed)
    n = len(X)
    scores = []
    for i in range(resamples):
        idx = rng.choice(n, size=max(k + 1, int(fraction * n)), replace=False)
        model = _kmeans(k, seed + 1 + i, n_init).fit(X[idx])
        scores.append(float(adjusted_rand_score(labels, model.predict(X))))
    return scores


def _alt_row(algorithm: str, X: np.ndarray, labels: np.ndarray, km_labels, params: dict) -> dict:
    clustered = labels >= 0
    n_clusters = int(len(set(labels[clustered].tolist())))
    row = {
        "algorithm": algorithm,
        "n_clusters": n_clusters,
        "silhouette": None,
        "calinski_harabasz": None,
        "davies_bouldin": None,
        "noise_share": float(1 - clustered.mean()),
        "ari_vs_kmeans": float(adjusted_rand_score(km_labels[clustered], labels[clustered]))
        if clustered.any()
        else None,
        "params": params,
    }
    if 2 <= n_clusters < clustered.sum():
        row.update(_metrics(X[clustered], labels[clustered]))
    return row


#: an alternative algorithm's clustering: (algorithm, labels (-1: noise), its parameters)
Clustering = tuple[str, np.ndarray, dict]


@single_threaded
def alternative_clusterings(
    X: np.ndarray, k: int, k_range: range, seed: int, which: list[str]
) -> list[Clustering]:
    """The other algorithms fitted on X (the costly part of the comparison: it needs k but
    not K-Means' labels, so it can run while the final K-Means is fitted)."""
    found: list[Clustering] = []
    if "gaussian_mixture" in which:
        fits = []
        for n in k_range:
            gm = GaussianMixture(n, covariance_type="full", random_state=seed, n_init=1).fit(X)
            fits.append((gm.bic(X), n, gm))
        bic, n, gm = min(fits, key=lambda t: t[0])
        params = {"components_by_bic": int(n), "bic": float(bic), "covariance": "full"}
        found.append(("gaussian_mixture", gm.predict(X), params))
    if "dbscan" in which:
        min_samples = 2 * X.shape[1]
        dist, _ = NearestNeighbors(n_neighbors=min_samples).fit(X).kneighbors(X)
        eps = float(np.quantile(dist[:, -1], 0.90))
        labels = DBSCAN(eps=eps, min_samples=min_samples).fit_predict(X)
        params = {"eps": eps, "min_samples": min_samples, "eps_rule": "90th percentile k-distance"}
        found.append(("dbscan", labels, params))
    if "hdbscan" in which:
        labels = HDBSCAN(min_cluster_size=max(10, len(X) // 50)).fit_predict(X)
        found.append(("hdbscan", labels, {"min_cluster_size": len(X) // 50}))
    if "agglomerative" in which:
        labels = AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(X)
        found.append(("agglomerative", labels, {"linkage": "ward", "k": k}))
    return found


@single_threaded
def alternatives(
    X: np.ndarray,
    km_labels: np.ndarray,
    k: int,
    k_range: range,
    seed: int,
    which: list[str],
    found: list[Clustering] | None = None,
) -> list[dict]:
    """Other algorithms on the same matrix, for comparison (K-Means stays the model);
    `found`: their clusterings, when `alternative_clusterings` already ran."""
    if found is None:
        found = alternative_clusterings(X, k, k_range, seed, which)
    rows = [
        {
            "algorithm": "kmeans",
            "n_clusters": int(k),
            **_metrics(X, km_labels),
            "noise_share": 0.0,
            "ari_vs_kmeans": 1.0,
            "params": {"k": int(k)},
        }
    ]
    for algorithm, labels, params in found:
        rows.append(_alt_row(algorithm, X, labels, km_labels, params))
    return rows


@single_threaded
def pca_2d(
    X: np.ndarray, seed: int, rows: np.ndarray | None = None
) -> tuple[np.ndarray, list[float]]:
    """2-D PCA fitted on X: coordinates of `rows` (all rows by default) and the share of
    variance each axis explains."""
    pca = PCA(n_components=2, random_state=seed).fit(X)
    return pca.transform(X if rows is None else X[rows]), [
        float(v) for v in pca.explained_variance_ratio_
    ]


@single_threaded
def silhouettes(X: np.ndarray, labels: np.ndarray, D: np.ndarray | None = None) -> np.ndarray:
    """Each row's silhouette (from `D`, the rows' distances, when given)."""
    if len(set(labels.tolist())) < 2:
        return np.full(len(X), np.nan)
    return silhouette_values(D, labels) if D is not None else silhouette_samples(X, labels)


#: t-SNE is quadratic-ish and only feeds a picture: it runs on a random sample of this size.
TSNE_SAMPLE = 1000
#: The t-SNE map is drawn only when the PCA map shows less than this share of the variation.
#: Above it the linear map is a faithful picture of the distances K-Means works with, and
#: t-SNE (which stretches and shrinks distances) adds nothing a reader can use.
TSNE_BELOW_PCA_SHARE = 0.5


@single_threaded
def tsne_2d(
    X: np.ndarray, seed: int, pca_share: float, sample: int = TSNE_SAMPLE
) -> tuple[np.ndarray, str]:
    """2-D t-SNE coordinates for a random sample of rows (NaN for the others) and a note;
    all NaN when the PCA map (`pca_share` of the variation) already tells the story."""
    from sklearn.manifold import TSNE

    n = len(X)
    out = np.full((n, 2), np.nan)
    if pca_share >= TSNE_BELOW_PCA_SHARE:
        return out, (
            f"No t-SNE map: the PCA map already shows {pca_share:.0%} of the variation "
            f"(t-SNE is drawn only when it shows less than {TSNE_BELOW_PCA_SHARE:.0%})"
        )
    if n < 5:
        return out, "t-SNE skipped: fewer than 5 customers"
    idx = np.arange(n)
    if n > sample:
        idx = np.sort(np.random.default_rng(seed).choice(n, size=sample, replace=False))
    perplexity = float(min(30, (len(idx) - 1) / 3))
    emb = TSNE(
        n_components=2, perplexity=perplexity, init="pca", max_iter=500, random_state=seed
    ).fit_transform(X[idx])
    out[idx] = emb
    note = (
        f"t-SNE map drawn for a random sample of {len(idx):,} of {n:,} customers"
        if len(idx) < n
        else f"t-SNE map drawn for all {n:,} customers"
    )
    return out, note
