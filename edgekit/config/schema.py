"""edgekit.yaml as pydantic models. The keys are a contract (DESIGN.md): tests and users depend on them."""

from __future__ import annotations

import re
from enum import Enum
from typing import Annotated, Optional, Union

import pydantic
from pydantic import Field

from edgekit.config.tune import TuneConfig
from edgekit.config.validation import StrictModel


class DataSource(str, Enum):
    DIGITS = "digits"
    NPZ = "npz"
    IMAGES = "images"
    TFRECORD = "tfrecord"


# Sources read from disk as they are used (tf.data), never held in memory.
STREAMING_SOURCES = (DataSource.IMAGES, DataSource.TFRECORD)


class Task(str, Enum):
    """What the model predicts. `auto` decides from the labels: integer class ids of shape (N,) make a
    classification, float targets of shape (N,) or (N, k) a regression."""

    AUTO = "auto"
    CLASSIFICATION = "classification"
    REGRESSION = "regression"


# Sources whose labels are class ids by construction (digits' classes, one folder or record label per class).
CLASSIFICATION_SOURCES = (DataSource.DIGITS, DataSource.IMAGES, DataSource.TFRECORD)


class Builtin(str, Enum):
    SMALL_CNN = "small_cnn"
    MOBILENET_V2 = "mobilenet_v2"
    MLP = "mlp"


class UnsupportedLayers(str, Enum):
    """What QAT does with a layer tfmot's int8 scheme has no rule for."""

    FLOAT = "float"  # left float during QAT; the int8 converter calibrates it with the representative samples
    FAIL = "fail"  # refuse the build, naming the layers


class Precision(str, Enum):
    AUTO = "auto"
    FLOAT32 = "float32"
    MIXED_FLOAT16 = "mixed_float16"
    MIXED_BFLOAT16 = "mixed_bfloat16"


class PruneStructure(str, Enum):
    UNSTRUCTURED = "unstructured"
    TWO_FOUR = "2:4"


class ExportFormat(str, Enum):
    TFLITE = "tflite"
    ONNX = "onnx"


class Quantization(str, Enum):
    FLOAT32 = "float32"
    FLOAT16 = "float16"
    DYNAMIC = "dynamic"
    INT8 = "int8"


# What each format can be exported as. ONNX has no float16 or dynamic-range flavour here:
# tf2onnx emits float32 graphs, and int8 comes as QDQ (QuantizeLinear/DequantizeLinear).
SUPPORTED_QUANTIZATION = {
    ExportFormat.TFLITE: (Quantization.FLOAT32, Quantization.FLOAT16, Quantization.DYNAMIC, Quantization.INT8),
    ExportFormat.ONNX: (Quantization.FLOAT32, Quantization.INT8),
}


# Upper bounds of numbers read from edgekit.yaml. Each is far beyond any sensible value; past them a value is a
# typo (an extra zero, 1e32) that would otherwise fail deep in TensorFlow or run for ever.
MAX_IMAGE_SIDE = 8192  # a 8192×8192×3 float32 sample is 800 MB: no edge model takes more
MAX_EPOCHS = 100_000
MAX_BATCH_SIZE = 1 << 20
MAX_SAMPLES = 1_000_000  # representative samples are held in memory at once
MAX_RUNS = 10_000_000
MAX_SECONDS = 86_400.0  # a day: of timing per artifact, of waiting for a device
MAX_THREADS = 1024
ImageSide = Annotated[int, Field(ge=1, le=MAX_IMAGE_SIDE)]


class BadFiles(str, Enum):
    """What the images source does with a file it cannot decode."""

    SKIP = "skip"  # leave it out, counted and listed (the build fails past data.max_bad_fraction)
    FAIL = "fail"  # stop the build at the first one
class Int8Recovery(str, Enum):
    """When the build makes a mixed-precision `tflite-int8-mixed` variant (edgekit.export.recovery)."""

    AUTO = "auto"      # only when the full int8 TFLite artifact fails the accuracy gate
    OFF = "off"        # never: a failing int8 artifact just fails the gate
    ALWAYS = "always"  # every build, to see what a float op would buy


class DataConfig(StrictModel):
    source: DataSource = DataSource.DIGITS
    path: Optional[str] = None
    image_size: Optional[tuple[ImageSide, ImageSide]] = None
    val_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    # numpy's generators take seeds of 0 .. 2**32 - 1 here
    seed: int = Field(0, ge=0, lt=2**32)
    # images only: skip undecodable files (failing past max_bad_fraction of them), or fail at the first
    bad_files: BadFiles = BadFiles.SKIP
    max_bad_fraction: float = Field(0.01, ge=0.0, le=1.0)

    @pydantic.field_validator("image_size", mode="before")
    @classmethod
    def _square_from_int(cls, value):
        # `image_size: 32` is a common shorthand for 32×32; a list gives height and width.
        return (value, value) if isinstance(value, int) and not isinstance(value, bool) else value

    @pydantic.model_validator(mode="after")
    def _check(self):
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError(
                f"val_fraction ({self.val_fraction}) + test_fraction ({self.test_fraction}) leave nothing to train on"
            )
        if self.source is not DataSource.DIGITS and not self.path:
            raise ValueError(f"data.source '{self.source.value}' needs data.path")
        if self.source is DataSource.DIGITS and self.path:
            raise ValueError("data.source 'digits' is built in and takes no data.path")
        if self.source in STREAMING_SOURCES and self.image_size is None:
            raise ValueError(f"data.source '{self.source.value}' needs data.image_size (for example [96, 96])")
        if self.source not in STREAMING_SOURCES and self.image_size is not None:
            raise ValueError(f"data.image_size resizes images read from files; '{self.source.value}' data keeps "
                             f"its stored shape: remove data.image_size")
        return self


class ModelConfig(StrictModel):
    builtin: Optional[Builtin] = None
    width: float = Field(1.0, gt=0.0, le=4.0)
    file: Optional[str] = None
    factory: Optional[str] = None
    # model.file: allow a file whose loading runs Python code stored in it (Lambda layers in .h5, .keras or a
    # SavedModel). Off: such a file is refused before it is loaded. Only for files you made or trust.
    trust_code: bool = False

    @pydantic.model_validator(mode="after")
    def _one_source(self):
        given = [key for key in ("builtin", "file", "factory") if getattr(self, key) is not None]
        if len(given) > 1:
            raise ValueError(f"model takes one of builtin, file or factory; got {' and '.join(given)}")
        if not given:
            self.builtin = Builtin.SMALL_CNN
        if self.factory is not None and not re.fullmatch(r"[\w.]+:[\w.]+", self.factory):
            raise ValueError(f"model.factory must look like 'package.module:function', got '{self.factory}'")
        return self


class Distribute(str, Enum):
    AUTO = "auto"
    NONE = "none"
    MIRRORED = "mirrored"
    MULTI_WORKER = "multi_worker"


class TrainConfig(StrictModel):
    epochs: int = Field(10, ge=1, le=MAX_EPOCHS)
    batch_size: int = Field(64, ge=1, le=MAX_BATCH_SIZE)  # the global batch: split across replicas when distributed
    # above 10, every optimizer edgekit uses diverges at once
    learning_rate: float = Field(0.001, gt=0.0, le=10.0)
    precision: Precision = Precision.AUTO
    distribute: Distribute = Distribute.AUTO


class PruneConfig(StrictModel):
    enabled: bool = True
    target_sparsity: float = Field(0.5, gt=0.0, lt=1.0)
    epochs: int = Field(2, ge=1, le=MAX_EPOCHS)
    structure: PruneStructure = PruneStructure.UNSTRUCTURED
    exclude: list[str] = []

    @pydantic.field_validator("structure", mode="before")
    @classmethod
    def _yaml_sexagesimal(cls, value):
        # YAML 1.1 reads an unquoted 2:4 as the base-60 integer 124; say so instead of "not one of".
        if value == 124:
            raise ValueError("write the 2:4 structure in quotes (\"2:4\"): unquoted, YAML reads it as the number 124")
        return value

    @pydantic.model_validator(mode="after")
    def _check(self):
        if self.structure is PruneStructure.TWO_FOUR and abs(self.target_sparsity - 0.5) > 1e-9:
            raise ValueError(
                f"structure '2:4' zeroes exactly 2 of every 4 weights (sparsity 0.5); "
                f"target_sparsity is {self.target_sparsity}: set it to 0.5 or use structure 'unstructured'"
            )
        return self


class QatConfig(StrictModel):
    enabled: bool = True
    epochs: int = Field(2, ge=1, le=MAX_EPOCHS)
    # Layers left in float during QAT (the int8 converter still quantizes them post-training).
    exclude: list[str] = []
    # Layers tfmot has no rule for (custom layers, LayerNormalization, TFOpLambda ops...): float or fail.
    unsupported: UnsupportedLayers = UnsupportedLayers.FLOAT


class ExportConfig(StrictModel):
    formats: list[ExportFormat] = [ExportFormat.TFLITE, ExportFormat.ONNX]
    # A list applies to every format that supports the entry; a mapping chooses per format:
    # {tflite: [float32, int8], onnx: [float32]}.
    quantization: Union[list[Quantization], dict[ExportFormat, list[Quantization]]] = [
        Quantization.FLOAT32,
        Quantization.FLOAT16,
        Quantization.DYNAMIC,
        Quantization.INT8,
    ]
    representative_samples: int = Field(200, ge=1, le=MAX_SAMPLES)
    onnx_opset: int = Field(17, ge=13, le=21)
    int8_recovery: Int8Recovery = Int8Recovery.AUTO

    @pydantic.field_validator("int8_recovery", mode="before")
    @classmethod
    def _yaml_off(cls, value):
        # YAML 1.1 reads an unquoted `off` (and `no`, `false`) as the boolean false, which means "off" here.
        # `on`/`true` could mean auto or always, so it is refused rather than guessed.
        if value is False:
            return Int8Recovery.OFF
        if value is True:
            raise ValueError("export.int8_recovery is auto, off or always; YAML read `on`/`true`/`yes` as a boolean: "
                             "write auto or always")
        return value

    @pydantic.model_validator(mode="after")
    def _check(self):
        if len(set(self.formats)) != len(self.formats):
            raise ValueError("export.formats lists a format twice")
        if isinstance(self.quantization, dict):
            for fmt, wanted in self.quantization.items():
                if fmt not in self.formats:
                    raise ValueError(f"export.quantization names '{fmt.value}', which is not in export.formats")
                unsupported = [q.value for q in wanted if q not in SUPPORTED_QUANTIZATION[fmt]]
                if unsupported:
                    supported = ", ".join(q.value for q in SUPPORTED_QUANTIZATION[fmt])
                    raise ValueError(f"{fmt.value} cannot be exported as {', '.join(unsupported)} (supported: {supported})")
        return self

    def combinations(self) -> list[tuple[ExportFormat, Quantization]]:
        """Every (format, quantization) pair to export, in a stable order."""
        pairs = []
        for fmt in self.formats:
            if isinstance(self.quantization, dict):
                wanted = self.quantization.get(fmt, [])
            else:
                wanted = [q for q in self.quantization if q in SUPPORTED_QUANTIZATION[fmt]]
            pairs.extend((fmt, q) for q in Quantization if q in wanted)
        return pairs


class EvaluateConfig(StrictModel):
    # Classification: every compressed artifact's accuracy within this of the dense float model's ...
    max_accuracy_drop: float = Field(0.01, ge=0.0, le=1.0)
    # ... and its top-1 predictions the same as the dense float model's on at least this share of the test split.
    min_agreement: float = Field(0.9, ge=0.0, le=1.0)
    # Regression: every compressed artifact's MAE at most this much above the dense float model's, relative
    # (0.1: 10 % higher).
    max_metric_increase: float = Field(0.1, ge=0.0)


class ProfileConfig(StrictModel):
    runs: int = Field(100, ge=1, le=MAX_RUNS)
    warmup: int = Field(10, ge=0, le=MAX_RUNS)
    min_seconds: float = Field(1.0, ge=0.0, le=MAX_SECONDS)
    threads: Optional[Annotated[int, Field(gt=0, le=MAX_THREADS)]] = None
    # per-op times: .onnx by onnxruntime's profiler; .tflite where the target has a benchmark_model
    op_profile: bool = True


class EdgekitConfig(StrictModel):
    name: str = "model"
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    prune: PruneConfig = PruneConfig()
    qat: QatConfig = QatConfig()
    export: ExportConfig = ExportConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    profile: ProfileConfig = ProfileConfig()
    task: Task = Task.AUTO
    tune: TuneConfig = TuneConfig()

    @pydantic.field_validator("name")
    @classmethod
    def _file_name_safe(cls, value: str) -> str:
        # The name becomes part of every artifact's file name.
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", value):
            raise ValueError(
                f"name must be 1-64 letters, digits, '.', '_' or '-' (it names the artifact files), got {value!r}"
            )
        return value

    @pydantic.model_validator(mode="after")
    def _task_fits_the_source(self):
        if self.task is Task.REGRESSION and self.data.source in CLASSIFICATION_SOURCES:
            raise ValueError(f"task 'regression' needs float targets; data.source '{self.data.source.value}' "
                             f"gives class labels: use data.source npz with float targets y of shape (N,) or (N, k)")
        return self
