"""
sknorm estimators in a Pipeline and a grid search
=================================================

Chooses between ZScore and MinMax (and their parameters) and the
regularization of a logistic regression by cross-validation on the wine
data set, which ships with scikit-learn: sknorm's estimators are ordinary
scikit-learn transformers, so ``GridSearchCV`` can search over them as
over any step.

Run: ``python examples/pipeline_classification.py``
"""

# %%
# A grid over the normalization step
# ----------------------------------
from sklearn.datasets import load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline

from sknorm import MinMax, ZScore

X, y = load_wine(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)
pipe = Pipeline(
    [("normalize", ZScore()), ("classify", LogisticRegression(max_iter=2000))]
)
grid = GridSearchCV(
    pipe,
    {
        "normalize": [ZScore(), MinMax(), MinMax(feature_range=(-1, 1))],
        "classify__C": [0.1, 1.0, 10.0],
    },
    cv=5,
)
grid.fit(X_train, y_train)
print("best normalization:", grid.best_params_["normalize"])
print("best C:", grid.best_params_["classify__C"])
print(f"cross-validated accuracy: {grid.best_score_:.3f}")
print(f"held-out accuracy:        {grid.score(X_test, y_test):.3f}")

# %%
# Feature names flow through
# --------------------------
# ``set_output(transform="pandas")`` returns a DataFrame with the input's
# column names.
scaler = ZScore().set_output(transform="pandas").fit(X_train)
print("first output columns:", list(scaler.transform(X_test).columns[:3]))
