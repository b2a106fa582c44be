"""Train a logistic-regression digit classifier on MNIST — the Azure ML tutorial's train.py.

Runs the same locally (`python train.py --data-folder ./data`) and on a cluster
(`trainyard submit . --script train.py ... -- --data-folder '$(TRAINYARD_INPUT_MNIST)'`)."""

import argparse
import os

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression
from utils import load_data

from trainyard import Run


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-folder", type=str, dest="data_folder", help="data folder mounting point")
    parser.add_argument("--regularization", type=float, dest="reg", default=0.5, help="regularization rate")
    args = parser.parse_args()

    data_folder = args.data_folder
    print("Data folder:", data_folder)
    X_train, X_test, y_train, y_test = load_data(data_folder)
    print(X_train.shape, y_train.shape, X_test.shape, y_test.shape, sep="\n")

    # get hold of the current run
    run = Run.get_context()

    print("Train a logistic regression model with regularization rate of", args.reg)
    # liblinear (the 2019 tutorial's solver) no longer does multiclass in scikit-learn >= 1.8;
    # lbfgs fits the multinomial model.
    clf = LogisticRegression(C=1.0 / args.reg, max_iter=100, random_state=42)
    clf.fit(X_train, y_train)

    print("Predict the test set")
    y_hat = clf.predict(X_test)

    # calculate accuracy on the prediction
    acc = np.average(y_hat == y_test)
    print("Accuracy is", acc)

    run.log("regularization rate", float(args.reg))
    run.log("accuracy", float(acc))

    os.makedirs("outputs", exist_ok=True)
    # note file saved in the outputs folder is automatically uploaded into experiment record
    joblib.dump(value=clf, filename="outputs/sklearn_mnist_model.pkl")


if __name__ == "__main__":
    main()
