"""`edgekit --help`, `targets`, `inspect` and `regress` must not pay for importing TensorFlow."""

import subprocess
import sys

import pytest

PROBE = """
import sys
from click.testing import CliRunner
from edgekit.cli import main
result = CliRunner().invoke(main, {args!r})
heavy = sorted(name for name in ("tensorflow", "tf_keras", "tensorflow_model_optimization") if name in sys.modules)
print(result.exit_code, ",".join(heavy) or "-")
"""


@pytest.mark.parametrize("args", [["--help"], ["targets"], ["targets", "show", "host"], ["build", "--help"]])
def test_light_commands_do_not_import_tensorflow(args):
    output = subprocess.run([sys.executable, "-c", PROBE.format(args=args)], capture_output=True, text=True,
                            check=True).stdout.split()
    assert output == ["0", "-"]


def test_tensorflow_is_imported_with_legacy_keras():
    completed = subprocess.run([sys.executable, "-c", (
        "import os\n"
        "from edgekit._tf import keras, tf\n"
        "name = keras().__name__\n"
        "print(os.environ['TF_USE_LEGACY_KERAS'], name, tf().keras.__name__.split('.')[0])")],
        capture_output=True, text=True, check=True)
    assert completed.stdout.split() == ["1", "tf_keras", "tf_keras"]
