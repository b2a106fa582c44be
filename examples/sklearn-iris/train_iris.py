"""Train an SVM on Iris — the Azure ML "train scikit-learn models at scale" how-to's train_iris.py.

Runs the same locally (`python train_iris.py --kernel linear --penalty 1.0`) and on a cluster
(`trainyard submit . --script train_iris.py ... -- --kernel linear --penalty 1.0`)."""

import argparse
import os

import joblib
import numpy as np
from sklearn import datasets
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC

from trainyard import Run

run = Run.get_context()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kernel", type=str, default="linear", help="Kernel type to be used in the algorithm")
    parser.add_argument("--penalty", type=float, default=1.0, help="Penalty parameter of the error term")
    args = parser.parse_args()
    run.log("Kernel type", args.kernel)
    run.log("Penalty", float(args.penalty))

    # The iris dataset ships with scikit-learn: nothing to stage.
    iris = datasets.load_iris()
    X, y = iris.data, iris.target
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

    svm_model_linear = SVC(kernel=args.kernel, C=args.penalty).fit(X_train, y_train)
    svm_predictions = svm_model_linear.predict(X_test)

    accuracy = svm_model_linear.score(X_test, y_test)
    print(f"Accuracy of SVM classifier on test set: {accuracy:.2f}")
    run.log("Accuracy", float(accuracy))
    cm = confusion_matrix(y_test, svm_predictions)
    print(cm)
    run.log("Confusion matrix diagonal", float(np.trace(cm)))

    os.makedirs("outputs", exist_ok=True)
    # files saved in the "outputs" folder are automatically uploaded into the run's record
    joblib.dump(svm_model_linear, "outputs/model.joblib")


if __name__ == "__main__":
    main()
