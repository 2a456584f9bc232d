"""edgekit: train, compress, export, check and profile Keras models for phones and boards.

The Python API (docs/python-api.md), re-exported from edgekit.api and edgekit.manifest:

    import edgekit
    manifest = edgekit.build("edgekit.yaml", target="rpi4", device="pi@raspberrypi.local")

Importing edgekit imports no TensorFlow: each function imports what it needs when it is called.
"""

__version__ = "0.1.0"

# After __version__: the modules below read it while this package is still being imported.
# edgekit.inspect (the subpackage) is imported first: importing a subpackage binds its name on this package, so
# binding the function `inspect` after it keeps `edgekit.inspect(...)` the function (the subpackage stays
# importable by its dotted name: `from edgekit.inspect import inspect_model`).
import edgekit.inspect  # noqa: E402,F401
from edgekit.api import build, inspect, profile, regress  # noqa: E402
from edgekit.manifest import Manifest, load_manifest  # noqa: E402

__all__ = ["__version__", "Manifest", "build", "inspect", "load_manifest", "profile", "regress"]
