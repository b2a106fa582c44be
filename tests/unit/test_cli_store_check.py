"""The refusal `trainyard submit` gives for a store the operator does not read, as data."""

from trainyard.cli import store_check

MINIO = {
    "endpoint": "http://trainyard-minio.trainyard.svc:9000",
    "bucket": "trainyard",
    "storeId": "0123456789abcdef",
    "namespace": "trainyard",
    "credentialsSecret": "trainyard-store",
    "service": "trainyard-minio",
    "port": "9000",
}


def test_the_operators_store_passes():
    assert store_check.mismatch("http://127.0.0.1:9000", "trainyard", "0123456789abcdef", MINIO) is None


def test_another_store_is_refused_saying_which_store_and_how_to_reach_it():
    line = store_check.mismatch("http://127.0.0.1:41234", "trainyard", None, MINIO)
    assert line == (
        "the object store at http://127.0.0.1:41234 (bucket trainyard) is not the one the operator reads, "
        "http://trainyard-minio.trainyard.svc:9000 (bucket trainyard, published in ConfigMap "
        "kube-public/trainyard-store): the run would not find its snapshot; reach it with "
        "`kubectl -n trainyard port-forward svc/trainyard-minio 9000:9000` and "
        "TRAINYARD_S3_ENDPOINT=http://127.0.0.1:9000, TRAINYARD_S3_BUCKET=trainyard, "
        "the accessKey/secretKey of Secret trainyard/trainyard-store"
    )
    assert store_check.mismatch("http://x:9000", "trainyard", "ffffffffffffffff", MINIO)  # another chart's store
    assert store_check.mismatch("http://x:9000", "other", "0123456789abcdef", MINIO)  # the right store, wrong bucket


def test_an_external_store_is_named_by_its_endpoint():
    external = {k: v for k, v in MINIO.items() if k not in ("service", "port")}
    external.update(endpoint="https://s3.eu-west-1.amazonaws.com", credentialsSecret="my-s3")
    assert store_check.how_to_reach(external) == (
        "set TRAINYARD_S3_ENDPOINT=https://s3.eu-west-1.amazonaws.com, TRAINYARD_S3_BUCKET=trainyard and "
        "the accessKey/secretKey of Secret trainyard/my-s3"
    )
