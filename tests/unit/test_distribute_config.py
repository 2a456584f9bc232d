"""TF_CONFIG is checked before a multi-worker build starts, with a message saying what to set."""

import json

import pytest

from edgekit.errors import ConfigError
from edgekit.pipeline.distribute import read_tf_config

CLUSTER = {"worker": ["localhost:1", "localhost:2"]}


def test_valid_tf_config():
    config = read_tf_config({"TF_CONFIG": json.dumps({"cluster": CLUSTER, "task": {"type": "worker", "index": 1}})})
    assert config["task"]["index"] == 1


@pytest.mark.parametrize("value, message", [
    (None, r"train.distribute is multi_worker but TF_CONFIG is not set; set it on every worker, e.g. TF_CONFIG="),
    ("{not json", r"TF_CONFIG is not valid JSON"),
    (json.dumps({"cluster": CLUSTER}), r'TF_CONFIG needs a "cluster" and a "task" object'),
    (json.dumps({"cluster": CLUSTER, "task": {"type": "worker", "index": 2}}),
     r"TF_CONFIG: task 'worker' index 2 is not in the cluster \(worker: 2\)"),
    (json.dumps({"cluster": CLUSTER, "task": {"type": "ps", "index": 0}}), r"task 'ps' index 0 is not in the cluster"),
])
def test_bad_tf_config_is_explained(value, message):
    environ = {} if value is None else {"TF_CONFIG": value}
    with pytest.raises(ConfigError, match=message):
        read_tf_config(environ)
