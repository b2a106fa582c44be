"""The MNIST tutorial's code as a plain Python program (no notebook): the cells of
img-classification-part1-training.ipynb pasted in order, with `azureml` replaced by `trainyard` in
the imports. Where a cell used a notebook magic, the plain equivalent is marked `# magic:`
(`%matplotlib inline` -> a non-interactive backend; `%%writefile` -> writing the file; `%%time` ->
timing by hand; a cell's last expression -> print). Run it from this folder:

    python img_classification_part1_training.py
"""
# magic: %matplotlib inline
import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

import trainyard  # noqa: E402
from trainyard.core import Workspace, Run  # noqa: E402,F401

# check core SDK version number
print("Azure ML SDK Version: ", trainyard.core.VERSION)

# load workspace configuration from the config.json file in the current folder.
ws = Workspace.from_config()
print(ws.name, ws.location, ws.resource_group, ws.location, sep="\t")

experiment_name = "sklearn-mnist"

from trainyard.core import Experiment  # noqa: E402

exp = Experiment(workspace=ws, name=experiment_name)

from trainyard.core.compute import ComputeTarget, BatchAiCompute  # noqa: E402
from trainyard.core.compute_target import ComputeTargetException  # noqa: E402

# choose a name for your cluster
batchai_cluster_name = "traincluster"

try:
    # look for the existing cluster by name
    compute_target = ComputeTarget(workspace=ws, name=batchai_cluster_name)
    if compute_target is BatchAiCompute:
        print("found compute target {}, just use it.".format(batchai_cluster_name))
    else:
        print(
            "{} exists but it is not a Batch AI cluster. Please choose a different name.".format(batchai_cluster_name)
        )
except ComputeTargetException:
    print("creating a new compute target...")
    compute_config = BatchAiCompute.provisioning_configuration(
        vm_size="STANDARD_D2_V2",  # small CPU-based VM
        # vm_priority='lowpriority', # optional
        autoscale_enabled=True,
        cluster_min_nodes=0,
        cluster_max_nodes=4,
    )

    # create the cluster
    compute_target = ComputeTarget.create(ws, batchai_cluster_name, compute_config)

    # can poll for a minimum number of nodes and for a specific timeout.
    # if no min node count is provided it uses the scale settings for the cluster
    compute_target.wait_for_completion(show_output=True, min_node_count=None, timeout_in_minutes=20)

    # Use the 'status' property to get a detailed status for the current cluster.
    print(compute_target.status.serialize())

import os  # noqa: E402

# trainyard: yann.lecun.com no longer serves MNIST; download_mnist fetches it from a public mirror
# (checksums verified), else uses the offline copy, else scikit-learn's digits (with a warning).
from utils import download_mnist  # noqa: E402

os.makedirs("./data", exist_ok=True)

print(download_mnist("./data"))

# make sure utils.py is in the same directory as this code
from utils import load_data  # noqa: E402

# note we also shrink the intensity values (X) from 0-255 to 0-1. This helps the model converge faster.
X_train = load_data("./data/train-images.gz", False) / 255.0
y_train = load_data("./data/train-labels.gz", True).reshape(-1)

X_test = load_data("./data/test-images.gz", False) / 255.0
y_test = load_data("./data/test-labels.gz", True).reshape(-1)

# now let's show some randomly chosen images from the traininng set.
count = 0
sample_size = 30
plt.figure(figsize=(16, 6))
for i in np.random.permutation(X_train.shape[0])[:sample_size]:
    count = count + 1
    plt.subplot(1, sample_size, count)
    plt.axhline("")
    plt.axvline("")
    plt.text(x=10, y=-10, s=y_train[i], fontsize=18)
    plt.imshow(X_train[i].reshape(28, 28), cmap=plt.cm.Greys)
plt.savefig("sample-images.png")  # magic: plt.show() draws nothing without a display

ds = ws.get_default_datastore()
print(ds.datastore_type, ds.account_name, ds.container_name)

ds.upload(src_dir="./data", target_path="mnist", overwrite=True, show_progress=True)

# magic: %%time
import time  # noqa: E402

_started = time.perf_counter()
from sklearn.linear_model import LogisticRegression  # noqa: E402

clf = LogisticRegression()
clf.fit(X_train, y_train)
print(f"Wall time: {time.perf_counter() - _started:.1f} s")

y_hat = clf.predict(X_test)
print(np.average(y_hat == y_test))

script_folder = "./sklearn-mnist"
os.makedirs(script_folder, exist_ok=True)

# magic: %%writefile $script_folder/train.py
with open(os.path.join(script_folder, "train.py"), "w") as f:
    f.write('''
import argparse
import os
import numpy as np

from sklearn.linear_model import LogisticRegression
import joblib  # trainyard: `from sklearn.externals import joblib` is gone from scikit-learn

from trainyard.core import Run
from utils import load_data

# let user feed in 2 parameters, the location of the data files (from datastore), and the regularization rate of the logistic regression model
parser = argparse.ArgumentParser()
parser.add_argument('--data-folder', type=str, dest='data_folder', help='data folder mounting point')
parser.add_argument('--regularization', type=float, dest='reg', default=0.01, help='regularization rate')
args = parser.parse_args()

data_folder = os.path.join(args.data_folder, 'mnist')
print('Data folder:', data_folder)

# load train and test set into numpy arrays
# note we scale the pixel intensity values to 0-1 (by dividing it with 255.0) so the model can converge faster.
X_train = load_data(os.path.join(data_folder, 'train-images.gz'), False) / 255.0
X_test = load_data(os.path.join(data_folder, 'test-images.gz'), False) / 255.0
y_train = load_data(os.path.join(data_folder, 'train-labels.gz'), True).reshape(-1)
y_test = load_data(os.path.join(data_folder, 'test-labels.gz'), True).reshape(-1)
print(X_train.shape, y_train.shape, X_test.shape, y_test.shape, sep = '\\n')

# get hold of the current run
run = Run.get_submitted_run()

print('Train a logistic regression model with regularizaion rate of', args.reg)
clf = LogisticRegression(C=1.0/args.reg, random_state=42)
clf.fit(X_train, y_train)

print('Predict the test set')
y_hat = clf.predict(X_test)

# calculate accuracy on the prediction
acc = np.average(y_hat == y_test)
print('Accuracy is', acc)

run.log('regularization rate', float(args.reg))  # trainyard: np.float is gone from NumPy
run.log('accuracy', float(acc))

os.makedirs('outputs', exist_ok=True)
# note file saved in the outputs folder is automatically uploaded into experiment record
joblib.dump(value=clf, filename='outputs/sklearn_mnist_model.pkl')
''')

import shutil  # noqa: E402

shutil.copy("utils.py", script_folder)

from trainyard.train.estimator import Estimator  # noqa: E402

script_params = {"--data-folder": ds.as_mount(), "--regularization": 0.8}

est = Estimator(
    source_directory=script_folder,
    script_params=script_params,
    compute_target=compute_target,
    entry_script="train.py",
    conda_packages=["scikit-learn"],
)

run = exp.submit(config=est)
print(run)  # magic: a cell's last expression is displayed

from trainyard.train.widgets import RunDetails  # noqa: E402

RunDetails(run).show()  # outside Jupyter: a text summary

run.wait_for_completion(show_output=False)  # specify True for a verbose log

print(run.get_metrics())

print(run.get_file_names())

# register model
model = run.register_model(model_name="sklearn_mnist", model_path="outputs/sklearn_mnist_model.pkl")
print(model.name, model.id, model.version, sep="\t")

# optionally, delete the Azure Managed Compute cluster
compute_target.delete()
