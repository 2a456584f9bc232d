"""edgekit: train, compress, export, check and profile Keras models for phones and boards.

The Python API (docs/python-api.md), re-exported from edgekit.api and edgekit.manifest:

    import edgekit
    manifest = edgekit.build("edgekit.yaml", target="rpi4", device="pi@raspberrypi.local")

Importing edgekit imports no TensorFlow: each function imports what it needs when it is called.
"""

from edgekit.base.version import __version__

# After __version__: the modules below read it while this package is still being imported.
# The subpackages edgekit.inspect, edgekit.regress and edgekit.tune share their names with three functions. Importing a
# subpackage binds its name on this package (once, when it is first imported), so they are imported first and the
# functions bound after them: `edgekit.inspect(...)`, `edgekit.regress(...)` and `edgekit.tune(...)` stay the functions, and the
# subpackages stay importable by their dotted names (`from edgekit.regress import load_latency_set`). edgekit.tune
# is the same case. All three are light (no TensorFlow).
import edgekit.inspect  # noqa: E402,F401
import edgekit.regress  # noqa: E402,F401
import edgekit.tune  # noqa: E402,F401
from edgekit.api import build, inspect, profile, regress  # noqa: E402
from edgekit.manifest import Manifest, load_manifest  # noqa: E402
from edgekit.tune import tune  # noqa: E402

__all__ = ["__version__", "Manifest", "build", "inspect", "load_manifest", "profile", "regress", "tune"]
